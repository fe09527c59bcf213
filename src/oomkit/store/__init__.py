"""The flight recorder's SQLite database: schema and migrations, the writer, the queries.

``schema`` opens connections and migrates; ``writer`` is the daemon's single
writer (batched transactions, kills in their own); ``maintenance`` downsamples
and enforces retention and the size cap; ``queries`` is the one read layer that
`why`, `timeline` (and later the web UI and metrics) use. Nothing is imported here,
so ``import oomkit.store.queries`` stays light.
"""

"""`oomkit web`: the HTTP API, the web pages and the Prometheus ``/metrics`` endpoint.

A process of its own beside `oomkit daemon`, reading the daemon's database
read-only (docs/web.md says why). ``settings`` and ``auth`` are standard library
only, so the configuration file can be checked without the ``web`` extra;
``app`` (FastAPI), ``metrics`` (prometheus_client) and ``pages`` (Jinja2) need it.
"""

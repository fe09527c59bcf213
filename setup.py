"""The one thing pyproject.toml cannot declare: the optional C modules.

oomkit._procscan does the per-PID /proc reads of `oomkit top` in C on every CPU
(src/oomkit/_procscan.c); oomkit._linecount counts a log's newlines for `oomkit
why` without the GIL (src/oomkit/_linecount.c); oomkit._journalexport turns
journalctl's export output into JSON lines (src/oomkit/_journalexport.c).
``optional=True``: where no C compiler or Python headers exist the build skips
them with a warning and the same work runs in Python (procscan.py,
kernel_log/scan.py, journal_export.py).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "oomkit._procscan",
            ["src/oomkit/_procscan.c"],
            extra_compile_args=["-O2", "-Wall", "-Wextra"],
            extra_link_args=["-pthread"],
            optional=True,
        ),
        Extension(
            "oomkit._journalexport",
            ["src/oomkit/_journalexport.c"],
            extra_compile_args=["-O2", "-Wall", "-Wextra"],
            optional=True,
        ),
        Extension(
            "oomkit._linecount",
            ["src/oomkit/_linecount.c"],
            # -O3: the byte loop is only vectorized at -O3 (or with -ftree-vectorize)
            extra_compile_args=["-O3", "-Wall", "-Wextra"],
            optional=True,
        ),
    ]
)

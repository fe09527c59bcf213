"""The one thing pyproject.toml cannot declare: the optional C module.

oomkit._procscan does the per-PID /proc reads of `oomkit top` in C on every CPU
(src/oomkit/_procscan.c). ``optional=True``: where no C compiler or Python
headers exist the build skips it with a warning and procscan.py reads in Python.
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
        )
    ]
)

"""``[programs.NAME]``: supervised programs in the TOML config (docs/supervise.md "Configuration").

Keys and defaults follow Supervisor's ``[program:x]`` where it has one, so that
``oomkit import-supervisor`` is a rename; the memory keys are oomkit's own::

    [programs.web]
    command = ["gunicorn", "app:app"]  # a list, or a string split like a shell would (no shell runs)
    directory = "/srv/web"
    user = "www-data"
    environment = { PORT = "8000" }
    autorestart = "unexpected"          # false | "unexpected" | true | "on-oom"
    exitcodes = [0]
    memory_max = "512M"
    backoff = "1s..5m"

Every error is one line naming the key (``programs.web.memory_max: ...``); ``config.py``
adds the file name.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from oomkit.errors import ConfigError
from oomkit.models import BackoffPolicy, ProgramSpec, RestartPolicy
from oomkit.supervise.backoff import parse_backoff
from oomkit.supervise.units import parse_duration, parse_signal, parse_size

__all__ = ["KEYS", "parse_program", "parse_programs", "restart_policy"]

NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")

KEYS = (
    "command", "directory", "user", "environment", "umask", "autostart", "autorestart", "exitcodes",
    "startsecs", "startretries", "stopsignal", "stopwaitsecs", "stopasgroup", "killasgroup",
    "memory_max", "memory_high", "swap_max", "oom_score_adj", "backoff", "oom_backoff",
    "oom_max_in_row", "max_restarts", "log_file", "log_maxbytes", "log_backups", "killer_logs",
)

_RESTART = {
    "false": RestartPolicy.NEVER, "no": RestartPolicy.NEVER, "never": RestartPolicy.NEVER,
    "unexpected": RestartPolicy.UNEXPECTED, "on-failure": RestartPolicy.UNEXPECTED,
    "true": RestartPolicy.ALWAYS, "always": RestartPolicy.ALWAYS,
    "on-oom": RestartPolicy.ON_OOM,
}


def restart_policy(value: object) -> RestartPolicy:
    """Supervisor's false/unexpected/true (bools too) and `oomkit run`'s no/on-failure/on-oom/always."""
    if isinstance(value, bool):
        return RestartPolicy.ALWAYS if value else RestartPolicy.NEVER
    if isinstance(value, str) and value.strip().lower() in _RESTART:
        return _RESTART[value.strip().lower()]
    raise ValueError(f"{value!r} is not one of false, \"unexpected\", true, \"on-oom\"")


def _bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    raise ValueError("must be true or false")


def _int(v: Any, lo: int | None = None, hi: int | None = None) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise ValueError("must be an integer")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        bound = f"from {lo} to {hi}" if hi is not None else f"at least {lo}"
        raise ValueError(f"must be {bound}")
    return v


def _str(v: Any) -> str:
    if not isinstance(v, str) or not v:
        raise ValueError("must be a non-empty string")
    return v


def _command(v: Any) -> tuple[str, ...]:
    if isinstance(v, str):
        try:
            parts = shlex.split(v)
        except ValueError as exc:
            raise ValueError(f"cannot split {v!r}: {exc}") from None
    elif isinstance(v, list) and all(isinstance(x, str) for x in v):
        parts = list(v)
    else:
        raise ValueError("must be a list of strings or a string")
    if not parts:
        raise ValueError("is empty")
    return tuple(parts)


def _environment(v: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(v, dict):
        raise ValueError("must be a table like { PORT = \"8000\" }")
    out = []
    for k, val in v.items():
        if not isinstance(val, (str, int, float)) or isinstance(val, bool):
            raise ValueError(f"{k}: must be a string")
        out.append((str(k), str(val)))
    return tuple(out)


def _umask(v: Any) -> int:
    if isinstance(v, str) and re.fullmatch(r"0?[0-7]{1,3}", v):
        return int(v, 8)
    if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 0o777:
        return v
    raise ValueError("must be an octal string like \"022\"")


def _exitcodes(v: Any) -> tuple[int, ...]:
    items = v if isinstance(v, list) else [v]
    if isinstance(v, str):
        items = [x.strip() for x in v.split(",") if x.strip()]
    out = []
    for x in items:
        if isinstance(x, str) and x.isdecimal():
            x = int(x)
        out.append(_int(x, 0, 255))
    return tuple(out)


def _backoff(v: Any, base: BackoffPolicy) -> BackoffPolicy:
    if isinstance(v, str):
        return parse_backoff(v, base)
    if not isinstance(v, dict):
        raise ValueError("must be \"1s..5m\" or a table { initial, max, factor, jitter, reset_after }")
    allowed = {"initial", "max", "factor", "jitter", "reset_after"}
    for k in v:
        if k not in allowed:
            raise ValueError(f"unknown key {k!r}; use {', '.join(sorted(allowed))}")
    p = base
    if "initial" in v:
        p = p._replace(initial_s=parse_duration(v["initial"]))
    if "max" in v:
        p = p._replace(maximum_s=parse_duration(v["max"]))
    if "factor" in v:
        f = v["factor"]
        if not isinstance(f, (int, float)) or isinstance(f, bool) or f < 1:
            raise ValueError("factor must be a number >= 1")
        p = p._replace(factor=float(f))
    if "jitter" in v:
        j = v["jitter"]
        if not isinstance(j, (int, float)) or isinstance(j, bool) or not 0 <= j <= 1:
            raise ValueError("jitter must be a fraction from 0 to 1")
        p = p._replace(jitter=float(j))
    if "reset_after" in v:
        p = p._replace(reset_after_s=parse_duration(v["reset_after"]))
    if p.maximum_s < p.initial_s:
        raise ValueError("max is below initial")
    return p


def _bound(v: Any) -> int | None:
    """A positive bound, or false / 0 for none."""
    if v is False or v == 0:
        return None
    return _int(v, 1)


def parse_program(name: str, table: Any, where: str) -> ProgramSpec:
    """One ``[programs.NAME]`` table; ConfigError names ``where.key``."""
    if not NAME.match(name) or name == "all":
        raise ConfigError(f"{where}: program names use letters, digits, '_.@-' (not 'all')")
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table")
    for key in table:
        if key not in KEYS:
            raise ConfigError(f"{where}.{key}: unknown key; known: {', '.join(KEYS)}")
    if "command" not in table:
        raise ConfigError(f"{where}: command is required, e.g. command = [\"/usr/bin/myjob\", \"--flag\"]")
    spec = ProgramSpec(name=name, command=("true",))
    changes: dict[str, Any] = {}
    key = "command"
    try:
        for key, v in table.items():
            if key == "command":
                changes["command"] = _command(v)
            elif key in ("directory", "user", "log_file"):
                changes[key] = _str(v)
            elif key == "environment":
                changes[key] = _environment(v)
            elif key == "umask":
                changes[key] = _umask(v)
            elif key in ("autostart", "stopasgroup", "killasgroup"):
                changes[key] = _bool(v)
            elif key == "autorestart":
                changes[key] = restart_policy(v)
            elif key == "exitcodes":
                changes[key] = _exitcodes(v)
            elif key in ("startsecs", "stopwaitsecs"):
                changes[key] = parse_duration(v)
            elif key in ("startretries", "log_backups"):
                changes[key] = _int(v, 0)
            elif key == "stopsignal":
                changes[key] = parse_signal(v)
            elif key in ("memory_max", "memory_high", "swap_max", "log_maxbytes"):
                changes[key] = parse_size(v)
            elif key == "oom_score_adj":
                changes[key] = _int(v, -1000, 1000)
            elif key == "backoff":
                changes[key] = _backoff(v, spec.backoff)
            elif key == "oom_backoff":
                changes[key] = _backoff(v, changes.get("backoff", spec.backoff))
            elif key in ("oom_max_in_row", "max_restarts"):
                changes[key] = _bound(v)
            elif key == "killer_logs":
                if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                    raise ValueError("must be a list of file paths")
                changes[key] = tuple(v)
    except ValueError as exc:
        raise ConfigError(f"{where}.{key}: {exc}") from None
    return spec._replace(**changes)


def parse_programs(section: Any, where: str, path: str) -> tuple[ProgramSpec, ...]:
    """The ``[programs]`` section: one ProgramSpec per ``[programs.NAME]``, in file order."""
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: use [programs.NAME] tables")
    return tuple(parse_program(name, table, f"{where}.{name}") for name, table in section.items())

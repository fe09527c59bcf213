"""The daemon's configuration: the ``[daemon]`` tables of /etc/oomkit/oomkit.toml. Pure parsing.

The same file holds the ``[protect]`` rules (parsed by ``oomkit.config``); the
daemon applies them to new processes. Every key, its default and its meaning
is in docs/daemon.md; ``SAMPLE`` below is the annotated sample. Errors are one
line naming the file and the key.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any, NamedTuple

from oomkit.errors import ConfigError
from oomkit.store.maintenance import Retention

if TYPE_CHECKING:
    from oomkit import rules
    from oomkit.procfs import StrPath

# The TOML parser, oomkit.config and the rule engine are imported only when a file is
# read: a daemon running on the defaults never loads them (the daemon counts its memory).
DEFAULT_CONFIG = "/etc/oomkit/oomkit.toml"  # = oomkit.config.DEFAULT_PATH
DEFAULT_DB = "/var/lib/oomkit/oomkit.db"


class Tiers(NamedTuple):
    """How often what is read (seconds)."""

    interval: float = 1.0  # system, limited cgroups, fast-tier processes
    interval_short: float = 0.5  # the same when memory is short (a forecast or the floor fires)
    full_scan_interval: float = 60.0  # every process
    full_scan_interval_short: float = 10.0
    cgroup_scan_interval: float = 30.0  # look for new memory cgroups with a limit
    fast_processes: int = 15  # largest + growers + likely victims on the fast tier
    probation: float = 30.0  # a new process stays on the fast tier this long
    near_limit_pct: float = 50.0  # every process of a cgroup this full is on the fast tier


class Storage(NamedTuple):
    """What is written and how long it is kept."""

    min_change_kb: int = 512  # a process row is written when anon/swap/file moved this much...
    min_change_pct: float = 2.0  # ...and this much relative to before,
    heartbeat: float = 600.0  # or this long after its last row
    min_age: float = 2.0  # a new process gets rows once it has lived this long
    retention: Retention = Retention()
    maintenance_interval: float = 300.0


class Warnings(NamedTuple):
    """When to warn and where to."""

    forecast_seconds: float = 300.0  # warn when memory runs out within this
    min_available_pct: float = 5.0  # or MemAvailable + SwapFree under this % of RAM + swap
    min_available_mb: float = 0.0  # (the floor is the larger of the two)
    window: float = 60.0  # seconds of history a forecast uses
    confirm: int = 2  # evaluations in a row before warning / recovering
    repeat_after: float = 600.0  # repeat a warning while it lasts
    max_per_hour: int = 20  # deliveries per hour (all subjects); the rest are only recorded
    cgroups: bool = True  # forecast every memory cgroup with a limit
    hook: tuple[str, ...] = ()  # argv run on each warning (no shell); {message} etc. substituted
    hook_timeout: float = 10.0
    webhook: str | None = None  # URL: JSON POST of each warning
    webhook_timeout: float = 5.0
    notify_send: bool = True  # desktop notification when notify-send and a session bus exist


class Settings(NamedTuple):
    """Everything the daemon reads from the configuration file."""

    path: str | None = None
    db: str = DEFAULT_DB  # paths are str: the daemon does not import pathlib
    kmsg: str = "/dev/kmsg"
    kmsg_backlog: bool = True  # store kills already in the ring buffer at start (not yet stored)
    ctl_socket: str | None = None  # supervised programs' control socket (default /run/oomkit/ctl.sock)
    self_oom_score_adj: int = -900
    tiers: Tiers = Tiers()
    storage: Storage = Storage()
    warnings: Warnings = Warnings()
    protect: tuple[rules.Rule, ...] = ()  # [[protect.rules]]: applied to new processes
    watch: tuple[rules.Rule, ...] = ()  # [[daemon.watch]]: always on the fast tier


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d|w)?\s*$")
_UNIT = {"ms": 0.001, "s": 1, None: 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def duration(value: Any, where: str) -> float:
    """Seconds from a number or a string such as "90s", "10m", "1h", "30d"."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a duration such as 10 or \"1h\"")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNIT[m.group(2)]
    else:
        raise ConfigError(f"{where}: expected a duration such as 10, \"90s\", \"10m\", \"1h\" or \"30d\"")
    if not seconds > 0:  # also NaN, which TOML allows
        raise ConfigError(f"{where}: must be positive")
    if seconds > _CENTURY:  # also inf; the loop's arithmetic would overflow
        raise ConfigError(f"{where}: {value!r} is more than 100 years")
    return seconds


_CENTURY = 100 * 365 * 86400


def _number(value: Any, where: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where}: expected a number")
    if not lo <= value <= hi:
        raise ConfigError(f"{where}: must be from {lo:g} to {hi:g}")
    return float(value)


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: must be a table")
    return value


def _fill(cls: Any, data: dict[str, Any], where: str, special: dict[str, Any]) -> dict[str, Any]:
    """Validate the scalar keys of ``data`` against ``cls``'s fields and defaults."""
    known: dict[str, Any] = cls._field_defaults
    out: dict[str, Any] = {}
    for key, value in data.items():
        w = f"{where}.{key}"
        if key in special:
            out[key] = special[key](value, w)
            continue
        if key not in known or key == "retention":
            raise ConfigError(f"{w}: unknown key; see docs/daemon.md")
        default = known[key]
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{w}: expected true or false")
            out[key] = value
        elif isinstance(default, int):
            out[key] = int(_number(value, w, 0, 10**9))
            if isinstance(value, float):
                raise ConfigError(f"{w}: expected a whole number")
        elif isinstance(default, float):
            out[key] = (duration(value, w) if _is_duration(key) else _number(value, w, 0, 10**12))
        else:
            raise ConfigError(f"{w}: unknown key; see docs/daemon.md")  # pragma: no cover
    return out


def _is_duration(key: str) -> bool:
    return key in {"interval", "interval_short", "full_scan_interval", "full_scan_interval_short",
                   "cgroup_scan_interval", "probation", "heartbeat", "maintenance_interval",
                   "forecast_seconds", "window", "repeat_after", "hook_timeout", "webhook_timeout",
                   "min_age",
                   "full_resolution", "ten_second", "one_minute", "events"}


def _hook(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        raise ConfigError(f"{where}: give the command as a list, e.g. [\"/usr/local/bin/page\","
                          " \"{message}\"] (no shell is used)")
    if not isinstance(value, list) or not value or not all(isinstance(x, str) and x for x in value):
        raise ConfigError(f"{where}: expected a non-empty list of strings")
    return tuple(value)


def _webhook(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise ConfigError(f"{where}: expected an http:// or https:// URL")
    return value


def _watch(value: Any, where: str, path: str) -> tuple[rules.Rule, ...]:
    from oomkit import config, rules

    if not isinstance(value, list):
        raise ConfigError(f"{where}: use [[daemon.watch]] tables, e.g. name = \"postgres\"")
    out = []
    for i, item in enumerate(value):
        w = f"{where}[{i + 1}]"
        table = _table(item, w)
        for key, v in table.items():
            if key not in rules.MATCH_KEYS or not isinstance(v, str):
                raise ConfigError(f"{w}.{key}: use {', '.join(rules.MATCH_KEYS)} = \"...\"")
        conditions = config.matches(table, w)
        out.append(rules.Rule(conditions, 0, f"{os.path.basename(path)} watch {i + 1}"))
    return tuple(out)


def parse(text: str, path: str = "<config>") -> Settings:
    """Settings from the TOML text of the whole file; ConfigError names ``path`` and the key.

    ``oomkit.config`` parses and checks every section; the daemon takes ``[daemon]``
    and the ``[protect]`` rules it applies to new processes.
    """
    from oomkit import config

    whole = config.parse(text, path)
    daemon = whole.daemon if whole.daemon is not None else parse_section({}, "daemon", path)
    return daemon._replace(protect=whole.protect.rules)


def parse_section(section: Any, where: str, path: str) -> Settings:
    """The ``[daemon]`` table alone, for ``oomkit.config`` (which prefixes ``path`` to errors)."""
    return _settings(_table(section, where), path, ())


def _settings(d: dict[str, Any], path: str, protect: tuple[rules.Rule, ...]) -> Settings:
    top: dict[str, Any] = {}
    tiers: dict[str, Any] = {}
    tier_keys = set(Tiers._fields)
    storage = Storage()
    warnings = Warnings()
    watch: tuple[rules.Rule, ...] = ()
    for key, value in d.items():
        w = f"daemon.{key}"
        if key == "storage":
            storage = _storage(_table(value, w), w)
        elif key == "warnings":
            warnings = Warnings(**_fill(Warnings, _table(value, w), w,
                                        {"hook": _hook, "webhook": _webhook}))
        elif key == "watch":
            watch = _watch(value, w, path)
        elif key in tier_keys:
            tiers[key] = value
        elif key in ("db", "kmsg", "ctl_socket"):
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{w}: expected a path")
            top[key] = value
        elif key == "kmsg_backlog":
            if not isinstance(value, bool):
                raise ConfigError(f"{w}: expected true or false")
            top[key] = value
        elif key == "self_oom_score_adj":
            top[key] = int(_number(value, w, -1000, 1000))
        else:
            raise ConfigError(f"{w}: unknown key; see docs/daemon.md")
    t = Tiers(**_fill(Tiers, tiers, "daemon", {}))
    if t.interval_short > t.interval:
        raise ConfigError("daemon.interval_short: must not be longer than daemon.interval")
    return Settings(path=path, tiers=t, storage=storage, warnings=warnings, protect=protect,
                    watch=watch, **top)


def _storage(d: dict[str, Any], where: str) -> Storage:
    keep = {k: d[k] for k in ("full_resolution", "ten_second", "one_minute", "events", "max_size_mb")
            if k in d}
    rest = {k: v for k, v in d.items() if k not in keep}
    r: dict[str, Any] = {}
    for key, value in keep.items():
        w = f"{where}.{key}"
        r[key] = _number(value, w, 1, 10**7) if key == "max_size_mb" else duration(value, w)
    retention = Retention(**r)
    if not retention.full_resolution <= retention.ten_second <= retention.one_minute:
        raise ConfigError(f"{where}: full_resolution <= ten_second <= one_minute, please")
    return Storage(retention=retention, **_fill(Storage, rest, where, {}))


def load(path: StrPath | None, *, required: bool) -> Settings:
    """Read the file; a missing default file gives the defaults (``required`` = named by the user)."""
    from oomkit import config

    text, p = config.read(path, required=required)
    return Settings() if text is None else parse(text, p)


SAMPLE = """\
# /etc/oomkit/oomkit.toml - the oomkit daemon's settings (every key is optional).
[daemon]
db = "/var/lib/oomkit/oomkit.db"   # the flight recorder's SQLite database
interval = 1                       # s: system, limited cgroups and fast-tier processes
interval_short = 0.5               # s: the same while a warning condition holds
full_scan_interval = 60            # s: every process (RSS, swap, oom_score_adj, cgroup)
full_scan_interval_short = 10
cgroup_scan_interval = 30          # s: look for new memory cgroups with a limit
fast_processes = 15                # largest + fastest-growing + likely victims on the fast tier
probation = 30                     # s: new processes stay on the fast tier this long
near_limit_pct = 50                # every process of a cgroup this full is on the fast tier
self_oom_score_adj = -900          # the daemon's own oom_score_adj (needs CAP_SYS_RESOURCE)
kmsg_backlog = true                # store kills already in the kernel ring buffer at start
# ctl_socket = "/run/oomkit/ctl.sock"  # control socket of [programs.NAME] (oomkit ctl, web)

[daemon.storage]
min_change_kb = 512                # write a process row when its memory moved this much
min_change_pct = 2                 # ...and by this % of its size,
heartbeat = "10m"                  # ...or this long after its last row
min_age = 2                        # s: shorter-lived processes get no rows (fork storms)
full_resolution = "1h"             # every sample is kept this long,
ten_second = "1d"                  # then one per 10 s (the peak) this long,
one_minute = "30d"                 # then one per minute; older samples are deleted
events = "365d"                    # kills and warnings are kept this long
max_size_mb = 512                  # the oldest samples go first above this size

[daemon.warnings]
forecast_seconds = 300             # warn when memory runs out within 5 minutes
min_available_pct = 5              # or MemAvailable + SwapFree falls under 5 % of RAM + swap
window = 60                        # s of history each forecast uses
repeat_after = "10m"               # repeat while the condition lasts
max_per_hour = 20                  # deliveries per hour; more are only recorded
# hook = ["/usr/local/bin/page-me", "{message}"]   # argv, no shell; {kind} {subject} too
# webhook = "https://hooks.example.com/oomkit"      # JSON POST
notify_send = true                 # desktop notification when a session bus is reachable

# [[daemon.watch]]                 # always on the fast tier
# name = "postgres"

# [[protect.rules]]                # applied to new processes as they appear
# name = "postgres"
# preset = "protect"
"""

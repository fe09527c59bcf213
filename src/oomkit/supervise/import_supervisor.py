"""``oomkit import-supervisor``: supervisord.conf ``[program:x]`` sections to ``[programs.NAME]``.

Read as supervisord reads it (supervisor/options.py): an INI file whose values may
use ``%(name)s`` expansions (``here``, ``program_name``, ``process_num``, ``group_name``,
``host_node_name``, ``numprocs``, ``ENV_<VAR>``), ``[include] files = ...`` globs
relative to the file, and ``numprocs`` copies named by ``process_name``. Inline
comments start with " ;" as in supervisord. Whatever has no oomkit equivalent is
listed, never silently dropped (docs/supervise.md has the table).
"""

from __future__ import annotations

import configparser
import glob
import json
import os
import re
import shlex
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oomkit.errors import ConfigError

__all__ = ["Converted", "Unmapped", "convert", "convert_file", "to_toml"]

# supervisord key -> oomkit key, for values that carry over with at most a type change.
SAME = {
    "command": "command", "directory": "directory", "user": "user", "umask": "umask",
    "autostart": "autostart", "autorestart": "autorestart", "exitcodes": "exitcodes",
    "startsecs": "startsecs", "startretries": "startretries", "stopsignal": "stopsignal",
    "stopwaitsecs": "stopwaitsecs", "stopasgroup": "stopasgroup", "killasgroup": "killasgroup",
    "environment": "environment", "stdout_logfile": "log_file",
    "stdout_logfile_maxbytes": "log_maxbytes", "stdout_logfile_backups": "log_backups",
}
# Keys that are about how supervisord itself works, not the program: dropped with a reason.
WHY_NOT = {
    "priority": "start order: oomkit starts programs in file order",
    "redirect_stderr": "oomkit always keeps stdout and stderr in the one log file",
    "stderr_logfile": "oomkit keeps stderr in the program's one log file (log_file)",
    "stderr_logfile_maxbytes": "stderr shares log_file's rotation",
    "stderr_logfile_backups": "stderr shares log_file's rotation",
    "stdout_capture_maxbytes": "no capture mode (supervisord events)",
    "stderr_capture_maxbytes": "no capture mode (supervisord events)",
    "stdout_events_enabled": "no supervisord event listeners",
    "stderr_events_enabled": "no supervisord event listeners",
    "stdout_syslog": "not sent to syslog; use the log file",
    "stderr_syslog": "not sent to syslog; use the log file",
    "serverurl": "ctl talks to the oomkit socket",
}
EXPANDED = {"numprocs", "numprocs_start", "process_name"}
BOOLS = {"autostart", "stopasgroup", "killasgroup"}
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
_SIZE = re.compile(r"^\s*(\d+)\s*(KB|MB|GB)?\s*$", re.IGNORECASE)
_NAME_OK = re.compile(r"[^A-Za-z0-9_.@-]")


@dataclass(frozen=True, slots=True)
class Unmapped:
    """Something in the file with no oomkit equivalent."""

    section: str
    key: str | None
    value: str | None
    reason: str


@dataclass(slots=True)
class Converted:
    """The programs (oomkit keys and typed values) and what could not be mapped."""

    programs: dict[str, dict[str, Any]] = field(default_factory=dict)
    unmapped: list[Unmapped] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def _parser() -> configparser.RawConfigParser:
    # supervisord's UnhosedConfigParser: RawConfigParser, " ;" starts an inline comment.
    return configparser.RawConfigParser(inline_comment_prefixes=(";", "#"), strict=False,
                                        interpolation=None)


def _read(path: Path, out: Converted, seen: set[Path]) -> configparser.RawConfigParser:
    cp = _parser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset"
                          f" {exc.start}); convert it with iconv first") from None
    try:
        cp.read_string(text, source=str(path))
    except configparser.Error as exc:
        raise ConfigError(f"{path}: not a supervisord config: {exc.message.splitlines()[0]}") from None
    seen.add(path.resolve())
    out.files.append(str(path))
    return cp


def _expand(value: str, env: Mapping[str, object], where: str) -> str:
    """supervisord's ``expand()``: Python %-formatting with the section's names."""
    try:
        return value % env
    except KeyError as exc:
        raise ConfigError(f"{where}: %({exc.args[0]})s is not a known expansion") from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: bad %-expansion in {value!r}: {exc}") from None


def _bool(v: str, where: str) -> bool:
    low = v.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ConfigError(f"{where}: {v!r} is not a boolean")


def _environment(v: str, where: str) -> dict[str, str]:
    """supervisord's ``dict_of_key_value_pairs``: KEY="val",KEY2=val2."""
    lexer = shlex.shlex(v)
    lexer.wordchars += "/.+-():"
    tokens = list(lexer)
    out: dict[str, str] = {}
    i = 0
    while i < len(tokens):
        kv = tokens[i:i + 3]
        if len(kv) != 3 or kv[1] != "=":
            raise ConfigError(f"{where}: cannot read environment {v!r} (KEY=\"value\",KEY2=\"value\")")
        out[kv[0]] = kv[2].strip("'\"")
        i += 4
    return out


def _value(key: str, raw: str, where: str) -> Any:
    if key in BOOLS:
        return _bool(raw, where)
    if key == "autorestart":
        low = raw.strip().lower()
        return "unexpected" if low == "unexpected" else _bool(low, where)
    if key == "exitcodes":
        return [int(x) for x in raw.replace(" ", "").split(",") if x]
    if key in ("startsecs", "startretries", "stopwaitsecs", "stdout_logfile_backups"):
        return int(raw)
    if key == "stdout_logfile_maxbytes":
        m = _SIZE.match(raw)
        if not m:
            raise ConfigError(f"{where}: {raw!r} is not a size like 50MB")
        mult = {"KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}.get((m.group(2) or "").upper(), 1)
        return int(m.group(1)) * mult
    if key == "command":
        return shlex.split(raw)
    if key == "environment":
        return _environment(raw, where)
    if key == "stopsignal":
        return raw.strip().upper().removeprefix("SIG")
    if key == "umask":
        return raw.strip()
    return raw


def _includes(cp: configparser.RawConfigParser, here: Path) -> list[Path]:
    if not cp.has_section("include"):
        return []
    files = cp.get("include", "files", fallback="")
    out: list[Path] = []
    for pattern in files.split():
        full = pattern if os.path.isabs(pattern) else str(here / pattern)
        out.extend(Path(p) for p in sorted(glob.glob(full)))
    return out


def convert_file(path: Path, env: Mapping[str, str] | None = None) -> Converted:
    """Convert ``path`` and its ``[include]`` files."""
    out = Converted()
    seen: set[Path] = set()
    queue = [path]
    parsers: list[tuple[Path, configparser.RawConfigParser]] = []
    while queue:
        p = queue.pop(0)
        if p.resolve() in seen:
            continue
        cp = _read(p, out, seen)
        parsers.append((p, cp))
        queue.extend(_includes(cp, p.parent))
    for p, cp in parsers:
        convert(cp, p.parent.resolve(), out, env if env is not None else os.environ)
    return out


def convert(cp: configparser.RawConfigParser, here: Path, out: Converted, environ: Mapping[str, str]) -> None:
    """Convert the sections of one parsed file into ``out``."""
    base = {"here": str(here), "host_node_name": socket.gethostname(),
            **{f"ENV_{k}": v for k, v in environ.items()}}
    for section in cp.sections():
        kind, _, name = section.partition(":")
        if kind in ("supervisord", "supervisorctl", "unix_http_server", "inet_http_server",
                    "include", "rpcinterface"):
            if kind in ("inet_http_server", "unix_http_server"):
                out.unmapped.append(Unmapped(section, None, None,
                                             "oomkit ctl uses its own root-only unix socket"))
            continue
        if kind in ("group", "eventlistener", "fcgi-program") or kind != "program":
            why = {"group": "groups: list the programs in `oomkit ctl` instead (start/stop take names)",
                   "eventlistener": "no supervisord event listeners (superlance memmon is built in:"
                                    " memory_max)",
                   "fcgi-program": "FastCGI sockets are not supported"}.get(kind, "unknown section")
            out.unmapped.append(Unmapped(section, None, None, why))
            continue
        _program(cp, section, name, base, out)


def _program(cp: configparser.RawConfigParser, section: str, name: str, base: dict[str, str],
             out: Converted) -> None:
    opts = dict(cp.items(section))
    numprocs = int(opts.get("numprocs", "1"))
    start = int(opts.get("numprocs_start", "0"))
    pattern = opts.get("process_name", "%(program_name)s")
    if numprocs > 1 and "%(process_num)" not in pattern:
        raise ConfigError(f"[{section}]: numprocs = {numprocs} needs %(process_num)s in process_name")
    for num in range(start, start + numprocs):
        env: dict[str, object] = {**base, "program_name": name, "group_name": name, "process_num": num,
               "numprocs": numprocs}
        pname = _expand(pattern, env, f"[{section}] process_name")
        safe = _NAME_OK.sub("_", pname)
        if safe != pname:
            out.unmapped.append(Unmapped(section, "process_name", pname, f"renamed to {safe!r}"))
        prog: dict[str, Any] = {}
        for key, raw in opts.items():
            where = f"[{section}] {key}"
            if key in EXPANDED:
                continue
            if key in WHY_NOT:
                if num == start:
                    out.unmapped.append(Unmapped(section, key, raw, WHY_NOT[key]))
                continue
            if key not in SAME:
                if num == start:
                    out.unmapped.append(Unmapped(section, key, raw, "no oomkit equivalent"))
                continue
            value = _expand(raw, env, where)
            if key == "stdout_logfile" and value.strip().upper() in ("AUTO", "NONE"):
                if value.strip().upper() == "NONE":
                    out.unmapped.append(Unmapped(section, key, value, "oomkit always keeps a log"))
                continue
            try:
                prog[SAME[key]] = _value(key, value, where)
            except ValueError as exc:
                raise ConfigError(f"{where}: {exc}") from None
        # supervisord's defaults where oomkit's differ, so behaviour is unchanged.
        prog.setdefault("stopasgroup", False)
        prog.setdefault("killasgroup", False)
        if "command" not in prog:
            raise ConfigError(f"[{section}]: no command")
        out.programs[safe] = prog


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def to_toml(c: Converted, source: str) -> str:
    """The ``[programs.NAME]`` sections as TOML text, the unmapped items as comments."""
    lines = [f"# Converted from {source} by `oomkit import-supervisor`.", ""]
    for name, prog in c.programs.items():
        lines.append(f"[programs.{json.dumps(name) if not re.fullmatch(r'[A-Za-z0-9_-]+', name) else name}]")
        for key, value in prog.items():
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    if c.unmapped:
        lines.append("# Not converted:")
        for u in c.unmapped:
            what = f"{u.key} = {u.value}" if u.key else f"[{u.section}]"
            lines.append(f"#   [{u.section}] {what}: {u.reason}" if u.key else f"#   {what}: {u.reason}")
    return "\n".join(lines).rstrip() + "\n"

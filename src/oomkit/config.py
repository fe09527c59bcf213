"""The configuration file (TOML): frozen typed records, one small validator per section.

Default path ``/etc/oomkit/oomkit.toml``. Today one section::

    [[protect.rules]]          # first matching rule wins
    name = "postgres"          # conditions: name, cmdline, user, unit, cgroup (all must hold)
    user = "postgres"
    preset = "protect"         # or: adj = -500   (presets: never-kill, protect, prefer)

Sections are looked up in ``SECTIONS``; a later daemon adds its own parser
there. Every error is one line naming the file and the key
(``/etc/oomkit/oomkit.toml: protect.rules[2].adj: ...``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from oomkit import rules
from oomkit.errors import ConfigError

if TYPE_CHECKING:
    from oomkit.models import ProgramSpec
    from oomkit.procfs import StrPath

DEFAULT_PATH = "/etc/oomkit/oomkit.toml"


class ProtectConfig(NamedTuple):
    """``[protect]``: rules applied by ``oomkit protect --apply`` (and later the daemon)."""

    rules: tuple[rules.Rule, ...] = ()


class Config(NamedTuple):
    """The whole file."""

    path: str | None = None
    protect: ProtectConfig = ProtectConfig()
    web: Any = None  # [web]: oomkit.web.settings.WebSettings (parsed there, stdlib only)
    programs: tuple[ProgramSpec, ...] = ()  # [programs.NAME]: oomkit.programs_config (issue 5)
    daemon: Any = None  # [daemon]: oomkit.recorder.settings.Settings (issue 4)


def _rule(table: Any, where: str, source: str) -> rules.Rule:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table like {{ name = \"postgres\", adj = -500 }}")
    allowed = {*rules.MATCH_KEYS, "adj", "preset"}
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{where}.{key}: unknown key; use {', '.join(sorted(allowed))}")
    if ("adj" in table) == ("preset" in table):
        raise ConfigError(f"{where}: give exactly one of adj = N or preset = "
                          f"\"{'|'.join(rules.PRESETS)}\"")
    if "preset" in table:
        preset = table["preset"]
        if preset not in rules.PRESETS:
            raise ConfigError(f"{where}.preset: {preset!r} is not one of "
                              f"{', '.join(rules.PRESETS)}")
        adj = rules.PRESETS[preset]
    else:
        adj = table["adj"]
        if not isinstance(adj, int) or isinstance(adj, bool):
            raise ConfigError(f"{where}.adj: must be an integer from -1000 to 1000")
        try:
            rules.check_adj(adj)
        except ValueError as exc:
            raise ConfigError(f"{where}.adj: {exc}") from None
    return rules.Rule(matches(table, where), adj, source)


def matches(table: Mapping[str, Any], where: str) -> tuple[rules.Match, ...]:
    """The conditions of a rule table (``name``, ``cmdline``, ... keys; other keys ignored):
    ``[[protect.rules]]`` here, ``[[daemon.watch]]`` in recorder.settings."""
    out = []
    for key in rules.MATCH_KEYS:
        if key in table:
            value = table[key]
            if not isinstance(value, str):
                raise ConfigError(f"{where}.{key}: must be a string")
            try:
                out.append(rules.make_match(key, value))
            except ValueError as exc:
                raise ConfigError(f"{where}.{key}: {exc}") from None
    if not out:
        raise ConfigError(f"{where}: no condition; add one of {', '.join(rules.MATCH_KEYS)}")
    return tuple(out)


def _protect(section: Any, where: str, path: str) -> ProtectConfig:
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: must be a table")
    for key in section:
        if key != "rules":
            raise ConfigError(f"{where}.{key}: unknown key; [protect] has only rules")
    items = section.get("rules", [])
    if not isinstance(items, list):
        raise ConfigError(f"{where}.rules: use [[protect.rules]] tables")
    name = os.path.basename(path)
    return ProtectConfig(tuple(
        _rule(item, f"{where}.rules[{i + 1}]", f"{name} rule {i + 1}") for i, item in enumerate(items)
    ))


def _web(section: Any, where: str, path: str) -> Any:
    from oomkit.web.settings import parse_section

    return parse_section(section, where, path)


def _programs(section: Any, where: str, path: str) -> Any:
    from oomkit.programs_config import parse_programs

    return parse_programs(section, where, path)


def _daemon(section: Any, where: str, path: str) -> Any:
    from oomkit.recorder.settings import parse_section

    return parse_section(section, where, path)


SECTIONS: Mapping[str, Callable[[Any, str, str], Any]] = {
    "protect": _protect, "web": _web, "programs": _programs, "daemon": _daemon,
}


def parse(text: str, path: str = "<config>") -> Config:
    """A Config from TOML text; ConfigError names ``path`` and the key."""
    if not text.strip():  # an empty file: all defaults, without loading the TOML parser
        return Config(path=path)
    # Imported here: a daemon with an empty or no file never loads the parser (0.2 MiB).
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    parsed: dict[str, Any] = {}
    for key, section in data.items():
        parser = SECTIONS.get(key)
        if parser is None:
            raise ConfigError(f"{path}: unknown section [{key}]; known: {', '.join(SECTIONS)}")
        try:
            parsed[key] = parser(section, key, path)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    return Config(path=path, **parsed)


def read(path: StrPath | None, *, required: bool = True) -> tuple[str | None, str]:
    """The file's text (default /etc/oomkit/oomkit.toml); None when an optional default is absent.

    ``required`` is False when the user did not name the file: then its absence means
    "all defaults", for the daemon and the web UI.
    """
    p = os.fspath(path) if path else DEFAULT_PATH
    try:
        with open(p, encoding="utf-8") as f:
            return f.read(), p
    except FileNotFoundError:
        if required:
            raise ConfigError(f"{p}: no such file; create it or pass --config PATH") from None
        return None, p
    except PermissionError:
        raise ConfigError(f"{p}: permission denied; run as root") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read: {exc}") from None


def load(path: StrPath | None = None, *, required: bool = True) -> Config:
    """Read and parse the file; an absent optional default file gives an empty Config."""
    text, p = read(path, required=required)
    return Config(path=p) if text is None else parse(text, p)

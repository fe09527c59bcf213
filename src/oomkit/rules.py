"""Protection rules: which processes get which oom_score_adj. Pure: (rules, process) -> adj | None.

A rule is a set of conditions that must all hold, and an adjustment. The first
rule that matches a process decides (like a firewall), so put specific rules
first. The same engine serves ``oomkit protect --match``, ``--apply`` and the
future daemon, which re-applies the rules to new processes.

Conditions (``key=value``):

* ``name=GLOB``: the process name (comm, at most 15 bytes: ``TASK_COMM_LEN``) or
  the basename of argv[0], so long names that comm truncates still match;
  shell wildcards ``* ? [..]`` allowed. Without a readable command line, a name
  longer than 15 bytes matches a comm equal to its first 15.
* ``cmdline=REGEX``: a Python regular expression searched in the command line
  (arguments joined by spaces).
* ``user=NAME|UID``: the real user.
* ``unit=GLOB``: the systemd unit (or any component of the cgroup path, so
  slices and container scopes match too).
* ``cgroup=PATH``: the cgroup or any cgroup below it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import NamedTuple

OOM_SCORE_ADJ_MIN = -1000
OOM_SCORE_ADJ_MAX = 1000
PRESETS = {"never-kill": -1000, "protect": -500, "prefer": 500}
MATCH_KEYS = ("name", "cmdline", "user", "unit", "cgroup")


class Match(NamedTuple):
    """One condition, e.g. ``name=postgres``."""

    key: str
    value: str
    regex: re.Pattern[str] | None = None  # compiled ``cmdline`` pattern

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class Rule(NamedTuple):
    """Conditions that must all hold, and the oom_score_adj to set."""

    matches: tuple[Match, ...]
    adj: int
    source: str = "--match"  # where it came from, for messages ("oomkit.toml rule 2")

    def __str__(self) -> str:
        return " ".join(str(m) for m in self.matches) + f" -> {self.adj:+d}"


class ProcessFacts(NamedTuple):
    """What a rule can look at."""

    pid: int
    name: str
    cmdline: str
    uid: int
    user: str
    cgroup: str | None
    unit: str | None


def check_adj(value: int) -> int:
    """``value`` if it is a valid oom_score_adj, else ValueError."""
    if not OOM_SCORE_ADJ_MIN <= value <= OOM_SCORE_ADJ_MAX:
        raise ValueError(f"oom_score_adj must be from -1000 to 1000, not {value}")
    return value


def make_match(key: str, value: str) -> Match:
    """A condition from a key and a value; ValueError says what is wrong."""
    if key not in MATCH_KEYS:
        raise ValueError(f"unknown match key {key!r}; use one of {', '.join(MATCH_KEYS)}")
    if not value:
        raise ValueError(f"{key}= needs a value")
    if key == "cmdline":
        try:
            return Match(key, value, re.compile(value))
        except re.error as exc:
            raise ValueError(f"cmdline={value!r} is not a valid regular expression: {exc}") from None
    if key == "cgroup" and not value.startswith("/"):
        raise ValueError(f"cgroup={value!r} must be an absolute cgroup path such as /system.slice")
    return Match(key, value)


def parse_match(text: str) -> Match:
    """``name=postgres`` -> Match; ValueError with a one-line reason otherwise."""
    key, sep, value = text.partition("=")
    if not sep:
        raise ValueError(f"--match {text!r}: expected KEY=VALUE, e.g. name=postgres")
    return make_match(key.strip(), value)


def _argv0(cmdline: str) -> str:
    first = cmdline.split(" ", 1)[0]
    return first.rsplit("/", 1)[-1]


def matches(m: Match, p: ProcessFacts) -> bool:
    """Whether one condition holds for ``p``."""
    if m.key == "name":
        argv0 = _argv0(p.cmdline)
        if any(fnmatchcase(candidate, m.value) for candidate in (p.name, argv0) if candidate):
            return True
        # No command line to compare with (unreadable): a long name can only be matched
        # against comm, which the kernel cuts at 15 bytes.
        return not argv0 and len(m.value) > 15 and p.name == m.value[:15]
    if m.key == "cmdline":
        return m.regex is not None and m.regex.search(p.cmdline) is not None
    if m.key == "user":
        return m.value == p.user or (m.value.isdecimal() and int(m.value) == p.uid)
    if m.key == "unit":
        parts = [x for x in (p.cgroup or "").split("/") if x]
        return any(fnmatchcase(c, m.value) for c in ([p.unit] if p.unit else []) + parts)
    if m.key == "cgroup":
        base = m.value.rstrip("/")
        return p.cgroup is not None and (p.cgroup == m.value or not base
                                         or p.cgroup == base or p.cgroup.startswith(base + "/"))
    return False


def rule_matches(rule: Rule, p: ProcessFacts) -> bool:
    """All conditions of ``rule`` hold for ``p`` (a rule without conditions matches nothing)."""
    return bool(rule.matches) and all(matches(m, p) for m in rule.matches)


def decide(rules: Sequence[Rule], p: ProcessFacts) -> int | None:
    """The adjustment of the first rule that matches ``p``, or None."""
    rule = first_match(rules, p)
    return rule.adj if rule is not None else None


def first_match(rules: Sequence[Rule], p: ProcessFacts) -> Rule | None:
    """The first rule that matches ``p``."""
    return next((r for r in rules if rule_matches(r, p)), None)

"""oom_score_adj from the daemon: its own protection, and the config's rules on new processes.

Own protection: the daemon lowers its own oom_score_adj (default -900) so the
kernel picks it last; it is small (~17 MiB) so this costs the system little.
Lowering below 0 needs CAP_SYS_RESOURCE (fs/proc/base.c ``__set_oom_adj``):
without it the write fails with EACCES, the daemon keeps running at its current
value and says so in one line; under systemd, ``OOMScoreAdjust=`` in the unit
sets it before the daemon starts (systemd has the capability).

Rules: each new process (and one that exec'd another program) is matched
against ``[[protect.rules]]``, first match wins (``rules.first_match``), and its
oom_score_adj written once; a later change by the user is left alone.
"""

from __future__ import annotations

import errno
import os
import pwd
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from oomkit import procfs
from oomkit.errors import AccessDenied, OomkitError, ProcessGone
from oomkit.models import ProcessInfo
from oomkit.recorder.log import Log

if TYPE_CHECKING:
    from oomkit.rules import ProcessFacts, Rule

# The rule engine (oomkit.rules, oomkit.protect, oomkit.owner) is imported only when
# there are rules: a daemon without any never loads it.


def protect_self(target: int, proc_root: procfs.StrPath = procfs.PROC) -> tuple[int, str, bool]:
    """Lower our own oom_score_adj to ``target``: (value now, one-line message, success)."""
    try:
        current = procfs.read_oom_score_adj(os.getpid(), proc_root)
    except OomkitError as exc:
        return 0, f"cannot read own oom_score_adj: {exc}", False
    if current <= target:
        return current, f"oom_score_adj is already {current} (target {target})", True
    try:
        fd = os.open(f"{proc_root}/self/oom_score_adj", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, str(target).encode())
        finally:
            os.close(fd)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            return current, (f"cannot lower own oom_score_adj to {target}: that needs"
                             f" CAP_SYS_RESOURCE, which this process lacks; running at {current}"
                             f" (under systemd, OOMScoreAdjust={target} in the unit sets it)"), False
        return current, f"cannot set own oom_score_adj to {target}: {exc.strerror}", False
    return target, f"own oom_score_adj set to {target} (was {current})", True


_users: dict[int, str] = {}


def user_name(uid: int) -> str:
    """The user name of ``uid`` (cached), or the number."""
    if uid not in _users:
        try:
            _users[uid] = pwd.getpwuid(uid).pw_name
        except KeyError:
            _users[uid] = str(uid)
    return _users[uid]


def facts(info: ProcessInfo) -> ProcessFacts:
    """What a rule can look at."""
    from oomkit.owner import owner_of
    from oomkit.rules import ProcessFacts

    owner = owner_of(info.cgroup) if info.cgroup else None
    return ProcessFacts(pid=info.pid, name=info.name, cmdline=info.cmdline, uid=info.uid,
                        user=user_name(info.uid), cgroup=info.cgroup,
                        unit=owner.unit if owner is not None else None)


def watched(rules: Sequence[Rule], info: ProcessInfo) -> bool:
    """Whether a ``[[daemon.watch]]`` rule matches the process."""
    if not rules:
        return False
    from oomkit.rules import rule_matches

    f = facts(info)
    return any(rule_matches(r, f) for r in rules)


class RuleApplier:
    """Applies the protect rules to processes the daemon sees for the first time."""

    def __init__(self, rules: Sequence[Rule], log: Log, proc_root: procfs.StrPath = procfs.PROC) -> None:
        self.rules = tuple(rules)
        self.log = log
        self.proc_root = proc_root
        self.applied = 0

    def apply(self, processes: Iterable[tuple[ProcessInfo, int]]) -> int:
        """Set each process's oom_score_adj from the first matching rule; return how many changed."""
        if not self.rules:
            return 0
        from oomkit.protect import write_adj
        from oomkit.rules import first_match

        changed = 0
        for info, adj in processes:
            rule = first_match(self.rules, facts(info))
            if rule is None or rule.adj == adj:
                continue
            try:
                write_adj(info.pid, rule.adj, proc_root=self.proc_root, name=info.name, old=adj)
            except ProcessGone:
                continue
            except AccessDenied as exc:
                self.log.once(f"rule {rule.source} denied", "error", f"{rule.source}: {exc}")
                continue
            except OomkitError as exc:
                self.log.once(f"rule {rule.source} failed", "error", f"{rule.source}: {exc}")
                continue
            changed += 1
            self.applied += 1
            self.log("info", f"{rule.source}: oom_score_adj of {info.name} (pid {info.pid})"
                     f" {adj} -> {rule.adj}")
        return changed

"""oom_score_adj done right: plan changes from rules, write them, explain refusals.

The kernel's rules (fs/proc/base.c ``__set_oom_adj``, kernel-oom.md 2.8):

* the value is per process (signal_struct), inherited across fork, and a write
  also reaches every other process sharing the mm;
* anyone who may write the file can *raise* it, and lower it back down to
  ``oom_score_adj_min``, the last value set by a writer with CAP_SYS_RESOURCE
  (0 unless a privileged writer set something lower); going below that needs
  CAP_SYS_RESOURCE, else the write fails with EACCES;
* the setting dies with the process: the persistent equivalents are systemd's
  ``OOMScoreAdjust=`` and ``docker run --oom-score-adj``.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

from oomkit import procfs
from oomkit.errors import AccessDenied, OomkitError, ProcessGone, UsageError
from oomkit.procmodels import Owner, ProcessSnapshot
from oomkit.rules import ProcessFacts, Rule, check_adj, first_match


@dataclass(frozen=True, slots=True)
class Change:
    """One planned write: ``pid`` from ``old`` to ``new``."""

    pid: int
    name: str
    old: int
    new: int
    reason: str  # "--adj", "rule: name=postgres -> -500", ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one change: "set", "unchanged", "dry-run", "denied", "gone" or "failed"."""

    change: Change
    status: str
    error: str | None = None


def facts(p: ProcessSnapshot, user: str, owner: Owner | None) -> ProcessFacts:
    """What the rule engine sees of a process."""
    return ProcessFacts(pid=p.pid, name=p.name, cmdline=p.cmdline or "", uid=p.uid, user=user,
                        cgroup=p.cgroup, unit=owner.unit if owner else None)


def plan(
    rules: Sequence[Rule], processes: Sequence[tuple[ProcessSnapshot, ProcessFacts]]
) -> list[Change]:
    """The change each process needs under ``rules`` (first match wins). Pure."""
    out = []
    for p, f in processes:
        rule = first_match(rules, f)
        if rule is not None:
            out.append(Change(p.pid, p.name, p.oom_score_adj, rule.adj, f"{rule.source}: {rule}"))
    return out


def privilege_message(pid: int, name: str, old: int, new: int) -> str:
    """One line: why the kernel refused to lower the value, and the two fixes."""
    return (f"PID {pid} ({name}): setting oom_score_adj {old} -> {new} needs CAP_SYS_RESOURCE "
            f"(the kernel refuses values below the last one set with that capability, usually 0); "
            f"run oomkit as root with CAP_SYS_RESOURCE (not inside an unprivileged container), "
            f"or set OOMScoreAdjust={new} in the process's systemd unit")


def write_adj(pid: int | str, value: int, *, proc_root: procfs.StrPath = procfs.PROC, name: str = "",
              old: int | None = None) -> None:
    """Write /proc/PID/oom_score_adj; errors become ProcessGone or a one-line AccessDenied."""
    check_adj(value)
    path = f"{proc_root}/{pid}/oom_score_adj"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ESRCH):
            raise ProcessGone(f"PID {pid} does not exist (any more)") from exc
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise AccessDenied(f"PID {pid} ({name}): cannot open {path}: it belongs to another "
                               "user; run oomkit as root") from exc
        raise OomkitError(f"cannot open {path}: {exc.strerror}") from exc
    try:
        os.write(fd, str(value).encode())
    except OSError as exc:
        if exc.errno == errno.ESRCH:
            raise ProcessGone(f"PID {pid} exited before its oom_score_adj was set") from exc
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise AccessDenied(privilege_message(
                int(pid) if str(pid).isdecimal() else os.getpid(), name or str(pid),
                old if old is not None else 0, value)) from exc
        if exc.errno == errno.EINVAL:
            raise UsageError(f"the kernel rejected oom_score_adj {value} for PID {pid}") from exc
        raise OomkitError(f"cannot write {path}: {exc.strerror}") from exc
    finally:
        os.close(fd)


def apply(changes: Sequence[Change], *, dry_run: bool = False,
          proc_root: procfs.StrPath = procfs.PROC) -> list[Outcome]:
    """Carry out ``changes``; each failure is recorded, not raised."""
    out = []
    for c in changes:
        if c.old == c.new:
            out.append(Outcome(c, "unchanged"))
        elif dry_run:
            out.append(Outcome(c, "dry-run"))
        else:
            try:
                write_adj(c.pid, c.new, proc_root=proc_root, name=c.name, old=c.old)
            except AccessDenied as exc:
                out.append(Outcome(c, "denied", str(exc)))
            except ProcessGone as exc:
                out.append(Outcome(c, "gone", str(exc)))
            except OomkitError as exc:
                out.append(Outcome(c, "failed", str(exc)))
            else:
                out.append(Outcome(c, "set"))
    return out


def exec_with_adj(value: int, argv: Sequence[str], *, proc_root: procfs.StrPath = procfs.PROC) -> NoReturn:
    """Set our own oom_score_adj, then replace this process with ``argv`` (like ``choom -n``).

    The value is inherited across fork and kept across execve. No shell is involved.
    """
    if not argv:
        raise UsageError("give the command to run after --, e.g. oomkit protect --adj 500 -- make")
    old = procfs.read_oom_score_adj(os.getpid(), proc_root)
    write_adj("self", value, proc_root=proc_root, name=argv[0], old=old)
    try:
        os.execvp(argv[0], list(argv))  # noqa: S606 - no shell, by design (like choom -n)
    except FileNotFoundError:
        raise OomkitError(f"{argv[0]}: command not found") from None
    except PermissionError:
        raise AccessDenied(f"{argv[0]}: permission denied (not executable?)") from None


def persistent_hints(value: int, owner: Owner | None = None) -> list[str]:
    """How to make ``value`` survive restarts: systemd and docker forms, specific when known."""
    unit = owner.unit if owner is not None and owner.kind in ("systemd-unit", "machine") else None
    hints = []
    if owner is not None and owner.kind == "kubernetes":
        hints.append("kubernetes: the kubelet sets oom_score_adj from the pod's QoS class "
                     "(Guaranteed -997, BestEffort 1000); change the pod's requests/limits")
    if unit:
        hints.append(f"systemd: `systemctl edit {unit}` and add [Service] OOMScoreAdjust={value}")
    else:
        hints.append(f"systemd: OOMScoreAdjust={value} in the unit's [Service] section")
    cid = owner.container if owner is not None and owner.kind in ("docker", "podman") else None
    hints.append(f"docker: docker run --oom-score-adj {value} ..."
                 + (f" (container {cid} has to be re-created)" if cid else "")
                 + f"; compose: oom_score_adj: {value}")
    return hints

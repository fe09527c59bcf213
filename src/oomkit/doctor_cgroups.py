"""Doctor checks about cgroups, userspace killers and kill counts. Pure.

cgroup semantics: Documentation/admin-guide/cgroup-v2.rst ("memory.max",
"memory.high", "memory.oom.group") and cgroup-v1/memory.rst ("OOM Control");
kill counters: mm/oom_kill.c ``__oom_kill_process`` (``count_vm_event(OOM_KILL)``
for every victim, memory cgroup kills included; /proc/vmstat ``oom_kill``, 4.13+).
"""

from __future__ import annotations

from oomkit.doctor import DoctorSnapshot
from oomkit.models import Finding
from oomkit.procmodels import CgroupMemory


def _size(n: int | None) -> str:
    if n is None:
        return "no limit"
    return f"{n / 2**20:,.0f} MiB"


def _version(s: DoctorSnapshot) -> Finding:
    others = sorted(set(s.other_versions))
    if s.memory_version == 2:
        return Finding("cgroup.version", "ok", "cgroup v2 with the memory controller",
                       "memory controller on the unified (v2) hierarchy",
                       "cgroup v2 offers memory.max (OOM-kills inside the cgroup), memory.high "
                       "(throttles, never OOM-kills), memory.events, memory.oom.group and "
                       "per-cgroup PSI.")
    if s.memory_version == 1:
        hybrid = " plus a v2 hierarchy without it (hybrid)" if 2 in others else ""
        return Finding("cgroup.version", "info", "cgroup v1 memory controller",
                       f"memory controller on a v1 hierarchy{hybrid}",
                       "The legacy v1 memory controller: limits in memory.limit_in_bytes, OOM "
                       "counters in memory.oom_control (its OOM control is deprecated), no "
                       "memory.oom.group.",
                       "boot with systemd.unified_cgroup_hierarchy=1 to move to cgroup v2")
    return Finding("cgroup.version", "warn", "No memory cgroup controller",
                   f"cgroup mounts: {', '.join(f'v{v}' for v in others) or 'none'}",
                   "Without the memory controller there are no per-service limits; every OOM "
                   "is system-wide.",
                   "enable the memory controller (cgroup_enable=memory on some kernels)")


def _limits(s: DoctorSnapshot) -> Finding | None:
    if s.cgroup_path is None or not s.chain:
        return None
    steps = []
    for cg in s.chain:
        text = f"{cg.path} ({_size(cg.limit_bytes)}"
        if cg.high_bytes is not None:
            text += f", high {_size(cg.high_bytes)}"
        if cg.swap_limit_bytes is not None:
            text += f", swap {_size(cg.swap_limit_bytes)}"
        steps.append(text + ")")
    limited = [cg for cg in s.chain if cg.limit_bytes is not None]
    own = s.chain[-1]
    evidence = " -> ".join(steps)
    if own.usage_bytes is not None:
        evidence += f"; usage of {own.path}: {_size(own.usage_bytes)}"
    text = ("A memory cgroup OOM starts when usage reaches the limit of the cgroup or of any "
            "ancestor; the victim is then chosen only among the tasks below that cgroup, "
            "with the limit as totalpages (oomkit top --cgroup PATH shows the order).")
    if s.memory_version == 2:
        text += " memory.high only throttles; it never invokes the OOM killer."
    if any(cg.oom_kill_disable for cg in s.chain):
        return Finding("cgroup.limits", "warn", "OOM killer disabled in a cgroup", evidence,
                       text + " memory.oom_control has oom_kill_disable 1: tasks hang at the "
                       "limit until memory is freed or the limit raised.",
                       "echo 0 > memory.oom_control of that cgroup")
    if not limited:
        return Finding("cgroup.limits", "info", "No memory limit on this process's cgroups",
                       evidence, text + " None is set here, so only a system-wide OOM can "
                       "kill this process.")
    tightest = min(limited, key=lambda cg: cg.limit_bytes or 0)
    usage = next((cg.usage_bytes for cg in reversed(s.chain)
                  if cg.path == tightest.path), None)
    if usage is not None and tightest.limit_bytes and usage >= 0.9 * tightest.limit_bytes:
        return Finding("cgroup.limits", "warn", f"Near the limit of {tightest.path}", evidence,
                       text + f" Usage is {usage / tightest.limit_bytes:.0%} of the limit.",
                       f"raise the limit of {tightest.path} or find the grower: oomkit top "
                       f"--cgroup {tightest.path}")
    return Finding("cgroup.limits", "ok", f"Tightest limit: {_size(tightest.limit_bytes)} at "
                   f"{tightest.path}", evidence, text)


def _oom_group(s: DoctorSnapshot) -> Finding | None:
    if s.memory_version != 2 or not s.chain:
        if s.memory_version == 1:
            return Finding("cgroup.oom_group", "info", "memory.oom.group needs cgroup v2",
                           "cgroup v1", "On v1 an OOM kill always takes a single process.")
        return None
    grouped: list[CgroupMemory] = [cg for cg in s.chain if cg.oom_group]
    if grouped:
        top = grouped[0]
        return Finding("cgroup.oom_group", "info", f"Group kill set on {top.path}",
                       ", ".join(f"{cg.path}: memory.oom.group=1" for cg in grouped),
                       f"An OOM kill of any task below {top.path} kills every task in it "
                       "(except oom_score_adj -1000) together; the kernel uses the highest "
                       "ancestor with the flag, up to the cgroup that ran out.")
    return Finding("cgroup.oom_group", "ok", "No group kill on this process's cgroups",
                   "memory.oom.group=0 along the chain",
                   "An OOM kill takes one process; its siblings keep running. Set "
                   "memory.oom.group=1 (systemd: OOMPolicy=kill) where a partial job is "
                   "worse than none.")


def cgroup_findings(s: DoctorSnapshot) -> list[Finding]:
    """cgroup.version, cgroup.limits, cgroup.oom_group."""
    out = [_version(s)]
    for f in (_limits(s), _oom_group(s)):
        if f is not None:
            out.append(f)
    return out


def killer_findings(s: DoctorSnapshot) -> list[Finding]:
    """killers.running and, when two run at once, killers.conflict."""
    names = sorted({k for k, _pid in s.killers})
    evidence = ", ".join(f"{k} (pid {pid})" for k, pid in s.killers) or "none of earlyoom, " \
        "nohang, systemd-oomd, oomd is running"
    if not names:
        out = [Finding("killers.running", "info", "No userspace OOM killer", evidence,
                       "Only the kernel acts, and only when reclaim has failed, which on a "
                       "machine with swap can follow minutes of thrashing.",
                       "systemctl enable --now systemd-oomd (needs cgroup v2 and PSI), or "
                       "install earlyoom")]
    else:
        out = [Finding("killers.running", "ok", f"Userspace killer: {', '.join(names)}",
                       evidence, "A userspace killer acts on free memory or pressure before "
                       "the kernel has to; its kills are not in /proc/vmstat oom_kill.")]
    if len(names) > 1:
        out.append(Finding("killers.conflict", "warn", f"{len(names)} userspace killers at once",
                           evidence, "They watch the same signals and each may kill on its "
                           "own; two kills for one shortage, or a race over the victim, "
                           "are likely.", f"keep one: e.g. systemctl disable --now "
                           f"{names[-1] if names[-1] != 'systemd-oomd' else names[0]}"))
    return out


def kill_counts(s: DoctorSnapshot) -> list[Finding]:
    """kills.since_boot: /proc/vmstat oom_kill vs the kills found in the logs."""
    count = s.vmstat.get("oom_kill")
    if count is None:
        return [Finding("kills.since_boot", "info", "Kernel keeps no kill count",
                        "/proc/vmstat has no oom_kill (kernel before 4.13)",
                        "Kills can only be counted from the kernel log.")]
    text = ("/proc/vmstat oom_kill counts every process the kernel OOM killer killed since "
            "boot, memory cgroup kills included (userspace killers are not counted).")
    if s.log_kills is None:
        return [Finding("kills.since_boot", "info" if count else "ok",
                        f"{count} kernel OOM kills since boot", f"oom_kill {count}", text,
                        "oomkit why lists them" if count else None)]
    evidence = f"oom_kill {count}; kills found in the logs this boot: {s.log_kills}"
    if s.log_kills < count:
        return [Finding("kills.since_boot", "warn", f"{count - s.log_kills} kills not in the logs",
                        evidence, text + " Some kills left no line that could be read: the "
                        "ring buffer wrapped, the journal rate-limited or rotated, or the log "
                        "is not readable.", "increase the journal size (SystemMaxUse=) or the "
                        "kernel log buffer (log_buf_len=)")]
    return [Finding("kills.since_boot", "info" if count else "ok",
                    f"{count} kernel OOM kills since boot, all in the logs", evidence, text)]

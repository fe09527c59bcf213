"""The checks of `oomkit doctor`: pure functions DoctorSnapshot -> findings.

Sources: mm/util.c ``__vm_enough_memory`` and ``vm_commit_limit`` (overcommit),
Documentation/mm/overcommit-accounting.rst, admin-guide/sysctl/vm.rst,
accounting/psi.rst, cgroup-v2.rst / cgroup-v1/memory.rst, mm/oom_kill.c
(panic_on_oom, oom_kill_allocating_task, oom_dump_tasks). Ids are documented
in docs/doctor.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from oomkit.doctor import DoctorSnapshot
from oomkit.doctor_cgroups import cgroup_findings, kill_counts, killer_findings
from oomkit.models import Finding


def _mib(kb: float) -> str:
    return f"{kb / 1024:,.0f} MiB"


def _int(snap: DoctorSnapshot, name: str) -> int | None:
    value = snap.sysctls.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _persist(name: str, value: int | str) -> str:
    return (f"sysctl -w {name}={value}; to keep it, put {name} = {value} in "
            f"/etc/sysctl.d/90-oomkit.conf")


def overcommit_mode(s: DoctorSnapshot) -> list[Finding]:
    """vm.overcommit_memory, explained the right way round (proc(5); kernel-oom.md 3.1)."""
    mode = _int(s, "vm.overcommit_memory")
    ram_swap = s.meminfo.get("MemTotal", 0) + s.meminfo.get("SwapTotal", 0)
    if mode == 0:
        return [Finding(
            "overcommit.mode", "ok", "vm.overcommit_memory = 0 (heuristic)",
            "vm.overcommit_memory = 0",
            "Mode 0, heuristic: since Linux 5.2 the kernel refuses only a single request larger "
            f"than RAM + swap ({_mib(ram_swap)}); there is no running total. Memory is taken "
            "when it is first touched, and when RAM and swap are exhausted the OOM killer picks "
            "a victim.")]
    if mode == 1:
        return [Finding(
            "overcommit.mode", "info", "vm.overcommit_memory = 1 (always allow)",
            "vm.overcommit_memory = 1",
            "Mode 1, always overcommit: the kernel never checks, so allocations never fail "
            "for lack of memory. Nothing is reserved up front either (pages still come on first "
            "touch); running out ends in the OOM killer instead of an ENOMEM the program could "
            "handle. Some databases (Redis) ask for this mode for fork-based snapshots.",
            _persist("vm.overcommit_memory", 0) + " (if nothing here needs mode 1)")]
    if mode == 2:
        return [Finding(
            "overcommit.mode", "info", "vm.overcommit_memory = 2 (strict accounting)",
            "vm.overcommit_memory = 2",
            "Mode 2, never overcommit: every accounted allocation (private writable mappings, "
            "brk, stack, shmem) fails with ENOMEM once Committed_AS would pass CommitLimit, "
            "even if most of it would never be touched. MAP_NORESERVE is ignored in this mode. "
            "Processes without CAP_SYS_ADMIN also leave admin_reserve_kbytes free.")]
    return [Finding("overcommit.mode", "info", "vm.overcommit_memory unreadable",
                    f"vm.overcommit_memory = {s.sysctls.get('vm.overcommit_memory')}",
                    "The overcommit policy could not be read.")]


def commit_limit(s: DoctorSnapshot) -> list[Finding]:
    """CommitLimit (vm_commit_limit) vs Committed_AS, and what would fail under mode 2."""
    m = s.meminfo
    if "CommitLimit" not in m or "Committed_AS" not in m:
        return []
    mode = _int(s, "vm.overcommit_memory")
    ratio = _int(s, "vm.overcommit_ratio") or 50
    kbytes = _int(s, "vm.overcommit_kbytes") or 0
    swap = m.get("SwapTotal", 0)
    hugetlb = m.get("Hugetlb", m.get("HugePages_Total", 0) * m.get("Hugepagesize", 0))
    if kbytes:
        formula = f"overcommit_kbytes {kbytes} kB + SwapTotal {swap} kB"
        expected = kbytes + swap
    else:
        formula = (f"(MemTotal {m['MemTotal']} kB - hugetlb {hugetlb} kB) x {ratio} / 100 "
                   f"+ SwapTotal {swap} kB")
        expected = (m["MemTotal"] - hugetlb) * ratio // 100 + swap
    limit, committed = m["CommitLimit"], m["Committed_AS"]
    used = committed / limit if limit else 0.0
    evidence = (f"CommitLimit {limit} kB = {formula} (computed {expected} kB); "
                f"Committed_AS {committed} kB ({used:.0%} of CommitLimit)")
    base = ("Committed_AS is the memory programs have been promised (accounted in every mode, "
            "not what they use); CommitLimit is shown always but enforced only in mode 2.")
    fix = ("raise vm.overcommit_ratio (e.g. " + _persist("vm.overcommit_ratio", 80)
           + "), set vm.overcommit_kbytes, or add swap")
    if mode == 2:
        if used >= 0.9:
            return [Finding(
                "overcommit.commit_limit", "warn", "Mode 2: commitments near CommitLimit",
                evidence, f"{base} Only {_mib(max(limit - committed, 0))} of commitments are "
                "left: new allocations and forks of large processes fail with ENOMEM when "
                "they run out.", fix)]
        return [Finding("overcommit.commit_limit", "ok", "Mode 2: commitments within CommitLimit",
                        evidence, f"{base} {_mib(limit - committed)} of commitments are left.")]
    if committed > limit:
        return [Finding(
            "overcommit.commit_limit", "info", "Mode 2 would refuse allocations now",
            evidence, f"{base} Under mode 2 with these settings Committed_AS is already "
            f"{_mib(committed - limit)} over CommitLimit: every new accounted allocation "
            "(malloc of a new arena, fork of a big process, private writable mmap) would fail "
            "with ENOMEM.", "before switching to mode 2: " + fix)]
    return [Finding(
        "overcommit.commit_limit", "ok", "Commitments fit under CommitLimit", evidence,
        f"{base} Switching to mode 2 now would leave {_mib(limit - committed)} of headroom.")]


def swap(s: DoctorSnapshot) -> list[Finding]:
    """Swap devices: none, zram, disk; sizes, use and priorities (/proc/swaps)."""
    if not s.swaps:
        return [Finding(
            "swap", "info", "No swap",
            f"/proc/swaps lists no device; SwapTotal {s.meminfo.get('SwapTotal', 0)} kB",
            "Without swap, anonymous memory can never leave RAM: under pressure the kernel can "
            "only drop page cache, so the machine thrashes on file pages and then OOM-kills "
            "sooner. A small zram device is a cheap cushion.",
            "modprobe zram && zramctl --find --size 2G (prints /dev/zramN); mkswap /dev/zramN; "
            "swapon -p 100 /dev/zramN (or install systemd-zram-generator)")]
    zram = {z.name: z for z in s.zram}
    parts = []
    for d in s.swaps:
        name = d.filename.rsplit("/", 1)[-1]
        kind = "zram" if name in zram else d.type
        z = zram.get(name)
        if z is not None and z.algorithm:
            kind += f", {z.algorithm}"
        if z is not None and z.orig_bytes and z.mem_used_bytes:
            kind += f", {z.orig_bytes / z.mem_used_bytes:.1f}:1"
        pct = d.used_kb / d.size_kb if d.size_kb else 0.0
        parts.append(f"{d.filename} ({kind}) {_mib(d.size_kb)}, {pct:.0%} used, "
                     f"priority {d.priority}")
    total = sum(d.size_kb for d in s.swaps)
    used = sum(d.used_kb for d in s.swaps)
    text = ("Devices with a higher priority are used first; equal priorities are used "
            "round-robin.")
    if zram:
        text += (" zram swap is compressed RAM: it stretches memory by the compression ratio "
                 "but does not free RAM the way disk swap does, so it should have the highest "
                 "priority.")
    if total and used / total >= 0.9:
        return [Finding("swap", "warn", "Swap almost full", "; ".join(parts),
                        text + " When swap is full, anonymous memory is stuck in RAM and the "
                        "next shortage ends in an OOM kill.", "add swap, or find the grower: "
                        "oomkit top --interval 5")]
    return [Finding("swap", "ok", f"Swap: {_mib(total)}, {_mib(used)} used", "; ".join(parts),
                    text)]


def zswap(s: DoctorSnapshot) -> list[Finding]:
    """zswap: a compressed cache in front of a swap device (Documentation/admin-guide/mm/zswap.rst)."""
    if s.zswap is None:
        return []
    p = s.zswap
    on = p.get("enabled", "N").upper() in ("Y", "1")
    evidence = ", ".join(f"{k}={p[k]}" for k in ("enabled", "compressor", "zpool",
                                                  "max_pool_percent") if k in p)
    if not on:
        return [Finding("swap.zswap", "info", "zswap off", evidence,
                        "zswap would keep compressed copies of pages headed for swap in RAM, "
                        "saving disk I/O; it needs a swap device behind it.")]
    if not s.swaps:
        return [Finding("swap.zswap", "warn", "zswap on, but no swap device", evidence,
                        "zswap only caches pages on their way to a swap device; with no swap "
                        "it never stores anything.", "add a swap device or disable zswap: "
                        "echo N > /sys/module/zswap/parameters/enabled")]
    if s.zram:
        return [Finding("swap.zswap", "warn", "zswap in front of zram", evidence,
                        "Pages are compressed by zswap, then again by zram: double work, "
                        "little gain. Use one of the two.",
                        "echo N > /sys/module/zswap/parameters/enabled (or zswap.enabled=0 "
                        "on the kernel command line)")]
    return [Finding("swap.zswap", "ok", "zswap on", evidence,
                    f"Pages headed for swap are compressed into a RAM pool of at most "
                    f"{p.get('max_pool_percent', '?')}% of RAM first.")]


def mem_available(s: DoctorSnapshot) -> list[Finding]:
    """MemAvailable vs MemTotal (fs/proc/meminfo.c, si_mem_available)."""
    avail, total = s.meminfo.get("MemAvailable"), s.meminfo.get("MemTotal")
    if avail is None or not total:
        return []
    share = avail / total
    text = ("MemAvailable is the kernel's estimate of memory that new work can get without "
            "swapping: free pages above the watermarks plus the reclaimable share of page cache "
            "and slab. It is a heuristic (no kernel decision uses it) but a far better single "
            "number than MemFree.")
    evidence = (f"MemAvailable {avail} kB of MemTotal {total} kB ({share:.0%}); MemFree "
                f"{s.meminfo.get('MemFree', 0)} kB")
    if share < 0.1:
        return [Finding("memory.available", "warn", f"Only {share:.0%} of memory available",
                        evidence, text, "oomkit top shows who holds it")]
    return [Finding("memory.available", "ok", f"{share:.0%} of memory available", evidence, text)]


def psi(s: DoctorSnapshot) -> list[Finding]:
    """/proc/pressure/memory (Documentation/accounting/psi.rst)."""
    if s.psi is None:
        return [Finding("psi.memory", "info", "PSI unavailable", "/proc/pressure/memory absent "
                        "or unreadable",
                        "Pressure stall information measures time lost waiting for memory; this "
                        "kernel lacks CONFIG_PSI or was booted with psi=0 "
                        "(CONFIG_PSI_DEFAULT_DISABLED). systemd-oomd needs it.",
                        "add psi=1 to the kernel command line (GRUB_CMDLINE_LINUX) and reboot")]
    some, full = s.psi.some, s.psi.full
    evidence = f"some avg10={some.avg10} avg60={some.avg60} avg300={some.avg300}"
    if full is not None:
        evidence += f"; full avg10={full.avg10} avg60={full.avg60} avg300={full.avg300}"
    text = ("'some' is the share of wall time in which at least one task waited for memory "
            "(reclaim, swap-in, refaults); 'full' is the share in which every non-idle task "
            "waited at once, i.e. the machine was thrashing. Averages over 10, 60, 300 s.")
    if some.avg60 >= 10 or (full is not None and full.avg60 >= 5):
        return [Finding("psi.memory", "warn", "Memory pressure is high", evidence, text,
                        "find the grower: oomkit top --interval 5")]
    return [Finding("psi.memory", "ok", "Memory pressure is low", evidence, text)]


def oom_sysctls(s: DoctorSnapshot) -> list[Finding]:
    """vm.panic_on_oom, vm.oom_kill_allocating_task, vm.oom_dump_tasks, kernel.dmesg_restrict."""
    out = []
    panic = _int(s, "vm.panic_on_oom")
    if panic is not None:
        if panic == 0:
            out.append(Finding("vm.panic_on_oom", "ok", "OOM kills, does not panic",
                               "vm.panic_on_oom = 0", "An OOM kills one process (the OOM "
                               "killer's choice) and the machine keeps running."))
        else:
            what = ("every OOM, including a memory cgroup reaching its limit, panics the kernel"
                    if panic == 2 else "a system-wide OOM panics the kernel; OOMs inside a "
                    "memory cgroup, cpuset or mempolicy still kill a process")
            out.append(Finding("vm.panic_on_oom", "warn", f"OOM panics the machine (mode {panic})",
                               f"vm.panic_on_oom = {panic}", f"With {panic}, {what}. Useful "
                               "on clusters that fail over; elsewhere it turns one runaway "
                               "process into a reboot.", _persist("vm.panic_on_oom", 0)))
    alloc = _int(s, "vm.oom_kill_allocating_task")
    if alloc is not None:
        out.append(Finding("vm.oom_kill_allocating_task", "ok", "OOM killer picks by badness",
                           "vm.oom_kill_allocating_task = 0", "The OOM killer scans every task "
                           "and kills the one with the highest badness.") if alloc == 0 else
                   Finding("vm.oom_kill_allocating_task", "warn", "OOM kills whoever asked last",
                           f"vm.oom_kill_allocating_task = {alloc}", "A system-wide OOM kills "
                           "the task whose allocation failed, without a scan: cheap on huge "
                           "machines, but the victim is often a small bystander while the "
                           "grower lives on. Memory cgroup OOMs still scan.",
                           _persist("vm.oom_kill_allocating_task", 0)))
    dump = _int(s, "vm.oom_dump_tasks")
    if dump is not None:
        out.append(Finding("vm.oom_dump_tasks", "ok", "Kill reports include the task table",
                           "vm.oom_dump_tasks = 1", "Each OOM report lists every candidate "
                           "(pid, rss, swap, page tables, oom_score_adj); oomkit why uses it.")
                   if dump else
                   Finding("vm.oom_dump_tasks", "warn", "Kill reports lack the task table",
                           "vm.oom_dump_tasks = 0", "OOM reports keep the oom-kill: summary "
                           "and the Killed process line but omit the table of candidates, so "
                           "nobody can tell afterwards who else was using memory.",
                           _persist("vm.oom_dump_tasks", 1)))
    restrict = _int(s, "kernel.dmesg_restrict")
    if restrict is not None:
        out.append(Finding("kernel.dmesg_restrict", "info" if restrict else "ok",
                           "Kernel log needs privilege" if restrict else "Kernel log readable",
                           f"kernel.dmesg_restrict = {restrict}",
                           "Reading the kernel log (dmesg, /dev/kmsg) needs CAP_SYSLOG, so kill "
                           "reports are visible only to root." if restrict else
                           "Any user can read the kernel log, kill reports included.",
                           "run oomkit why as root, or read journalctl -k as a member of "
                           "systemd-journal/adm" if restrict else None))
    return out


def zfs_arc(s: DoctorSnapshot) -> list[Finding]:
    """The ZFS ARC (openzfs: module/zfs/arc.c; arcstats ``size``, ``c_min``, ``c_max``).

    The ARC is ZFS's cache, kept apart from the kernel's page cache: /proc/meminfo counts it
    in no Cached or MemAvailable field (openzfs/zfs#10255), and it gives memory back to the
    kernel's shrinker only down to c_min and not always as fast as a burst asks.
    """
    if s.arc is None or "size" not in s.arc:
        return []
    size, c_min, c_max = s.arc["size"], s.arc.get("c_min"), s.arc.get("c_max")
    total_kb = s.meminfo.get("MemTotal")
    share = size / 1024 / total_kb if total_kb else None
    evidence = (f"arcstats size {size} B, c_min {c_min} B, c_max {c_max} B"
                + (f"; MemTotal {total_kb} kB, MemAvailable {s.meminfo.get('MemAvailable')} kB"
                   if total_kb else ""))
    text = ("The ZFS ARC is ZFS's own cache, outside the page cache: MemAvailable does not count "
            "it, so the machine looks fuller than it is to free, to anything that reads "
            "MemAvailable (earlyoom, for one) and to oomkit's own warnings. Under pressure it "
            "shrinks, but only down to c_min, and not always as fast as a burst of allocations "
            "asks, so the OOM killer can act while the ARC still holds memory.")
    of_ram = f" ({share:.0%} of RAM)" if share is not None else ""
    title = f"ZFS ARC holds {_mib(size / 1024)}{of_ram}" + (
        f", up to {_mib(c_max / 1024)}" if c_max else "")
    fix = ("cap it: echo BYTES > /sys/module/zfs/parameters/zfs_arc_max now, and "
           "`options zfs zfs_arc_max=BYTES` in /etc/modprobe.d/zfs.conf to keep it")
    big = share is not None and share >= 0.25
    return [Finding("zfs.arc", "warn" if big else "info", title, evidence, text,
                    fix if big or (c_max and total_kb and c_max / 1024 >= total_kb / 2) else None)]


Check = Callable[[DoctorSnapshot], Sequence[Finding]]

CHECKS: tuple[Check, ...] = (
    overcommit_mode, commit_limit, swap, zswap, mem_available, psi, oom_sysctls,
    zfs_arc, cgroup_findings, killer_findings, kill_counts,
)

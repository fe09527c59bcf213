"""What a machine's report says beyond its victim: a request that fragmentation, not a
shortage, failed; the NUMA nodes a cpuset or memory policy bound it to; systemd-oomd's swap
reason in sizes. And the remedies of each. Pure."""

from __future__ import annotations

import re

from oomkit.explain_remedies import own_cgroup_remedy
from oomkit.models import OomEvent
from oomkit.units import human_kb

# The constraints of an OOM outside any memory cgroup that is not the whole machine's
# (mm/oom_kill.c, constrained_alloc): the allocation could use only some NUMA nodes.
_NODE_CONSTRAINTS = {"CONSTRAINT_CPUSET": "cpuset", "CONSTRAINT_MEMORY_POLICY": "memory policy"}


def constrained_nodes(event: OomEvent) -> str | None:
    """"NUMA nodes 4 (cpuset)" for an OOM of only the nodes a cpuset or a memory policy
    allowed, else None."""
    how = _NODE_CONSTRAINTS.get(event.constraint or "")
    if how is None:
        return None
    t = event.trigger
    nodes = (t.nodemask if how == "memory policy" and t is not None and t.nodemask
             and t.nodemask != "(null)" else event.mems_allowed)
    return f"NUMA nodes {nodes} ({how})" if nodes else f"some NUMA nodes ({how})"


def fragmentation(event: OomEvent) -> tuple[str, str] | None:
    """(block size, the evidence) when a request of order 1-3 (larger ones never call the
    OOM killer: PAGE_ALLOC_COSTLY_ORDER, mm/page_alloc.c) found no free block that large in
    any Normal zone of the report's free-area lines; None otherwise."""
    t = event.trigger
    page_kb = event.page_size_kb or 4
    normal = [(zone, counts) for zone, counts in event.free_areas if zone.endswith(" Normal")]
    if t is None or not t.order or t.order < 1 or not normal:
        return None
    order = t.order
    if any(sum(counts[order:]) for _, counts in normal):
        return None
    free_kb = sum(n * page_kb << i for _, counts in normal for i, n in enumerate(counts))
    largest = max((i for _, counts in normal for i, n in enumerate(counts) if n), default=None)
    size = human_kb(page_kb << order)
    pieces = (f"all in blocks of {human_kb(page_kb << largest)} or less" if largest is not None
              else "none")
    return size, (
        f"The request was order {order} ({2 ** order} contiguous pages, {size}), and no Normal"
        f" zone had a free block that large ({', '.join(z for z, _ in normal)}): their"
        f" {human_kb(free_kb)} of free memory was {pieces}. Reclaim and compaction could not"
        f" make a {size} block in time."
    )


def fragmentation_remedies() -> list[str]:
    return [
        "Let the kernel compact memory before such requests come: `sysctl"
        " vm.compaction_proactiveness=20` (5.9+), or `echo 1 > /proc/sys/vm/compact_memory` to"
        " compact now; a larger vm.min_free_kbytes keeps more free memory for the kernel's own"
        " allocations.",
        "The report's call trace shows what asked for the contiguous block (a fork's kernel"
        " stack, a network or driver buffer); fewer such requests, or a newer kernel, make it"
        " rarer.",
    ]


def machine_remedies(event: OomEvent) -> list[str]:
    out = []
    if event.total_swap_kb == 0:
        out.append(
            "Add swap (a swap file or zram) so rarely used memory can leave RAM:"
            " `fallocate -l 4G /swapfile && chmod 600 /swapfile && mkswap /swapfile &&"
            " swapon /swapfile`."
        )
    out.append(own_cgroup_remedy(event))
    out.append("Add RAM, or run fewer memory-hungry jobs at once.")
    out.append(
        "If you would rather have allocations fail than processes killed, strict"
        " accounting (`sysctl vm.overcommit_memory=2`) refuses memory commitments beyond"
        " CommitLimit (swap + RAM x overcommit_ratio%); programs then see malloc fail and"
        " must handle it. Mode 1 does the opposite: it never refuses."
    )
    return out


def node_remedies(event: OomEvent) -> list[str]:
    """Widen the nodes the allocation may use; more RAM elsewhere does not help it."""
    if event.constraint == "CONSTRAINT_CPUSET":
        first = ("Give the cpuset more memory nodes (cpuset.mems of its cgroup: `docker run"
                 " --cpuset-mems`, systemd's AllowedMemoryNodes=), or move the job to nodes with"
                 " memory free; a node with only a Movable zone serves only movable allocations"
                 " (the header's gfp_mask says which this was).")
    else:
        first = ("Relax the memory policy (`numactl --membind` binds, `--preferred` falls back"
                 " to other nodes; set_mempolicy/mbind in the program), or give the bound nodes"
                 " more free memory.")
    return [first, "Adding RAM or swap elsewhere in the machine does not help an allocation"
                   " bound to these nodes."]


# oomd-manager.c's swap kill: "memory used (%"PRIu64") / total (%"PRIu64") and swap used
# (%"PRIu64") / total (%"PRIu64") being more than %.2f%%", in bytes
_OOMD_SWAP = re.compile(
    r"memory used \((\d+)\) / total \((\d+)\) and swap used \((\d+)\) / total \((\d+)\)"
    r" being more than ([\d.]+%)")


def oomd_reason(reason: str) -> str:
    """systemd-oomd's reason, its byte counts in words."""
    m = _OOMD_SWAP.match(reason)
    if m is None:
        return reason
    mem, total, swap, swap_total = (int(m.group(i)) // 1024 for i in range(1, 5))
    def share(a: int, b: int) -> str:
        return f"{human_kb(a)} of {human_kb(b)}" + (f" ({a * 100 // b}%)" if b else "")
    return (f"memory used {share(mem, total)} and swap used {share(swap, swap_total)}, both"
            f" more than {m.group(5)}")

"""The remedies explain() offers that depend on who owns the cgroup or on the machine,
and the words that name the victim. Pure.

A unit's limit is raised with systemctl, a container's with docker, podman, pct or lxc, a
pod's in its spec, a Slurm job's in its request, a Nomad task's in its job spec, an oomkit
job's with --memory-max; a bare cgroup's by writing its limit file,
named for the version the report shows (a log read here may come from another machine).
"""

from __future__ import annotations

from oomkit.explain_accounting import report_version
from oomkit.models import OomEvent
from oomkit.owner import kube_qos, owner_of
from oomkit.procmodels import CgroupNow, Owner
from oomkit.units import human_kb


def victim_name(event: OomEvent) -> str:
    """How a sentence names the victim: "name (pid N)", or what the log leaves of it."""
    v = event.victim
    if v is None:
        return "a process"
    if v.pid is None and v.name is None:
        return "a process (the log does not name it)"
    name = v.name or "?"
    return f"{name} (pid {v.pid})" if v.pid is not None else name


# What a pod's QoS class says about its memory settings (Kubernetes docs, "Pod Quality
# of Service Classes").
_QOS_MEANS = {
    "BestEffort": ": it had no memory request or limit",
    "Burstable": ": its memory limit is above its request, or some containers have none",
    "Guaranteed": "",
}


def _all_pods_remedy(event: OomEvent, owner: Owner) -> str:
    """The pods on a node share the kubelet's cgroup (its limit: the node's allocatable
    memory, capacity minus kube-reserved and system-reserved), and the kernel kills the
    worst of all of them when they fill it together."""
    pod = owner_of(event.task_memcg)
    qos = kube_qos(event.task_memcg)
    where = ""
    if pod is not None and pod.pod_uid and qos:
        where = f"{victim_name(event)} was in pod {pod.pod_uid} ({qos}{_QOS_MEANS[qos]}). "
    return (
        f"The cgroup of {owner.name} hit the kubelet's limit, so the kernel chose among all of"
        f" their processes. {where}Give each container a memory limit"
        " (resources.limits.memory), so that one that grows is killed alone at its own limit,"
        " and memory requests close to what the pods use, so that the scheduler does not put"
        " more on the node than it holds; or give the node more memory."
    )


def limit_remedy(
    event: OomEvent, owner: Owner | None, now: CgroupNow | None, version: int | None
) -> str:
    """How to raise the limit that was hit, in the tool of whoever owns the cgroup."""
    if owner is not None and owner.kind == "kubernetes-pods":
        return _all_pods_remedy(event, owner)
    version = report_version(event) or (now.version if now is not None else version)
    path = event.memcg or ""
    limit = event.memory.limit_kb if event.memory else None
    # Twice the limit the report shows; without one, SIZE stands for a size above it.
    bigger = f"{max(1, (limit or 0) * 2 // 1024)}M" if limit else "SIZE"
    above = "" if limit else ", SIZE being more than its current limit"
    if owner is not None and owner.kind in ("systemd-unit", "systemd-user-unit") and owner.unit:
        user = " --user" if owner.kind == "systemd-user-unit" else ""
        return (
            f"Raise the unit's limit: `systemctl{user} set-property {owner.unit} MemoryMax={bigger}`"
            f" (or MemoryMax= in the unit file){above}, if the job really needs more."
        )
    if owner is not None and owner.kind in ("docker", "podman") and owner.container:
        tool = owner.kind
        rootless = (f", run as uid {owner.user} (a rootless container: not with sudo)"
                    if owner.user is not None else "")
        return (
            f"Raise the container's limit: `{tool} update --memory {bigger} --memory-swap"
            f" {bigger} {owner.container}`{rootless} (or --memory at `{tool} run`){above}."
        )
    if owner is not None and owner.kind == "oomkit-job" and owner.unit:
        return (
            f"Give the job more memory: `oomkit run --memory-max {bigger} -- CMD` for a run, or"
            f" memory_max = \"{bigger}\" in [programs.NAME] of the supervisor's config, then"
            f" `oomkit ctl restart NAME`{above}; if it really needs more."
        )
    if owner is not None and owner.kind == "ecs":
        which = ("the container's hard limit (memory in its container definition)"
                 if owner.container_id else "the task's memory (memory in the task definition)")
        return (f"Raise {which} and deploy a new revision of the task definition{above},"
                " if it really needs more.")
    if owner is not None and owner.kind in ("lxc", "slurm", "nomad"):
        return _scheduler_remedy(event, owner, limit, above)
    if owner is not None and owner.kind == "kubernetes" and owner.container_id is None:
        # The pod's cgroup: its limit is the sum of its containers' (kubelet, pod-level
        # resources), so a container without its own lower limit filled the pod's.
        return (
            "The limit hit was the pod's, the sum of its containers' limits: raise"
            " resources.limits.memory of the container that grew (most often the victim's) in the pod"
            " spec, and its request with it, if it really needs more; the kubelet reports this"
            " as OOMKilled."
        )
    if owner is not None and owner.kind == "kubernetes":
        return (
            "Raise resources.limits.memory of that container in the pod spec (and the request"
            " with it), if it really needs more; the kubelet reports this as OOMKilled."
        )
    if event.memcg is None:
        return ("Raise the memory limit of that cgroup where it is set (this log does not name"
                " it: the report's `Task in` or `oom-kill:` line is not in it), if the job"
                " really needs more.")
    file = (f"/sys/fs/cgroup/memory{path}/memory.limit_in_bytes` (cgroup v1)" if version == 1
            else f"/sys/fs/cgroup{path}/memory.max` (cgroup v2)")
    how = f"`echo {bigger} > {file}" if limit else f"write a larger size to `{file}"
    return f"Raise the limit: {how}, or change it where the cgroup is created."


def _scheduler_remedy(event: OomEvent, owner: Owner, limit: int | None, above: str) -> str:
    """A limit a container manager or a batch scheduler sets from its own configuration:
    raised there, or it comes back (or a write to its cgroup is refused)."""
    mib = f"{max(1, limit * 2 // 1024)}" if limit else "SIZE"  # MiB, as pct and Nomad take
    if owner.kind == "slurm":
        job = owner.unit or "JOBID"
        size = f"{mib}M" if limit else "SIZE"
        return (
            f"Ask Slurm for more memory when you submit the job again: `#SBATCH --mem={size}`"
            f" (or --mem-per-cpu){above}; the limit is the one Slurm set on the job's cgroup"
            f" from its request. `sacct -j {job} --format=JobID,State,ReqMem,MaxRSS` shows what"
            " each step asked for and used (State OUT_OF_MEMORY where the kernel killed)."
        )
    if owner.kind == "nomad":
        return (
            f"Raise the task's memory in the job spec: `resources {{ memory = {mib} }}` (MB;"
            " or memory_max, with memory oversubscription enabled), then `nomad job run`"
            f"{above}; the client set this limit from it."
        )
    name = owner.container or "NAME"
    if owner.unit:  # a unit of the container's own systemd
        return (
            f"Raise the unit's limit inside the container: `systemctl set-property {owner.unit}"
            f" MemoryMax={mib}M` run in {name} (`pct exec {name} -- ...` on Proxmox VE, `lxc"
            f" exec {name} -- ...` on LXD){above}, if it really needs more."
        )
    if (event.memcg or "").startswith("/lxc/") and name.isdecimal():
        how = (f"`pct set {name} -memory {mib}` (MiB) on Proxmox VE, or"
               " lxc.cgroup2.memory.max in its LXC config")
    else:
        how = (f"`lxc config set {name} limits.memory={mib}MiB` on LXD (`incus config set` on"
               " Incus), or lxc.cgroup2.memory.max (lxc.cgroup.memory.limit_in_bytes on cgroup"
               " v1) in its LXC config")
    return f"Raise the container's memory: {how}{above}; the container manager set this limit."


def own_cgroup_remedy(event: OomEvent) -> str:
    """Put the job in a cgroup of its own, with a size fitted to this machine's RAM when
    the report gives it (a fixed "8G" is more than a Raspberry Pi has)."""
    ram_kb = event.ram_pages * event.page_size_kb if event.ram_pages and event.page_size_kb else None
    if ram_kb:
        kb = ram_kb * 3 // 4
        tenths = kb * 10 // 1048576  # whole tenths of a GiB, rounded down: 2.9G, 18G
        size = (f"{tenths // 10}G" if tenths % 10 == 0 else f"{tenths / 10:.1f}G") if tenths >= 10 \
            else f"{max(1, kb // 1024)}M"
        which = f", three quarters of the {human_kb(ram_kb)} of RAM here"
    else:
        size, which = "SIZE", ", SIZE below the machine's RAM"
    return (f"Run the big job in its own memory cgroup (`oomkit run --memory-max {size} -- CMD`"
            f" or `systemd-run --scope -p MemoryMax={size} CMD`{which}), so it alone fails at"
            " its limit and the rest of the machine keeps running.")

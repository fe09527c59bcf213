"""Who owns a cgroup path: a systemd unit, a user session, a container, a pod. Pure.

The path is what the kernel prints (``task_memcg=``/``oom_memcg=``) or what
``/proc/PID/cgroup`` shows. Layouts recognised, from the runtimes' docs:

* systemd: ``/system.slice/nginx.service``, ``/user.slice/user-1000.slice/
  session-3.scope``, ``.../user@1000.service/app.slice/app-gnome-firefox-1234.scope``,
  ``/machine.slice/systemd-nspawn@x.service`` and ``machine-qemu...scope``;
* Docker: ``/docker/<64 hex>`` (cgroupfs driver) and ``/system.slice/docker-<id>.scope``
  (systemd driver); Podman ``libpod-<id>.scope``; containerd/CRI-O ``cri-containerd-<id>``,
  ``crio-<id>``;
* Kubernetes: ``/kubepods/burstable/pod<uid>/<container id>`` (cgroupfs) and
  ``/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid with _>.slice/
  cri-containerd-<id>.scope`` (systemd); above the pods, the kubelet's cgroup of all
  of them (``/kubepods``, ``/kubepods.slice``), whose limit is the node's allocatable
  memory, and its QoS classes' (``burstable``, ``besteffort``);
* LXC/LXD: ``/lxc/<name>``, ``/lxc.payload.<name>``, ``/lxc.payload/<name>``;
* Amazon ECS: a task in ``/ecs/<task id>`` (cgroup v1) or ``/ecstasks.slice/
  ecstasks-<task id>.slice`` (v2), its containers below it (amazon-ecs-agent,
  ``Task.BuildCgroupRoot``: "Example v1: /ecs/task-id, Example v2: ecstasks-$TASKID.slice").
* LXC (lxc src/lxc/cgroups/cgroup.h, cgfsng.c): ``/lxc/<name>`` (3.0), ``/lxc.payload/<name>``
  (3.1), ``/lxc.payload.<name>`` (4.0+; LXD and Incus name it ``<project>_<name>`` outside
  the default project); Proxmox VE puts a container's limit on ``/lxc/<vmid>`` and its
  processes in ``/lxc/<vmid>/ns/...`` (pve-container LXC.pm: lxc.cgroup.dir.container =
  lxc/$vmid, .inner = ns). Below the container, its own systemd's units.
* Slurm (src/plugins/cgroup/v1/xcgroup.c, v2/cgroup_v2.c): ``/slurm/uid_<uid>/job_<id>/
  step_<step>/task_<n>`` (v1, ``/slurm_<node>`` with several slurmd on a node) and
  ``/system.slice/slurmstepd.scope/job_<id>/step_<step>/user/task_<n>`` (v2).
* HashiCorp Nomad (client/lib/cgroupslib, 1.7+): ``/nomad/<alloc id>.<task>`` (v1) and
  ``/nomad.slice/{share,reserve}.slice/<alloc id>.<task>.scope`` (v2; 1.3-1.6 without the
  partition); before 1.7 the v1 executor named the cgroup ``/nomad/<random uuid>``.
"""

from __future__ import annotations

import re

from oomkit.procmodels import Owner

# The cgroup directory prefix of `oomkit run` jobs and supervised programs
# (jobcgroup.py makes them; here so that reading a path needs no cgroup code).
JOB_PREFIX = "oomkit-job-"

_HEX = r"[0-9a-f]{12,64}"
_POD = re.compile(r"pod(?P<uid>[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})")
_CONTAINER = re.compile(
    rf"(?:(?P<kind>docker|libpod|cri-containerd|crio|containerd)-)?(?P<id>{_HEX})(?:\.scope)?$"
)
# The kubelet's cgroups above the pods (pkg/kubelet/cm/qos_container_manager_linux.go):
# Guaranteed pods sit right under the node's, the others under their class's.
_KUBE_PODS = re.compile(
    r"^/kubepods(?:\.slice)?(?:/kubepods-(?P<s>burstable|besteffort)\.slice|/(?P<f>burstable|besteffort))?$"
)
_QOS = {"burstable": "Burstable", "besteffort": "BestEffort"}
_LXC = re.compile(r"^/lxc(?:\.payload)?[./](?P<name>[^/]+)(?:/(?:ns|payload))?(?P<inner>/.*)?$")
_SLURM = re.compile(
    r"^/slurm(?:_[^/]+)?/uid_(?P<uid>\d+)(?:/job_(?P<job>\d+)(?:/step_(?P<step>[^/]+))?)?"
    r"|/(?:[^/]+_)?slurmstepd\.scope/job_(?P<job2>\d+)(?:/step_(?P<step2>[^/]+))?"
)
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_NOMAD = re.compile(
    rf"^/nomad(?:\.slice)?/(?:(?:share|reserve)(?:\.slice)?/)?(?P<id>{_UUID})"
    r"(?:\.(?P<task>[^/]+?))?(?:\.scope)?$"
)
# A task id is the last part of its ARN: 32 hex digits, a UUID in the old ARN format.
_ECS = re.compile(
    r"^/(?:ecs/|ecstasks\.slice/ecstasks-)(?P<task>[0-9a-f-]{32,36})(?:\.slice)?"
    rf"(?:/(?:docker-)?(?P<cid>{_HEX})(?:\.scope)?)?$"
)
_USER_SLICE = re.compile(r"user-(?P<uid>\d+)\.slice")
_USER_SERVICE = re.compile(r"user@(?P<uid>\d+)\.service")
_UNIT = re.compile(r"[^/]+\.(?:service|scope|socket|mount|swap|slice)$")
# Desktop apps' units (systemd.io/DESKTOP_ENVIRONMENTS): "app[-<launcher>]-<ApplicationID>
# [@<RANDOM>].service" and "app[-<launcher>]-<ApplicationID>-<RANDOM>.scope", a "-" inside
# a part escaped as \x2d; snapd's "snap.<snap>.<app>-<uuid>.scope"; a terminal's tab.
_APP = re.compile(
    r"^app-(?:(?P<launcher>[^-.]+)-)?(?P<id>[^-@]+)(?:@[^.]*\.service|-[^-]+\.scope|\.service)$")
_SNAP = re.compile(r"^snap\.(?P<snap>[^.]+)\.(?P<app>[^.]+?)(?:-[0-9a-f-]{36})?\.(?:scope|service)$")
_SPAWN = {"vte-spawn-": "a GNOME Terminal tab", "tmux-spawn-": "a tmux window"}

_RUNTIME = {
    "docker": "docker",
    "libpod": "podman",
    "cri-containerd": "containerd",
    "containerd": "containerd",
    "crio": "cri-o",
}


def owner_of(path: str | None) -> Owner | None:
    """The owner of a cgroup path, or None for the root or an unknown layout."""
    if not path or path == "/":
        return None
    parts = [p for p in path.split("/") if p]
    leaf = parts[-1]
    node = _KUBE_PODS.match(path)
    if node:
        qos = node.group("s") or node.group("f")
        return Owner(kind="kubernetes-pods", name=f"the node's {_QOS[qos]} Kubernetes pods"
                     if qos else "all Kubernetes pods on the node")
    pod = _POD.search(path)
    if pod and "kubepods" in path:
        uid = pod.group("uid").replace("_", "-")
        cont = _CONTAINER.search(leaf) if not leaf.startswith("kubepods") else None
        cid = cont.group("id") if cont else None
        return Owner(
            kind="kubernetes", name=f"pod {uid}" + (f" container {cid[:12]}" if cid else ""),
            pod_uid=uid, container_id=cid, container=cid[:12] if cid else None,
        )
    if leaf.startswith(JOB_PREFIX) and len(leaf) > len(JOB_PREFIX):
        # A job of `oomkit run` or a program of oomkit's supervisor (jobcgroup.py).
        job = leaf[len(JOB_PREFIX):]
        return Owner(kind="oomkit-job", name=f"oomkit job {job}", unit=job)
    ecs = _ECS.match(path)
    if ecs:
        task, cid = ecs.group("task"), ecs.group("cid")
        return Owner(kind="ecs", name=f"ECS task {task[:12]}" + (
            f" container {cid[:12]}" if cid else ""), unit=task, container_id=cid,
            container=cid[:12] if cid else None)
    lxc = _LXC.match(path)
    if lxc:
        name = lxc.group("name")
        inner = owner_of(lxc.group("inner")) if lxc.group("inner") else None
        if inner is not None and inner.unit and inner.kind != "cgroup":
            # a unit of the container's own systemd (the cgroup namespace's view)
            return Owner(kind="lxc", name=f"{inner.name} in LXC container {name}",
                         container=name, unit=inner.unit)
        return Owner(kind="lxc", name=f"LXC container {name}", container=name)
    slurm = _SLURM.search(path)
    if slurm:
        return _slurm_owner(slurm)
    nomad = _NOMAD.match(path)
    if nomad:
        task = nomad.group("task")
        return Owner(kind="nomad", name=(
            f"Nomad task {task} of allocation {nomad.group('id')[:8]}" if task
            else f"Nomad task with cgroup id {nomad.group('id')[:8]}"), unit=task,
            container=nomad.group("id"))
    for part in reversed(parts):
        m = _CONTAINER.fullmatch(part) or (
            _CONTAINER.search(part) if part.endswith(".scope") else None
        )
        if m and (m.group("kind") or (len(parts) >= 2 and parts[-2] == "docker")):
            runtime = _RUNTIME.get(m.group("kind") or "docker", "docker")
            cid = m.group("id")
            user = _USER_SERVICE.search(path)  # rootless: under the user's manager
            return Owner(
                kind=runtime, name=f"{runtime} container {cid[:12]}", container_id=cid,
                container=cid[:12], unit=part if part.endswith(".scope") else None,
                user=int(user.group("uid")) if user else None,
            )
    user_uid = None
    m = _USER_SERVICE.search(path) or _USER_SLICE.search(path)
    if m:
        user_uid = int(m.group("uid"))
    units = [p for p in parts if _UNIT.fullmatch(p) and not p.endswith(".slice")]
    if "machine.slice" in parts and units:
        return Owner(kind="machine", name=units[-1], unit=units[-1])
    if units:
        unit = units[-1]
        if user_uid is not None and unit.startswith("session-"):
            return Owner(kind="user-session", name=f"{unit} of uid {user_uid}", unit=unit,
                         user=user_uid)
        if user_uid is not None and unit != f"user@{user_uid}.service":
            return Owner(kind="systemd-user-unit", name=f"{app_name(unit) or unit} (user {user_uid})",
                         unit=unit, user=user_uid)
        return Owner(kind="systemd-unit", name=unit, unit=unit, user=user_uid)
    if user_uid is not None:
        return Owner(kind="user-session", name=f"uid {user_uid}", user=user_uid)
    return Owner(kind="cgroup", name=path)


def app_name(unit: str) -> str | None:
    """What a user calls a desktop app's unit: "Flatpak app org.mozilla.firefox", "snap
    firefox", "a GNOME Terminal tab"; None for other units."""
    for prefix, what in _SPAWN.items():
        if unit.startswith(prefix):
            return what
    m = _SNAP.match(unit)
    if m:
        return f"snap {m.group('snap')}"
    m = _APP.match(unit)
    if m is None:
        return None
    app = re.sub(r"\\x([0-9a-fA-F]{2})", lambda x: chr(int(x.group(1), 16)), m.group("id"))
    return f"Flatpak app {app}" if m.group("launcher") == "flatpak" else f"app {app}"


def _slurm_owner(m: re.Match[str]) -> Owner:
    job, step = m.group("job") or m.group("job2"), m.group("step") or m.group("step2")
    uid = int(m.group("uid")) if m.group("uid") else None
    if job is None:
        return Owner(kind="slurm", name=f"Slurm jobs of uid {uid}", user=uid)
    return slurm_step(job, step)._replace(user=uid)


def slurm_step(job: str, step: str | None) -> Owner:
    """The owner Slurm's own note names ("Detected 1 oom_kill event in StepId=191.batch")."""
    return Owner(kind="slurm", name=f"Slurm job {job}" + (f" step {step}" if step else ""),
                 unit=job, container=step)


def kube_qos(path: str | None) -> str | None:
    """The QoS class of the Kubernetes pod a cgroup path is in, from where the kubelet
    put it: under ``besteffort`` or ``burstable``, or right under ``kubepods``
    (Guaranteed). None outside a pod."""
    if not path or "kubepods" not in path or not _POD.search(path):
        return None
    for qos, name in _QOS.items():
        if f"/kubepods-{qos}.slice/" in path or f"/kubepods/{qos}/" in path:
            return name
    return "Guaranteed"

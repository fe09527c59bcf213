"""owner.owner_of: who a cgroup path belongs to, for the layouts the runtimes document.

Paths are as the kernel prints them; the ECS ones are from a public report
(tests/data/kernel_log/public-4.x-ecs-cgroupfs-container-limit-dmesg-T-excerpt) and
from amazon-ecs-agent's own examples ("/ecs/task-id", "ecstasks-$TASKID.slice")."""

from __future__ import annotations

import pytest

from oomkit.owner import owner_of

TASK = "f209da7f990b45b585488946f0eec404"
APPS = "/user.slice/user-1000.slice/user@1000.service/app.slice"
CID = "15e20c7f5997947ffa3adb2b2bff199eea61004e29501677c53751b2c549bb15"


@pytest.mark.parametrize(("path", "kind", "name"), [
    (f"/ecs/{TASK}/{CID}", "ecs", f"ECS task {TASK[:12]} container {CID[:12]}"),
    (f"/ecs/{TASK}", "ecs", f"ECS task {TASK[:12]}"),
    (f"/ecstasks.slice/ecstasks-{TASK}.slice", "ecs", f"ECS task {TASK[:12]}"),
    (f"/ecstasks.slice/ecstasks-{TASK}.slice/docker-{CID}.scope", "ecs",
     f"ECS task {TASK[:12]} container {CID[:12]}"),
    (f"/docker/{CID}", "docker", f"docker container {CID[:12]}"),
    (f"/system.slice/docker-{CID}.scope", "docker", f"docker container {CID[:12]}"),
    ("/system.slice/nginx.service", "systemd-unit", "nginx.service"),
    ("/user.slice/user-1000.slice/session-3.scope", "user-session", "session-3.scope of uid 1000"),
    ("/lxc.payload.web1", "lxc", "LXC container web1"),
    # desktop apps (systemd.io/DESKTOP_ENVIRONMENTS; unit names from public reports)
    (f"{APPS}/app-gnome-google\\x2dchrome-11396.scope", "systemd-user-unit",
     "app google-chrome (user 1000)"),
    (f"{APPS}/app-flatpak-org.mozilla.firefox-4321.scope", "systemd-user-unit",
     "Flatpak app org.mozilla.firefox (user 1000)"),
    (f"{APPS}/app-org.wezfurlong.wezterm@a00df830.service", "systemd-user-unit",
     "app org.wezfurlong.wezterm (user 1000)"),
    (f"{APPS}/snap.firefox.firefox-fbdb6139-4d31-451e-b845-96e8c89993e5.scope",
     "systemd-user-unit", "snap firefox (user 1000)"),
    (f"{APPS}/app-org.gnome.Terminal.slice/vte-spawn-dbb4a75e-031f-480d-924b-5de5af7579d2.scope",
     "systemd-user-unit", "a GNOME Terminal tab (user 1000)"),
    (f"{APPS[:-10]}/session.slice/pipewire.service", "systemd-user-unit",
     "pipewire.service (user 1000)"),
    # Proxmox VE: the limit on /lxc/<vmid>, processes in /lxc/<vmid>/ns (pve-container LXC.pm)
    ("/lxc/703", "lxc", "LXC container 703"),
    ("/lxc/703/ns/system.slice/pulse.service", "lxc", "pulse.service in LXC container 703"),
    ("/lxc.payload/tryit-select/system.slice/lxd.service", "lxc",
     "lxd.service in LXC container tryit-select"),
    ("/lxc.payload.myproj_web1", "lxc", "LXC container myproj_web1"),  # an LXD project's
    # Slurm (src/plugins/cgroup/v1/xcgroup.c, v2/cgroup_v2.c; paths seen on real nodes)
    ("/slurm/uid_2101171/job_280678/step_interactive/task_0", "slurm",
     "Slurm job 280678 step interactive"),
    ("/slurm_gpu021/uid_1609111/job_59120608", "slurm", "Slurm job 59120608"),
    ("/slurm/uid_2687", "slurm", "Slurm jobs of uid 2687"),
    ("/system.slice/slurmstepd.scope/job_1392969/step_0/user/task_0", "slurm",
     "Slurm job 1392969 step 0"),
    ("/system.slice/node7_slurmstepd.scope/job_12/step_batch", "slurm", "Slurm job 12 step batch"),
    # Nomad (client/lib/cgroupslib 1.7+; the v1 executor's random uuid before)
    ("/nomad.slice/share.slice/8f2c1e4a-0b1d-4c55-9e0a-2d6b8c1f0e42.redis.scope", "nomad",
     "Nomad task redis of allocation 8f2c1e4a"),
    ("/nomad/8f2c1e4a-0b1d-4c55-9e0a-2d6b8c1f0e42.web", "nomad",
     "Nomad task web of allocation 8f2c1e4a"),
    ("/nomad/de25a563-2409-843f-08ad-5bc6053df174", "nomad",
     "Nomad task with cgroup id de25a563"),
    ("/oomkit-fixture-3tasks", "cgroup", "/oomkit-fixture-3tasks"),
])
def test_layouts(path: str, kind: str, name: str) -> None:
    owner = owner_of(path)
    assert owner is not None and (owner.kind, owner.name) == (kind, name)


def test_an_ecs_owner_keeps_the_task_and_the_container() -> None:
    owner = owner_of(f"/ecs/{TASK}/{CID}")
    assert owner is not None
    assert (owner.unit, owner.container_id, owner.container) == (TASK, CID, CID[:12])
    # a directory under /ecs that is no task id is just a cgroup
    other = owner_of("/ecs/not-a-task")
    assert other is not None and other.kind == "cgroup"


def test_a_slurm_owner_keeps_job_step_and_uid() -> None:
    owner = owner_of("/slurm/uid_2101171/job_280678/step_batch/task_0")
    assert owner is not None
    assert (owner.unit, owner.container, owner.user) == ("280678", "batch", 2101171)
    # the v2 scope is a systemd unit by its name, but the job in it is Slurm's
    v2 = owner_of("/system.slice/slurmstepd.scope/job_7/step_0/user/task_0")
    assert v2 is not None and v2.kind == "slurm" and v2.unit == "7"
    stepd = owner_of("/system.slice/slurmstepd.scope")  # slurmstepd itself: a unit
    assert stepd is not None and stepd.kind == "systemd-unit"


def test_a_unit_inside_a_container_keeps_the_container() -> None:
    owner = owner_of("/lxc/703/ns/system.slice/pulse.service")
    assert owner is not None and (owner.container, owner.unit) == ("703", "pulse.service")
    bare = owner_of("/lxc/703/ns")
    assert bare is not None and (bare.container, bare.unit) == ("703", None)


def test_an_apps_unit_is_kept_for_the_remedy() -> None:
    owner = owner_of(f"{APPS}/app-gnome-firefox-1234.scope")
    assert owner is not None and owner.unit == "app-gnome-firefox-1234.scope"

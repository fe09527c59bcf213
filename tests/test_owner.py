"""owner.owner_of: who a cgroup path belongs to, for the layouts the runtimes document.

Paths are as the kernel prints them; the ECS ones are from a public report
(tests/data/kernel_log/public-4.x-ecs-cgroupfs-container-limit-dmesg-T-excerpt) and
from amazon-ecs-agent's own examples ("/ecs/task-id", "ecstasks-$TASKID.slice")."""

from __future__ import annotations

import pytest

from oomkit.owner import owner_of

TASK = "f209da7f990b45b585488946f0eec404"
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
    ("/lxc.payload.web1", "lxc", "web1"),
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

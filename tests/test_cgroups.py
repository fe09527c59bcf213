"""cgroups: v2 on a fake tree (this machine has no v2 memory controller), v1 on a fake tree
and live."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from oomkit import cgroups, procfs
from oomkit.procmodels import CgroupMemory

DATA = Path(__file__).parent / "data"
V2_PROC, V2_CG = DATA / "proc" / "v2-zram", DATA / "sys" / "v2-zram" / "fs" / "cgroup"
V1_PROC, V1_CG = DATA / "proc" / "mode2-nopsi", DATA / "sys" / "mode2-nopsi" / "fs" / "cgroup"
PG = "/system.slice/postgresql.service"
DOCKER = ("/system.slice/docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
          ".scope")


def v2() -> cgroups.Hierarchy:
    h = cgroups.find_memory(V2_PROC, V2_CG)
    assert h is not None
    return h


def v1() -> cgroups.Hierarchy:
    h = cgroups.find_memory(V1_PROC, V1_CG)
    assert h is not None
    return h


def test_find_v2_from_mountinfo() -> None:
    h = v2()
    assert (h.version, h.mount, h.root, h.has_memory) == (2, str(V2_CG), "/", True)


def test_find_v1_and_the_systemd_hierarchy() -> None:
    hs = cgroups.hierarchies(V1_PROC, V1_CG)
    assert [(h.version, h.controller) for h in hs] == [(1, "name=systemd"), (1, "memory")]
    assert v1().mount == str(V1_CG / "memory")


def test_probe_layout_without_mountinfo(tmp_path: Path) -> None:
    # a /proc without self/mountinfo: the cgroup root's layout decides
    h = cgroups.find_memory(tmp_path, V2_CG)
    assert h is not None and h.version == 2
    h1 = cgroups.find_memory(tmp_path, V1_CG)
    assert h1 is not None and h1.version == 1 and h1.mount == str(V1_CG / "memory")


def test_path_of_proc_cgroup_lines() -> None:
    assert cgroups.path_of(v2(), procfs.read_cgroup(1700, V2_PROC)) == PG
    assert cgroups.path_of(v1(), procfs.read_cgroup(900, V1_PROC)) == DOCKER


def test_directory_of_a_mounted_subtree() -> None:
    h = cgroups.Hierarchy(1, "/mnt/mem", "/docker/abc", "memory", True)
    assert cgroups.directory(h, "/docker/abc") == "/mnt/mem"
    assert cgroups.directory(h, "/docker/abc/x") == "/mnt/mem/x"
    assert cgroups.directory(h, "/docker/abcd") is None  # a sibling, not below the mount
    assert cgroups.directory(h, "/other") is None


def test_read_v2_memory() -> None:
    cg = cgroups.read_memory(v2(), PG)
    assert cg == CgroupMemory(
        path=PG, version=2, limit_bytes=2 << 30, usage_bytes=1900000000,
        swap_limit_bytes=256 << 20, high_bytes=None, oom_events=3, oom_kills=1, oom_group=True)
    web = cgroups.read_memory(v2(), "/system.slice/web.service")
    assert web is not None and web.swap_limit_bytes == 0 and web.high_bytes == 768 << 20
    root = cgroups.read_memory(v2(), "/")
    assert root is not None and root.limit_bytes is None and root.usage_bytes is None
    assert cgroups.read_memory(v2(), "/gone.service") is None


def test_read_v1_memory() -> None:
    cg = cgroups.read_memory(v1(), DOCKER)
    assert cg is not None
    assert (cg.limit_bytes, cg.memsw_limit_bytes, cg.swap_limit_bytes) == (4 << 30, 5 << 30, 1 << 30)
    assert (cg.swappiness, cg.oom_kills, cg.oom_kill_disable, cg.memsw_accounting) == (
        60, 4, False, True)
    root = cgroups.read_memory(v1(), "/")
    assert root is not None
    assert root.limit_bytes is None  # 9223372036854771712 = PAGE_COUNTER_MAX pages
    assert root.swappiness is None  # the root memcg follows vm.swappiness


def test_page_counter_max_for_64k_pages() -> None:
    assert cgroups._bytes("9223372036854710272", 65536) is None
    assert cgroups._bytes("9223372036854771712", 4096) is None
    assert cgroups._bytes("max", 4096) is None
    assert cgroups._bytes("1073741824", 4096) == 1 << 30


def test_totalpages_v2_adds_swap_max_capped_at_total_swap() -> None:
    cg = cgroups.read_memory(v2(), PG)
    assert cg is not None
    # 2 GiB = 524288 pages + min(256 MiB = 65536 pages, total swap)
    assert cgroups.oom_totalpages(cg, 2097151, vm_swappiness=60, page_size=4096) == 589824
    assert cgroups.oom_totalpages(cg, 1000, vm_swappiness=60, page_size=4096) == 525288
    # swappiness 0: no swap is added (mem_cgroup_swappiness() == 0)
    assert cgroups.oom_totalpages(cg, 2097151, vm_swappiness=0, page_size=4096) == 524288


def test_totalpages_v1_memsw_headroom() -> None:
    cg = cgroups.read_memory(v1(), DOCKER)
    assert cg is not None
    # 4 GiB = 1048576 pages + min(memsw - limit = 262144 pages, total swap 524287)
    assert cgroups.oom_totalpages(cg, 524287, vm_swappiness=30, page_size=4096) == 1310720
    assert cgroups.oom_totalpages(cg, 0, vm_swappiness=30, page_size=4096) == 1048576
    no_swap = CgroupMemory(path="/x", version=1, limit_bytes=1 << 20, usage_bytes=0,
                           swap_limit_bytes=None, swappiness=0, memsw_accounting=True)
    assert cgroups.oom_totalpages(no_swap, 524287, vm_swappiness=60, page_size=4096) == 256
    tiny = CgroupMemory(path="/t", version=2, limit_bytes=0, usage_bytes=0, swap_limit_bytes=0)
    assert cgroups.oom_totalpages(tiny, 0, 60, 4096) == 1  # mem_cgroup_get_max() ?: 1


def test_pids_by_cgroup_and_limited() -> None:
    by_pid = cgroups.pids_by_cgroup(v2())
    assert by_pid[1700] == PG and by_pid[1] == "/init.scope" and by_pid[2000] == "/"
    assert set(cgroups.pids_by_cgroup(v2(), under="/system.slice")) == {612, 1700, 1701, 2300}
    assert [c.path for c in cgroups.limited(v2())] == [
        PG, "/system.slice/web.service", "/user.slice/user-1000.slice/user@1000.service/app.slice"]


def test_chain_root_first() -> None:
    chain = cgroups.chain(v2(), PG)
    assert [c.path for c in chain] == ["/", "/system.slice", PG]
    assert cgroups.ancestry("/a/b") == ["/", "/a", "/a/b"]


def test_current_for_why() -> None:
    # the call `oomkit why` makes: cgroups.current(path, root=<cgroup mount root>)
    now = cgroups.current(PG, root=V2_CG, proc_root=V2_PROC)
    assert now is not None
    assert (now.limit_kb, now.usage_kb, now.version) == (2097152, 1855468, 2)
    assert cgroups.current("/system.slice/gone.service", root=V2_CG, proc_root=V2_PROC) is None
    v1now = cgroups.current(DOCKER, root=V1_CG, proc_root=V1_PROC)
    assert v1now is not None and v1now.version == 1 and v1now.limit_kb == 4 << 20


@pytest.fixture
def live_memcg() -> Iterator[tuple[cgroups.Hierarchy, str]]:
    """A fresh live memory cgroup with a 48 MiB limit, removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create a memory cgroup")
    h = cgroups.find_memory()
    if h is None:
        pytest.skip("no memory cgroup controller mounted")
    name = f"oomkit-test-cg-{uuid.uuid4().hex[:8]}"
    d = Path(h.mount) / name
    d.mkdir()
    try:
        limit = "memory.max" if h.version == 2 else "memory.limit_in_bytes"
        (d / limit).write_text(str(48 << 20))
        yield h, "/" + name
    finally:
        d.rmdir()


@pytest.mark.live
def test_live_hierarchy_and_own_cgroup() -> None:
    h = cgroups.find_memory()
    if h is None:
        pytest.skip("no memory cgroup controller mounted")
    path = cgroups.path_of(h, procfs.read_cgroup("self"))
    assert path is not None
    cg = cgroups.read_memory(h, path)
    assert cg is not None and cg.version == h.version
    assert cg.usage_bytes is not None and cg.usage_bytes > 0
    assert os.getpid() in {p for p, c in cgroups.pids_by_cgroup(h).items() if c == path}


@pytest.mark.live
def test_live_limit_and_totalpages(live_memcg: tuple[cgroups.Hierarchy, str]) -> None:
    h, path = live_memcg
    cg = cgroups.read_memory(h, path)
    assert cg is not None and cg.limit_bytes == 48 << 20
    swap_pages = procfs.read_meminfo()["SwapTotal"] * 1024 // procfs.PAGE_SIZE
    tp = cgroups.oom_totalpages(cg, swap_pages, 60)
    assert tp >= (48 << 20) // procfs.PAGE_SIZE
    if swap_pages == 0:
        assert tp == (48 << 20) // procfs.PAGE_SIZE
    assert path in [c.path for c in cgroups.limited(h)]
    now = cgroups.current(path)
    assert now is not None and now.limit_kb == 48 * 1024 and now.version == h.version

"""Explanations: correct per the kernel docs, fitted to the case, never the common myths."""

from __future__ import annotations

import re

import pytest

from oomkit.explain import explain
from oomkit.explain_accounting import rss_beyond_charge
from oomkit.explain_memory import fragmentation
from oomkit.kernel_log import parse_stream, parse_text
from oomkit.kernel_log.systemd_units import noted_only
from oomkit.models import Killer, OomEvent
from oomkit.owner import owner_of
from oomkit.units import human_kb
from tests.conftest import KERNEL_LOGS, fixture_logs

# Claims that are wrong for current kernels (docs/kernel-oom.md section 7).
MYTHS = [
    r"(?<![\d.])3 ?%", "root processes", "growth rate raises", "grows fastest", "score is 0",
    "mode 1 is strict", "overcommit_memory=1 refuses", "memory.high kill", "failcnt counts",
    "sacrifice child on this kernel",
]


def events(name: str) -> list[OomEvent]:
    with (KERNEL_LOGS / name).open("rb") as f:
        return list(parse_stream(f, name))


def kills(name: str) -> list[OomEvent]:
    """The kernel's reports, without systemd's notes of the same kills (systemd_units.py)."""
    return [e for e in events(name) if not noted_only(e)]


@pytest.mark.parametrize("path", fixture_logs(), ids=lambda p: p.name)
def test_no_myths_in_any_explanation(path: object) -> None:
    for e in events(path.name):  # type: ignore[attr-defined]
        x = explain(e, owner=owner_of(e.memcg), cgroup_version=1)
        text = " ".join([x.headline, x.verdict, *x.details, *x.remedies]).lower()
        assert x.verdict
        for myth in MYTHS:
            assert re.search(myth.lower(), text) is None, (path, myth)


def test_memcg_kill_names_the_cgroup_limit_and_how_to_raise_it_on_v1() -> None:
    (e,) = events("local-6.18-memcg-v1-3tasks-adj500-dmesg.log")
    x = explain(e, cgroup_version=1)
    assert "/oomkit-fixture-3tasks reached its limit of 64.0 MiB" in x.verdict
    assert "not out of memory" in x.verdict
    assert any("memory.limit_in_bytes" in r for r in x.remedies)
    assert any("oom_score_adj of 500 made it a preferred victim" in d for d in x.details)
    assert any("grower (pid 3903)" in d and "not the victim" in d for d in x.details)
    assert any("total-vm" in d and "not memory in use" in d for d in x.details)


def test_the_reports_cgroup_version_decides_the_files_named() -> None:
    """A log read here may come from a machine of the other version: the report's own
    lines say which ("swap:" on v2, "memory+swap:" and "kmem:" on v1)."""
    (v1,) = events("local-6.18-memcg-v1-3tasks-adj500-dmesg.log")
    x = explain(v1, cgroup_version=2)
    assert any("/sys/fs/cgroup/memory/oomkit-fixture-3tasks/memory.limit_in_bytes" in r
               for r in x.remedies)
    v2 = events("public-6.5-nixos-cgroupv2-user-app-scope-over-limit.log")[0]
    assert v2.swap is not None and v2.memsw is None
    plain = v2._replace(memcg="/batch/job7")
    x = explain(plain, owner=owner_of(plain.memcg), cgroup_version=1)
    assert any("/sys/fs/cgroup/batch/job7/memory.max` (cgroup v2)" in r for r in x.remedies)
    # A report without those lines: this machine's version, as the caller says.
    bare = v1._replace(memsw=None, kmem=None, swap=None)
    x = explain(bare, cgroup_version=2)
    assert any("/sys/fs/cgroup/oomkit-fixture-3tasks/memory.max" in r for r in x.remedies)


def test_owner_specific_remedies() -> None:
    (e,) = events("local-6.18-memcg-v1-3tasks-adj500-dmesg.log")
    docker = e._replace(memcg="/system.slice/docker-" + "a" * 64 + ".scope")
    x = explain(docker, owner=owner_of(docker.memcg))
    assert any("docker update --memory" in r for r in x.remedies)
    unit = e._replace(memcg="/system.slice/postgresql.service")
    x = explain(unit, owner=owner_of(unit.memcg))
    assert any("systemctl set-property postgresql.service MemoryMax=" in r for r in x.remedies)
    pod = e._replace(memcg="/kubepods/burstable/pod0b7c2a7e-1111-2222-3333-444455556666/" + "b" * 64)
    x = explain(pod, owner=owner_of(pod.memcg))
    assert any("resources.limits.memory" in r for r in x.remedies)
    job = e._replace(memcg="/oomkit-job-nightly-etl")  # `oomkit run` or [programs.NAME]
    owner = owner_of(job.memcg)
    assert owner is not None and owner.kind == "oomkit-job" and owner.unit == "nightly-etl"
    x = explain(job, owner=owner)
    assert "(oomkit job nightly-etl)" in x.verdict
    assert any(r.startswith("Give the job more memory: `oomkit run --memory-max 128M -- CMD`")
               and 'memory_max = "128M" in [programs.NAME]' in r for r in x.remedies)


def test_a_victim_alone_in_its_cgroup_is_not_told_to_protect_itself() -> None:
    """Protecting the only process of a cgroup leaves the kernel nothing to kill there.
    A public report whose table lists only the victim, and one with company."""
    (alone,) = events("public-3.13-ubuntu-memcg-legacy-task-in-cadvisor.log")[-1:]
    assert alone.victim is not None and len(alone.tasks) == 1
    assert not any("oom_score_adj (`oomkit protect" in r for r in explain(alone).remedies)
    (crowd,) = events("local-6.18-memcg-v1-3tasks-adj500-dmesg.log")
    assert any("oom_score_adj (`oomkit protect" in r for r in explain(crowd).remedies)


def test_adj_has_no_effect_in_a_tiny_cgroup() -> None:
    (e,) = events("public-3.13-ubuntu-memcg-legacy-task-in-cadvisor.log")  # 980 kB limit
    assert e.victim is not None
    tiny = e._replace(victim=e.victim._replace(oom_score_adj=500), page_size_kb=4)
    x = explain(tiny)
    assert any("had no effect" in d for d in x.details)


def test_global_oom_without_swap_suggests_swap_and_explains_overcommit_correctly() -> None:
    (e,) = events("public-6.9-nixos-dmesg-grep-oom-filtered.log")[:1]
    x = explain(e._replace(total_swap_kb=0))
    assert "whole machine ran out of memory" in x.verdict
    assert any("Add swap" in r for r in x.remedies)
    overcommit = next(r for r in x.remedies if "overcommit_memory=2" in r)
    assert "Mode 1 does the opposite: it never refuses" in overcommit


def test_sysrq_is_not_called_a_shortage() -> None:
    (e,) = events("public-5.13-ubuntu-sysrq-manual-oom-oomanalyser.log")
    x = explain(e)
    assert x.headline == "OOM killer forced by sysrq"
    assert "did not necessarily run out" in x.verdict


def test_panic_explanations_differ_by_cause() -> None:
    (no_killable,) = events("public-3.19-global-panic-no-killable-all-adj-1000.log")
    assert "found no process it was allowed to kill" in explain(no_killable).verdict
    (sysctl,) = events("public-3.x-centos-sysrq-panic-on-oom-syslogd-wall.log")
    assert "vm.panic_on_oom is set" in explain(sysctl).verdict


def test_userspace_killers_are_not_blamed_on_the_kernel() -> None:
    (e,) = events("public-systemd-oomd-249-journal-killed-due-to-memory-pressure.log")
    x = explain(e, owner=owner_of(e.memcg))
    assert x.verdict.startswith("systemd-oomd killed every process of the cgroup")
    assert "kernel OOM killer was not involved" in x.verdict


def test_human_sizes() -> None:
    assert human_kb(None) == "?"
    assert human_kb(512) == "512 KiB"
    assert human_kb(20480) == "20.0 MiB"
    assert human_kb(3 * 1024 * 1024) == "3.0 GiB"


def test_memory_the_processes_did_not_hold_is_pointed_out() -> None:
    # 6.7, cgroup v2: two rsync processes with 4.5 MiB of RSS in a 32 MiB cgroup whose
    # usage was dirty page cache and slab (the report's stats: anon 0, file_dirty 26 MB).
    kill = next(e for e in events("public-6.7-arch-cgroupv2-user-service-kmem-mail-indented.log")
                if e.complete)
    rss_kb = sum(t.rss_pages or 0 for t in kill.tasks) * 4
    assert kill.page_size_kb == 4
    assert kill.memory is not None and kill.memory.usage_kb == 32768
    x = explain(kill)
    held = [d for d in x.details if d.startswith("Its processes held only")]
    assert held == [held[0]]
    assert f"only {human_kb(rss_kb)} in RAM" in held[0]
    assert f"The other {human_kb(32768 - rss_kb)} was memory none of them mapped" in held[0]
    assert any("memory.stat (file, file_dirty, shmem, slab)" in r for r in x.remedies)


def test_a_tmpfs_file_filling_the_cgroup_is_pointed_out() -> None:
    # Captured here (cgroup v1): dd wrote a tmpfs file in a 32 MiB cgroup; the memory is
    # shmem no process maps, and killing dd gives none of it back.
    for name in ("dmesg", "kmsg"):
        kill, = events(f"local-6.18-memcg-v1-tmpfs-file-{name}.log")
        assert kill.memsw is not None  # a cgroup v1 report
        rss_kb = sum(t.rss_pages or 0 for t in kill.tasks) * 4
        x = explain(kill)
        assert any(d.startswith(f"Its processes held only {human_kb(rss_kb)} in RAM")
                   for d in x.details)
        assert any("memory.stat (cache, shmem, dirty)" in r for r in x.remedies)


@pytest.mark.parametrize("name", [
    "local-6.18-memcg-v1-3tasks-adj500-dmesg.log",  # the processes held the cgroup's memory
    "local-6.18-memcg-v1-shmem-victim-dmesg.log",  # shmem, but mapped by the victim
])
def test_no_such_sentence_when_the_processes_held_the_memory(name: str) -> None:
    for e in events(name):
        assert not any("held only" in d for d in explain(e).details)


def test_no_such_sentence_without_the_page_size() -> None:
    kill = next(e for e in events("public-6.7-arch-cgroupv2-user-service-kmem-mail-indented.log")
                if e.complete)
    assert not any("held only" in d for d in explain(kill._replace(page_size_kb=None)).details)


def test_a_global_oom_says_how_much_ram_the_machine_had() -> None:
    # Raspberry Pi Zero 2 W: "114688 pages RAM", 4 KiB pages (the victim's row against its line)
    kill, = events("public-6.12-raspberrypi-arm64-global-swap-full-pager-cut.log")
    assert kill.ram_pages == 114688 and kill.page_size_kb == 4
    assert "The machine had 448.0 MiB of RAM (114688 pages RAM in the report)." in explain(kill).details
    assert not any("of RAM (" in d for d in explain(kill._replace(page_size_kb=None)).details)


def test_a_full_cgroup_v2_swap_limit_is_said() -> None:
    # Docker --memory 8m on cgroup v2: "swap: usage 8192kB, limit 8192kB, failcnt 1832"
    (kill,) = kills("public-5.15-ubuntu-arm64-docker-cgroupv2-journal-multiline-stats.log")
    assert kill.swap is not None and kill.swap.limit_kb == kill.swap.usage_kb == 8192
    assert ("Its swap limit was 8.0 MiB (usage 8.0 MiB): full, so no more of its memory could"
            " be swapped out.") in explain(kill).details
    # No swap limit ("max"), no sentence: the 6.7 report's "swap: usage 2112kB, limit 9007199254740988kB"
    kill = next(e for e in events("public-6.7-arch-cgroupv2-user-service-kmem-mail-indented.log")
                if e.complete)
    assert kill.swap is not None and kill.swap.limit_kb is None
    assert not any("swap limit" in d for d in explain(kill).details)


AKS = "public-5.15-aks-cgroupv2-node-allocatable-oom-group-npd-syslog.log"


def test_the_kubelets_cgroups_above_the_pods_are_named() -> None:
    from oomkit.owner import kube_qos

    for path, name in [
        ("/kubepods.slice", "all Kubernetes pods on the node"),
        ("/kubepods", "all Kubernetes pods on the node"),
        ("/kubepods/burstable", "the node's Burstable Kubernetes pods"),
        ("/kubepods.slice/kubepods-besteffort.slice", "the node's BestEffort Kubernetes pods"),
    ]:
        owner = owner_of(path)
        assert owner is not None and (owner.kind, owner.name) == ("kubernetes-pods", name)
    uid = "0b7c2a7e-1111-2222-3333-444455556666"
    assert kube_qos(f"/kubepods/besteffort/pod{uid}/" + "c" * 64) == "BestEffort"
    assert kube_qos(f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
                    f"{uid.replace('-', '_')}.slice/cri-containerd-{'d' * 64}.scope") == "Burstable"
    assert kube_qos(f"/kubepods/pod{uid}/" + "e" * 64) == "Guaranteed"
    assert kube_qos("/kubepods.slice") is None and kube_qos("/system.slice/x.service") is None


def test_all_pods_of_a_node_filling_their_cgroup() -> None:
    """A real AKS report: the node's allocatable cgroup was full, the victim's BestEffort
    pod had no limit, and memory.oom.group killed the rest of its container."""
    (e,) = kills(AKS)  # node-problem-detector's quotes of the kill lines are no kills
    assert (e.memcg, e.victim and e.victim.pid) == ("/kubepods.slice", 7788)
    assert [v.pid for v in e.extra_victims] == [7620, 7656, 7657, 7712]
    x = explain(e, owner=owner_of(e.memcg), cgroup_version=1)
    assert "(all Kubernetes pods on the node) reached its limit of 7.1 GiB" in x.verdict
    text = " ".join(x.remedies)
    assert "pod a5d8fdd1-1369-469e-8a7d-2c1047529435 (BestEffort: it had no memory" in text
    assert "resources.limits.memory" in text
    assert "memory.max" not in text and "limit_in_bytes" not in text  # not an echo
    assert "Guaranteed" in text and "OOMScoreAdjust=" not in text


PG = "public-5.14-rhel9-global-postgres-shmem-dmesg-T-fr-locale.log"
KWIN = "public-5.8-ubuntu-global-kernlog-filerss-victim-not-trigger.log"


def test_mem_info_counters_are_read_from_lines_and_from_one_joined_line() -> None:
    (pg,) = events(PG)
    assert (pg.slab_unreclaimable_pages, pg.shmem_pages, pg.hugepages_kb) == (36644, 1127599, 0)
    # rsyslog joined show_free_areas()'s lines into one, with #012 for each newline.
    (rh,) = [e for e in events("public-3.10-rhel7-global-rsyslog-012-oomanalyser.log")
             if e.global_oom][:1]
    assert (rh.slab_unreclaimable_pages, rh.shmem_pages) == (13708, 87896)
    (pi,) = events("public-6.12-raspberrypi-arm64-global-swap-full-pager-cut.log")
    assert pi.hugepages_kb is None  # no hugepages lines in that excerpt: not 0


def test_a_global_oom_names_the_ram_its_processes_could_not_give_back() -> None:
    (pg,) = events(PG)
    x = explain(pg)
    assert any(d.startswith("Of the 16.0 GiB of RAM, 4.3 GiB was shared memory (shmem")
               for d in x.details)
    assert any("ipcs -m" in r for r in x.remedies)
    # 960 MiB of slab in 16 GiB is under a tenth: not worth a sentence.
    (kwin,) = events(KWIN)
    assert not any(d.startswith("Of the") for d in explain(kwin).details)


def test_a_global_oom_with_free_swap_does_not_say_swap_was_exhausted() -> None:
    (pg,) = events(PG)  # 1.6 GiB of 2.0 GiB swap free
    assert "although swap still had 1.6 GiB free" in explain(pg).verdict
    assert "swap were exhausted" not in explain(pg).verdict
    (kwin,) = events(KWIN)  # Free swap  = 0kB
    assert "RAM and swap were exhausted" in explain(kwin).verdict


def test_a_task_table_adding_up_to_more_than_the_ram_is_explained() -> None:
    (pg,) = events(PG)  # three postmasters of 3.5 GiB RSS each, mostly shared buffers
    assert any(d.startswith("The processes' RSS adds up to 55.8 GiB, more than the RAM")
               for d in explain(pg).details)
    (kwin,) = events(KWIN)  # 88% of RAM: nothing to explain
    assert not any("adds up to" in d for d in explain(kwin).details)


def test_a_cgroup_whose_processes_hold_more_rss_than_its_charge_is_explained() -> None:
    """Captured here: file-reader mapped 48 MiB of page cache another cgroup had paid for;
    the table adds up to 126 MiB in a 64 MiB cgroup (32,249 pages: sh 391, file-reader
    15,908, anon-grower 15,950), which reads as impossible unless said."""
    (e,) = events("local-6.18-memcg-v1-filerss-uncharged-dmesg.log")
    (detail,) = [d for d in explain(e).details if d.startswith("Together")]
    assert detail.startswith("Together the cgroup's processes had 126.0 MiB of RSS, more than"
                             " the 64.0 MiB charged to it")
    assert "file-reader (pid 4077) had 54.6 MiB of file pages in its RSS" in detail
    # Four processes of one Python, its pages in each RSS: 84.6 MiB in 64 MiB, nobody's
    # file pages big enough to name.
    (adj,) = events("local-6.18-memcg-v1-3tasks-adj500-dmesg.log")
    (detail,) = [d for d in explain(adj).details if d.startswith("Together")]
    assert "had 84.6 MiB of RSS, more than the 64.0 MiB" in detail
    assert "(pid" not in detail
    # 20,764 kB in 20,480 kB and 250,228 kB in 307,112 kB: within a tenth, nothing to say
    for e in events("public-4.8-gentoo-docker-memcg-two-ooms-reaper-cadvisor.log"):
        assert e.global_oom is False and e.tasks
        assert not any(d.startswith("Together") for d in explain(e).details)
    (g,) = events(KWIN)  # a global OOM: the RAM, not a charge, is the measure
    assert not any(d.startswith("Together") for d in explain(g).details)


def test_the_own_cgroup_remedy_is_sized_to_the_machines_ram() -> None:
    """A fixed 8G was offered to a 448 MiB Raspberry Pi; three quarters of the RAM the
    report shows, in a size `oomkit run` and systemd both read."""
    (pi,) = events("public-6.12-raspberrypi-arm64-global-swap-full-pager-cut.log")
    (r,) = [r for r in explain(pi).remedies if "its own memory cgroup" in r]
    assert "`oomkit run --memory-max 336M -- CMD`" in r and "MemoryMax=336M" in r
    assert "three quarters of the 448.0 MiB of RAM here" in r
    (r,) = [r for r in explain(events(PG)[0]).remedies if "its own memory cgroup" in r]
    assert "--memory-max 11.9G" in r  # 16.0 GiB (a little less in pages), rounded down
    undated = events(PG)[0]._replace(ram_pages=None)
    (r,) = [r for r in explain(undated).remedies if "its own memory cgroup" in r]
    assert "--memory-max SIZE" in r and "SIZE below the machine's RAM" in r


def test_the_victims_swap_is_said_since_it_counts_in_the_badness() -> None:
    """The Pi's victim had 124.8 MiB in swap (31,936 swapents) beside 119.4 MiB of anon:
    its RSS alone reads smaller than the score the kernel ranked it by."""
    (pi,) = events("public-6.12-raspberrypi-arm64-global-swap-full-pager-cut.log")
    (held,) = [d for d in explain(pi).details if d.startswith("python held")]
    assert held.endswith("Another 124.8 MiB of its memory was in swap.")
    (e,) = events("local-6.18-memcg-v1-3tasks-adj500-dmesg.log")  # no swap on that machine
    assert not any("in swap" in d for d in explain(e).details)


def test_a_nohang_kill_tells_the_victims_memory_and_cgroup_even_unnamed() -> None:
    (e,) = events("public-nohang-0.1-journal-victim-details.log")
    x = explain(e)
    assert x.verdict == ("nohang killed a process (the log does not name it) in the cgroup"
                         " /user.slice/user-1000.slice/session-3.scope: sent SIGKILL.")
    assert x.details[0].startswith("The victim held 8.7 GiB of anonymous memory")
    assert x.details[0].endswith("Another 371.0 MiB of its memory was in swap.")


def test_a_victim_mostly_of_file_pages_is_told_what_they_are() -> None:
    """Captured here: file-reader mlock()ed 48 MiB of a file it read; kwin_x11 (public)
    had 9.5 GiB of file pages. Both were ranked by them."""
    (e,) = events("local-6.18-memcg-v1-filerss-mlock-victim-dmesg.log")
    assert any(d.startswith("Most of it was file pages") and "locked with mlock" in d
               for d in explain(e).details)
    (kwin,) = events(KWIN)
    assert any(d.startswith("Most of it was file pages") for d in explain(kwin).details)
    (adj,) = events("local-6.18-memcg-v1-3tasks-adj500-dmesg.log")  # 23.6 MiB anon, 6.6 file
    assert not any(d.startswith("Most of it") for d in explain(adj).details)


def test_a_cut_report_does_not_claim_the_whole_machine_ran_out() -> None:
    """The k8s excerpt ends before the victim line; whether a cgroup limit or the machine
    ran out is unknown, so the choice is not said to be machine-wide."""
    _, e = events("public-3.10-rhel7-k8s-memcg-dmesg-T-score0-child.log")  # the second report
    assert e.global_oom is None
    x = explain(e)
    assert any("highest badness in the cgroup or machine that ran out" in d for d in x.details)
    assert not any("in the machine:" in d for d in x.details)


def test_oom_kill_allocating_task_is_not_explained_as_a_badness_choice() -> None:
    """vm.oom_kill_allocating_task=1 (public, linux-mm 2016): the kernel killed whoever
    was allocating, compared nothing; it is never a cgroup limit."""
    first, second = events("public-4.7-rc3-oom-kill-allocating-task-bare-lines-linux-mm.log")
    for e in (first, second):
        x = explain(e)
        assert "vm.oom_kill_allocating_task is set" in x.verdict
        assert "This was not a cgroup limit" in x.verdict
        assert not any("highest badness" in d for d in x.details)
        assert not any("does not say whether a cgroup limit" in d for d in x.details)
        assert x.remedies[0].startswith("To have the kernel kill the process with the highest")
        assert not any("the next-highest process then dies" in r for r in x.remedies)
    assert second.victim is not None and second.victim.name == "trinity-c156"


def test_unreclaimable_slab_caches_of_the_report_are_named() -> None:
    """Public 5.4 arm64 report: a panic with nothing killable, and the kernel's slab dump
    (printed only when unreclaimable slab outgrows the LRU) led by kmemleak_object."""
    panic = [e for e in events(SLAB) if e.kind.value == "panic"][-1]
    assert panic.slab_caches[:3] == (("kmemleak_object", 2449340), ("skbuff_head_cache", 106265),
                                     ("kmalloc-512", 94124))
    x = explain(panic)
    # its free-area lines give the page size (4 KiB), so the slab is weighed against the RAM
    (slab,) = [d for d in x.details if "kmemleak_object 2.3 GiB, skbuff_head_cache 103.8 MiB" in d]
    assert "Of the 7.8 GiB of RAM, 3.0 GiB was unreclaimable kernel slab" in slab
    unsized = explain(panic._replace(page_size_kb=None)).details  # the RAM not known in kB
    (listed,) = [d for d in unsized if d.startswith("The kernel listed its unreclaimable slab")]
    assert "Its biggest caches: kmemleak_object 2.3 GiB, skbuff_head_cache 103.8 MiB" in listed
    assert "or had been killed already" in x.verdict
    assert any("slabtop" in r for r in x.remedies)
    assert not any("-1000 on everything" in r for r in x.remedies)  # not what happened here
    (other,) = events("local-6.18-memcg-v1-3tasks-adj500-dmesg.log")  # no slab dump: nothing
    assert other.slab_caches == () and not any("slab" in d for d in explain(other).details)


SLAB = "public-5.4-arm64-global-panic-unreclaimable-slab-kmemleak-mail-wrapped.log"
NIXOS = "public-6.5-nixos-cgroupv2-user-app-scope-over-limit.log"


def test_a_memory_max_written_below_the_usage_is_told_and_the_writer_is_not_an_allocator() -> None:
    """`tee` wrote a memory.max 215 MiB below the scope's usage: two kills, then nothing
    left to kill (memory_max_write in mm/memcontrol.c); tee is in no task table."""
    *kills, last = events(NIXOS)  # in log order: two kills, then the empty table
    assert [e.kind.value for e in kills] == ["oom_kill", "oom_kill"]
    for e in kills:
        x = explain(e)
        (lowered,) = [d for d in x.details if "lowered below what the cgroup held" in d]
        assert "a write to memory.max, here by tee (pid 492129), which is not in the cgroup" in lowered
        assert not any("could not be satisfied" in d for d in x.details)
    isolated = explain(kills[1])  # 97.2 MiB of file pages, 148 KiB of shmem
    assert "Isolated Web Co" in isolated.verdict
    assert not any(d.startswith("Most of it was shared memory") for d in isolated.details)
    x = explain(last)
    assert x.verdict.endswith("(it held no process: its task table is empty).")
    assert any(d.startswith("Its usage (692.7 MiB) was above its limit (476.8 MiB)")
               for d in x.details)
    assert any(d.startswith("Its 692.7 MiB of usage was memory no process in it held")
               for d in x.details)
    assert any("memory.stat (file, shmem, kernel)" in r for r in x.remedies)
    assert not any("-1000" in r for r in x.remedies)


def test_a_cgroup_with_only_a_thread_in_it_has_nothing_to_kill() -> None:
    """Captured here (v1): one non-leader thread charged 16 MiB of pipe buffers; the task
    table, which lists processes, is empty. v1 refuses a limit below usage, so no
    lowered-limit reading."""
    first, _ = events("local-6.18-memcg-v1-no-killable-dmesg.log")
    assert first.tasks_listed and not first.tasks
    x = explain(first)
    assert "its task table is empty" in x.verdict
    assert any("16.0 MiB of it kernel memory (the report's kmem line)" in d for d in x.details)
    assert not any("lowered" in d for d in x.details)
    assert any("memory.stat (cache, shmem, dirty)" in r for r in x.remedies)


def test_a_victim_mostly_of_shared_memory_is_still_told_so() -> None:
    (e,) = events("local-6.18-memcg-v1-shmem-victim-dmesg.log")  # 36 MiB shmem of 50 MiB
    assert any(d.startswith("Most of it was shared memory") for d in explain(e).details)


def test_a_limit_above_the_victims_own_cgroup_is_said() -> None:
    """The kernel walks the whole subtree of the cgroup that hit its limit
    (mem_cgroup_scan_tasks): processes outside the victim's own cgroup competed."""
    (e,) = kills("public-5.15-aks-cgroupv2-k8s-burstable-pod-syslog.log")
    assert any(d.startswith("The limit was that of pod 5931aa75-4603-4e65-b552-7c71cf55cfb5,"
                            " above the victim's own cgroup (pod 5931aa75-4603-4e65-b552-"
                            "7c71cf55cfb5 container 25a38b5b8d55)") for d in explain(e).details)
    (same,) = events("local-6.18-memcg-v1-3tasks-adj500-dmesg.log")  # memcg == task_memcg
    assert not any(d.startswith("The limit was") for d in explain(same).details)


def test_another_programs_quote_of_a_kill_line_is_no_kill() -> None:
    """node-problem-detector logs the kernel's kill lines as its own messages; before, the
    burstable-pod report gained a second, partial kill from its line."""
    assert len(kills("public-5.15-aks-cgroupv2-k8s-burstable-pod-syslog.log")) == 1
    assert len(kills(AKS)) == 1


def test_a_limit_the_log_does_not_show_is_not_echoed_as_words() -> None:
    """Before: `echo a larger value > ...memory.max` and `MemoryMax=a larger value`."""
    (e,) = events("local-6.18-memcg-v1-3tasks-adj500-dmesg.log")
    bare = e._replace(memory=None, memsw=None, kmem=None, swap=None)
    (raw,) = [r for r in explain(bare, cgroup_version=2).remedies if r.startswith("Raise")]
    assert raw.startswith("Raise the limit: write a larger size to `/sys/fs/cgroup/")
    unit = bare._replace(memcg="/system.slice/pg.service")
    (cmd,) = [r for r in explain(unit, owner=owner_of(unit.memcg)).remedies
              if r.startswith("Raise")]
    assert "MemoryMax=SIZE`" in cmd and "SIZE being more than its current limit" in cmd
    assert all("a larger value" not in r for r in [raw, cmd])


def test_the_victim_lines_message_alone_tells_global_from_memcg() -> None:
    """An excerpt of just the victim lines (a ratelimited report, or a paste): the kernel's
    message says which path killed: out_of_memory()'s "Out of memory" or
    mem_cgroup_out_of_memory()'s "Memory cgroup out of memory"."""
    (e,) = kills("public-4.x-journal-ru-locale-victim-lines.log")
    assert e.global_oom is True and e.constraint is None
    x = explain(e, owner=owner_of(e.memcg), cgroup_version=2)
    assert "whole machine" in x.verdict
    assert any('"Out of memory"' in d and "cpuset" in d for d in x.details)
    memcg = [e for e in kills("public-5.4-memcg-npd480-victim-line.log") if e.victim]
    assert memcg and all(e.global_oom is False for e in memcg)
    # with the rest of a global report in the log, the caveat is not needed
    (full,) = [e for e in kills("public-5.8-ubuntu-global-kernlog-filerss-victim-not-trigger.log")
               if e.victim]
    text = explain(full, owner=owner_of(full.memcg), cgroup_version=2).details
    assert not any("cannot be ruled out" in d for d in text)


def test_a_victim_without_its_kill_line_is_sized_from_its_row() -> None:
    """A ratelimited or cut report names the victim in "Kill process ... score" only; its
    task-table row still says how big it was (in pages: their size is then assumed)."""
    text = (
        "[112950.724489] [20990] 10002 20990   374912    52161     582    81262"
        "             0 firefox\n"
        "[112950.724502] [29075] 10002 29075  8427463  3939146   15686  4003496"
        "             0 python3\n"
        "[112950.724524] Out of memory: Kill process 29075 (python3) score 959 or sacrifice child\n"
    )
    (e,) = parse_text(text)
    assert e.victim is not None and e.victim.anon_rss_kb is None  # never filled in
    x = explain(e, owner=None, cgroup_version=2)
    row = next(d for d in x.details if "row in the task table" in d)
    assert human_kb(3939146 * 4) in row and human_kb(4003496 * 4) in row and "assumed" in row


def test_a_table_with_an_unreadable_row_is_not_summed() -> None:
    """A row lost to a hand edit would make the table's RSS look smaller than it was."""
    path = KERNEL_LOGS / "local-6.18-memcg-v1-filerss-uncharged-dmesg.log"
    text = path.read_text()
    (whole,) = parse_text(text)
    assert whole.tasks_skipped == 0 and rss_beyond_charge(whole) is not None
    edited = text.replace("    16853    15908     1920", "    16853    159x8     1920")
    (e,) = parse_text(edited)
    assert e.tasks_skipped == 1 and len(e.tasks) == 2
    assert any("could not be read" in n for n in e.notes)
    assert rss_beyond_charge(e) is None


def test_an_ecs_containers_limit_is_raised_in_its_task_definition() -> None:
    (e,) = kills("public-4.x-ecs-cgroupfs-container-limit-dmesg-T-excerpt.log")
    owner = owner_of(e.memcg)
    assert owner is not None and owner.kind == "ecs"
    x = explain(e, owner=owner, cgroup_version=1)
    assert any("container definition" in r and "task definition" in r for r in x.remedies)
    assert "ECS task f209da7f990b container 15e20c7f5997" in x.verdict


def test_a_cgroup_the_log_does_not_name_gets_no_made_up_path() -> None:
    """A cgroup OOM whose `Task in`/`oom-kill:` lines are not in the log: the remedy said
    `echo ... > /sys/fs/cgroup/memory?/memory.limit_in_bytes`."""
    (e,) = events("local-6.18-memcg-v1-3tasks-adj500-dmesg.log")
    unnamed = e._replace(memcg=None, task_memcg=None)
    for version in (1, 2):
        (raw,) = [r for r in explain(unnamed, cgroup_version=version).remedies
                  if r.startswith("Raise")]
        assert "/sys/fs/cgroup" not in raw and "?" not in raw
        assert "does not name it" in raw


def test_a_thread_scored_is_not_called_a_child() -> None:
    """3.10 scored threads: `Kill process 76756 (java)` then `Killed process 76513 (java)`,
    whose row is the table's only one. A parent giving up a child is a listed process."""
    (e,) = kills("public-3.10-centos7-docker-memcg-thread-scored-messages-excerpt.log")
    assert e.victim is not None and e.victim.pid == 76513 and e.victim.score == 1001
    assert e.victim.uid == 0  # from its row: the 3.10 victim line prints no UID
    assert any("a thread of java (76513)" in n for n in e.notes)
    assert not any("child" in n for n in e.notes)
    # the scored task listed as a process of its own: a child sacrifice, as before
    text = (KERNEL_LOGS / "public-3.10-centos7-docker-memcg-thread-scored-messages-excerpt.log"
            ).read_text()
    row = next(line for line in text.splitlines() if "[76513]" in line)
    parent = row.replace("[76513]", "[76756]").replace(" 76513 ", " 76756 ")
    (c,) = [x for x in parse_text(text.replace(row, parent + "\n" + row)) if not noted_only(x)]
    assert c.victim is not None and c.victim.score is None
    assert any("killed its child java (76513)" in n for n in c.notes)


def _remedies(e: OomEvent) -> str:
    return " ".join(explain(e, owner=owner_of(e.memcg) or owner_of(e.task_memcg)).remedies)


def test_a_container_managers_limit_is_raised_in_its_tool() -> None:
    """LXD owns /lxc.payload/<name>, Proxmox VE /lxc/<vmid>: an echo into their cgroup is
    undone (or refused) by them; a unit inside the container is raised inside it."""
    (lxd,) = kills("public-4.4-lxd-payload-task-in-inner-unit-dmesg-excerpt.log")
    text = _remedies(lxd)
    assert "`lxc config set tryit-select limits.memory=122MiB`" in text and "echo" not in text
    pve = [e for e in kills("public-6.x-proxmox-lxc-inner-service-journal-filtered.log") if e.memcg]
    (unit,) = pve
    text = _remedies(unit)
    assert "`systemctl set-property pulse.service MemoryMax=" in text and "pct exec 703" in text
    (ct,) = kills("public-4.4-lxd-payload-task-in-inner-unit-dmesg-excerpt.log")
    proxmox = ct._replace(memcg="/lxc/105", task_memcg="/lxc/105/ns/system.slice/nginx.service")
    assert "`pct set 105 -memory 122`" in _remedies(proxmox)


def test_a_nomad_task_is_named_by_its_stats_line_and_raised_in_its_job_spec() -> None:
    """No `Task in` line in the excerpt: the first `Memory cgroup stats for` names the
    cgroup whose limit was hit."""
    es = kills("public-4.15-gcp-nomad-exec-memcg-stats-named-journal-excerpt.log")
    assert [e.memcg for e in es] == ["/nomad/15b142be-b338-92d8-fbe1-021811106d22",
                                     "/nomad/de25a563-2409-843f-08ad-5bc6053df174"]
    assert all(e.victim is not None and e.victim.uid == 33 for e in es)  # from the rows
    text = _remedies(es[0])
    assert "`resources { memory = SIZE }`" in text and "/sys/fs/cgroup" not in text


def test_slurms_counts_are_kills_of_their_job_step() -> None:
    (e,) = kills("public-slurm-21.08-job-stderr-stepid-cgroup-bash-killed.log")
    assert e.slurm is not None and (e.slurm.job, e.slurm.step, e.slurm.oom_kills) == (
        "191", "batch", 1)
    assert e.victim is None and not e.complete
    x = explain(e)
    assert "Slurm counted an OOM kill in job 191, step batch" in x.verdict
    text = " ".join(x.remedies)
    assert "`#SBATCH --mem=SIZE`" in text and "sacct -j 191" in text
    # a step's count repeated as it grows is one event with the last count
    (grown,) = kills("public-slurm-new-stepd-log-cumulative-counts-cut.log")
    assert grown.slurm is not None and grown.slurm.oom_kills == 5
    assert grown.time.wall is None and grown.time.raw == "2025-10-16T08:52:15.650"
    assert "5 OOM kills" in explain(grown).verdict
    steps = kills("public-slurm-21.08-srun-stderr-two-steps.log")
    assert sorted(e.slurm.step for e in steps if e.slurm) == ["0", "batch"]
    # srun's "task 0: Out Of Memory" after the .0 step's count names its node
    assert {e.slurm.step: e.host for e in steps if e.slurm} == {"0": "o0616", "batch": None}
    (zero,) = [e for e in steps if e.slurm and e.slurm.step == "0"]
    assert any("compute node o0616:" in r for r in explain(zero).remedies)
    (old,) = kills("public-slurm-old-step-cgroup-two-kills.log")
    assert old.slurm is not None and old.slurm[:3] == ("3756240", "batch", 2)


def test_a_slurm_jobs_kernel_report_is_raised_in_the_job_request() -> None:
    (e,) = events("local-6.18-memcg-v1-3tasks-adj500-dmesg.log")
    job = e._replace(memcg="/slurm/uid_1000/job_4242/step_batch",
                     task_memcg="/slurm/uid_1000/job_4242/step_batch/task_0")
    text = _remedies(job)
    assert "`#SBATCH --mem=128M`" in text and "sacct -j 4242" in text
    assert "echo" not in text


def test_a_victim_the_reaper_could_not_reap_is_said() -> None:
    """oom_reaper gave up on pid 132 (it held its mmap lock): its memory was not freed then."""
    (e,) = kills("public-5.0-kdump-global-oom-reaper-unable-to-reap-linux-mm.log")
    assert e.victim is not None and e.victim.pid == 132 and e.reaped is None
    (note,) = [n for n in e.notes if "unable to reap" in n]
    assert "systemd-udevd's memory" in note and "another victim" in note
    ram = next(d for d in explain(e).details if d.startswith("The machine had 256.0 MiB of RAM"))
    assert "131.9 MiB of it (33769 pages reserved) was set aside at boot" in ram
    # a machine with little reserved says nothing of it
    (other,) = [e for e in kills("public-5.8-ubuntu-global-kernlog-filerss-victim-not-trigger.log")
                if e.victim]
    assert not any("set aside at boot" in d for d in explain(other).details)


def test_bashs_killed_line_before_slurms_count_is_told_not_taken_for_the_victim() -> None:
    for name, pid, cmd in (
            ("public-slurm-21.08-job-stderr-stepid-cgroup-bash-killed.log", 8156, "python3 main.py"),
            ("public-slurm-21.08-job-stdout-bash-killed-single-space.log", 24509, "memgrab -s 10")):
        (e,) = kills(name)
        assert e.victim is None and e.slurm is not None
        (note,) = e.notes
        assert f"bash reported pid {pid} Killed" in note and cmd in note
        assert any(d.startswith(f"bash reported pid {pid}") for d in explain(e).details)
    # far from Slurm's count, or with no count after it, a bash line tells nothing
    lines = [f"/var/spool/slurmd/job00938/slurm_script: line 15: {900 + i} Killed x" for i in range(3)]
    assert parse_text("\n".join(lines) + "\n") == []
    far = ["/var/spool/slurmd/job00938/slurm_script: line 15: 24509 Killed memgrab"] + [
        f"[{i}.000000] Killed process {i} (x)" for i in range(1, 12)] + [
        "slurmstepd: error: Detected 1 oom-kill event(s) in StepId=938.batch cgroup."]
    (note_only,) = [e for e in parse_text("\n".join(far) + "\n") if e.slurm]
    assert note_only.notes == ()


def test_an_earlyoom_kill_that_did_not_take_is_not_called_a_kill() -> None:
    """earlyoom waits for its victim: "process N did not exit", "kill failed: Timer expired"."""
    for name in ("public-earlyoom-1.9-status-bullets-did-not-exit-kill-failed.log",
                 "public-earlyoom-1.8-journal-nohost-did-not-exit-twice.log"):
        (e,) = events(name)
        assert e.victim_exited is False
        x = explain(e)
        assert x.verdict.startswith("earlyoom tried to kill") and "did not exit" in x.verdict
        assert x.headline == "earlyoom could not kill"
        assert any("SIGKILL limits" in r for r in x.remedies)
    gone = [e for e in events("public-earlyoom-1.2-stdout-killing-with-signal.log")
            if e.victim_exited]
    assert gone and "exited 1.9 s after the signal" in " ".join(explain(gone[0]).details)


def test_systemd_oomd_kills_known_from_systemds_note_or_without_a_reason() -> None:
    from oomkit.why import absorb_unit_notes, merge_duplicates

    (note,) = events("public-systemd-pid1-oomd-killed-service-note-only.log")
    assert note.killer is Killer.SYSTEMD_OOMD and note.units == ("copr-dist-git.service",)
    assert "killed every process of the unit copr-dist-git.service" in explain(note).verdict
    marked = events("public-systemd-oomd-marked-no-reason-user-manager-note.log")
    (kill,) = absorb_unit_notes(merge_duplicates(marked))  # systemd-oomd's line and the note
    assert kill.reason is None and kill.memcg and kill.memcg.endswith("0ae8dde6.scope")
    assert "systemd counted 2104 processes killed in the unit" in kill.notes
    assert "due to" not in explain(kill).verdict
    assert any("reason" in m for m in kill.missing)


def test_a_systemd_oomd_swap_kill_is_told_in_sizes_with_its_own_remedy() -> None:
    e = events("public-systemd-oomd-journal-swap-used-total-4kills.log")[0]
    x = explain(e)
    assert ("due to memory used 15.0 GiB of 15.3 GiB (97%) and swap used 1.8 GiB of 2.0 GiB"
            " (92%), both more than 90.00%") in x.verdict
    assert any("SwapUsedLimit=" in r for r in x.remedies)
    assert not any("ManagedOOMMemoryPressureLimit" in r for r in x.remedies)


def test_a_rootless_podman_container_is_raised_as_its_user() -> None:
    """crun puts a rootless container's processes in .../libpod-<id>.scope/container: the
    limit on the scope is the container's own, not one "above the victim's cgroup"."""
    (e,) = events("local-6.18-memcg-v1-3tasks-adj500-dmesg.log")
    scope = ("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-"
             "fffd37123f33f09b0d26b19bdb5012786a5ebf28c905e436ec5ca1dbf188bcea.scope")
    rootless = e._replace(memcg=scope, task_memcg=scope + "/container")
    owner = owner_of(scope)
    assert owner is not None and (owner.kind, owner.user) == ("podman", 1000)
    x = explain(rootless, owner=owner)
    assert any("run as uid 1000 (a rootless container: not with sudo)" in r for r in x.remedies)
    assert not any("above the victim's own cgroup" in d for d in x.details)
    # a pod's limit above its container's is still said
    (pod,) = [e for e in kills("public-5.15-aks-cgroupv2-k8s-burstable-pod-syslog.log") if e.victim]
    assert pod.memcg != pod.task_memcg
    assert any("above the victim's own cgroup" in d
               for d in explain(pod, owner=owner_of(pod.memcg)).details)


def test_a_pods_own_limit_is_said_to_be_the_sum_of_its_containers() -> None:
    (pod,) = [e for e in kills("public-5.15-aks-cgroupv2-k8s-burstable-pod-syslog.log") if e.victim]
    text = _remedies(pod)
    assert "The limit hit was the pod's, the sum of its containers' limits" in text
    ctr = pod._replace(memcg=pod.task_memcg)  # the container's own limit
    assert "Raise resources.limits.memory of that container" in _remedies(ctr)
    assert "the sum of its containers" not in _remedies(ctr)


def test_an_oom_of_the_nodes_a_cpuset_allowed_is_not_the_machines() -> None:
    """A container pinned to a node of only a Movable zone: 124 GiB free there, and the
    kernel's non-movable allocation could not use it (Feng Tang's report)."""
    (e,) = [e for e in kills("public-5.8-cpuset-movable-only-node-docker-lkml-patch.log")
            if e.victim and e.complete]
    assert e.constraint == "CONSTRAINT_CPUSET" and e.mems_allowed == "4"
    x = explain(e)
    assert x.headline == "NUMA nodes 4 (cpuset) out of memory"
    assert "not the whole machine's" in x.verdict and "whole machine ran out" not in x.verdict
    assert any("cpuset-mems" in r for r in x.remedies)
    assert not any(r.startswith("Add RAM") or "overcommit" in r for r in x.remedies)
    assert any("among the processes allowed there" in d for d in x.details)


def test_panic_on_oom_2_on_a_memcg_oom_that_looks_global() -> None:
    """3.10 dumps the machine's Mem-Info before panicking with panic_on_oom=2, even for a
    memcg OOM: only the call trace (mem_cgroup_oom_synchronize) says whose it was."""
    (e,) = events("public-3.10-memcg-compulsory-panic-on-oom-looks-global-linux-mm.log")
    assert e.global_oom is False
    x = explain(e)
    assert x.verdict.startswith("A memory cgroup reached its limit and the kernel panicked")
    assert "panic_on_oom=2 panics on every OOM" in x.verdict


def test_a_high_order_request_without_a_free_block_that_large_is_fragmentation() -> None:
    """order=2 on a 128 GB host: both Normal zones had only 4 and 8 KiB free blocks."""
    (e,) = kills("public-4.4-ubuntu-kvm-host-order2-fragmentation-syslog-forum.log")
    assert e.trigger is not None and e.trigger.order == 2
    x = explain(e)
    assert "16 KiB of contiguous memory could not be served" in x.verdict
    assert "whole machine ran out" not in x.verdict
    assert any("no Normal zone had a free block that large" in d and "8 KiB or less" in d
               for d in x.details)
    assert any("compaction_proactiveness" in r for r in x.remedies)
    # an order-0 request, or a zone with such a block left, is not fragmentation
    assert fragmentation(e._replace(trigger=e.trigger._replace(order=0))) is None
    roomy = tuple((z, (*c[:2], 1, *c[3:])) for z, c in e.free_areas)
    assert fragmentation(e._replace(free_areas=roomy)) is None


def test_a_global_oom_says_whose_process_the_victim_was() -> None:
    (e,) = [e for e in kills("public-5.8-ubuntu-global-kernlog-filerss-victim-not-trigger.log")
            if e.victim]
    details = explain(e, owner=owner_of(e.task_memcg)).details
    assert any(d.startswith("kwin_x11 (pid 18006) ran in session-27.scope of uid 1000 (cgroup")
               for d in details)
    talos = next(e for e in kills("public-5.x-talos-talosctl-dmesg-node-prefix-excerpt.log")
                 if e.victim)
    assert "udevd (pid 1448) ran in the cgroup /system/runtime." in explain(talos).details


def test_a_report_cut_before_its_victim_names_who_asked_for_memory() -> None:
    e = kills("public-4.19-gke-cloud-logging-copy-headers-only.log")[0]
    assert e.victim is None
    assert explain(e).verdict.startswith(
        "The kernel OOM killer was invoked when containerd asked for memory; the log is cut")


def test_a_scored_task_of_another_name_without_a_table_may_be_a_thread_or_a_parent() -> None:
    """ClickHouse names its threads ("AsyncBlockInput"): "Kill process 16959
    (AsyncBlockInput) ... or sacrifice child", then "Killed process 19079 (clickhouse-serv)",
    and no task table to tell which. Before 2.6.36 ("or a child") it was a child."""
    (e,) = kills("public-3.x-clickhouse-thread-name-scored-messages-no-table.log")
    (note,) = [n for n in e.notes if "scored" in n]
    assert "a child it gave up" in note and "the process the scored thread belonged to" in note
    old = [e for e in kills("public-2.6.31-ubuntu-global-kill-child-syslog.log") if e.notes]
    assert old and all("killed its child" in n for e in old for n in e.notes if "scored" in n)

"""What the parser must read from particular real reports (values checked against the text)."""

from __future__ import annotations

import gzip

from oomkit.kernel_log import parse_stream, parse_text
from oomkit.models import EventKind, Killer, OomEvent
from tests.conftest import KERNEL_LOGS


def events(name: str) -> list[OomEvent]:
    with (KERNEL_LOGS / name).open("rb") as f:
        return list(parse_stream(f, name))


def test_memcg_three_tasks_adj500_victim_is_not_the_allocator() -> None:
    (e,) = events("local-6.18-memcg-v1-3tasks-adj500-dmesg.log")
    assert e.kind is EventKind.OOM_KILL
    assert e.complete
    assert e.victim is not None
    assert (e.victim.pid, e.victim.name, e.victim.oom_score_adj) == (3901, "big worker 1", 500)
    assert (e.victim.anon_rss_kb, e.victim.file_rss_kb, e.victim.total_vm_kb) == (24192, 6728, 34648)
    assert e.trigger is not None
    assert (e.trigger.name, e.trigger.pid, e.trigger.gfp_mask, e.trigger.gfp_flags) == (
        "grower", 3903, "0xcc0", "GFP_KERNEL")
    assert e.constraint == "CONSTRAINT_MEMCG"
    assert e.memcg == e.task_memcg == "/oomkit-fixture-3tasks"
    assert e.memory is not None
    assert (e.memory.limit_kb, e.memory.usage_kb) == (65536, 65536)
    assert e.memsw is not None
    assert e.memsw.limit_kb is None  # 9007199254740988kB = PAGE_COUNTER_MAX: no limit
    assert [t.name for t in e.tasks] == ["sh", "cache-small", "big worker 1", "grower"]
    assert e.tasks[2].rss_anon_pages == 6048
    assert e.page_size_kb == 4


def test_shmem_victim_numbers() -> None:
    (e,) = events("local-6.18-memcg-v1-shmem-victim-dmesg.log")
    assert e.victim is not None
    assert (e.victim.pid, e.victim.shmem_rss_kb, e.victim.pgtables_kb) == (4003, 36864, 144)


def test_ratelimited_storm_counts_every_kill() -> None:
    found = events("local-6.18-memcg-v1-ratelimited-17kills-dmesg.log")
    assert len(found) == 17  # one per "Killed process" line, headers or not
    full = [e for e in found if e.complete]
    bare = [e for e in found if not e.complete]
    assert len(full) == 11
    assert len(bare) == 6
    assert all(e.trigger is None and "report header" in e.missing[0] for e in bare)
    assert all(e.global_oom is False for e in bare)  # "Memory cgroup out of memory" prefix
    assert found[-1].suppressed_headers == 6


def test_no_killable_processes() -> None:
    found = events("local-6.18-memcg-v1-no-killable-dmesg.log")
    assert [e.kind for e in found] == [EventKind.NO_VICTIM, EventKind.NO_VICTIM]
    assert all(e.victim is None and e.memcg == "/oomkit-fixture-nokill" for e in found)
    assert all(e.complete for e in found)  # an empty task table is what the kernel prints


def test_reaper_numbers_attach_to_their_kill() -> None:
    (e,) = events("local-6.18-memcg-v1-oom-reaper-dmesg.log")
    assert e.reaped is not None
    assert (e.reaped.pid, e.reaped.anon_rss_kb, e.reaped.file_rss_kb) == (6310, 0, 48)


def test_child_sacrifice_pre_2_6_36() -> None:
    first, second = events("public-2.6.31-ubuntu-global-kill-child-syslog.log")
    assert first.victim is not None
    assert first.victim.pid == 19776
    assert first.victim.anon_rss_kb is None  # this kernel printed no numbers: none invented
    assert "scored VBoxSVC (19735) at 2136105" in first.notes[0]
    assert first.trigger is not None
    assert (first.trigger.name, first.trigger.pid, first.trigger.order) == ("rhythmbox", 1343, 2)
    assert second.victim is not None
    assert second.victim.pid == 3480


def test_panic_when_nothing_is_killable() -> None:
    (e,) = events("public-3.19-global-panic-no-killable-all-adj-1000.log")
    assert e.kind is EventKind.PANIC
    assert e.panic_message is not None
    assert "no killable processes" in e.panic_message
    assert e.time.uptime_s == 4083.11495


def test_oom_group_members_once_each() -> None:
    (e,) = events("public-6.x-k8s-cgroupv2-oom-group-already-exiting-dmesg-T.log")
    assert e.victim is not None
    assert e.victim.pid == 3804874
    pids = [v.pid for v in e.extra_victims]
    assert len(pids) == len(set(pids))
    assert e.victim.pid not in pids
    assert e.memcg is not None
    assert e.memcg.startswith("/kubepods.slice/")


def test_legacy_task_in_line_gives_both_cgroups() -> None:
    first, _second = events("public-4.8-gentoo-docker-memcg-two-ooms-reaper-cadvisor.log")
    cid = "2e088fe462e25e60be1dafafe2c05c47bda1a97978648d10ad2b7484fc0b8f50"
    assert first.memcg == first.task_memcg == f"/docker/{cid}"
    assert first.victim is not None
    assert first.victim.score == 1046


def test_earlyoom_repeated_signals_are_one_kill() -> None:
    (e,) = events("public-earlyoom-1.1-stdout-old-killing-format.log")
    assert e.killer is Killer.EARLYOOM
    assert e.victim is not None
    assert (e.victim.pid, e.victim.name, e.victim.score) == (5874, "bash", 538)
    assert e.notes[0].startswith("signalled 5 times")
    assert e.reason is not None
    assert "at or below sigterm limits" in e.reason


def test_systemd_oomd_hand_wrapped_line() -> None:
    (e,) = events("public-systemd-oomd-journal-user-wrapped-killed-line.log")
    assert e.killer is Killer.SYSTEMD_OOMD
    assert e.memcg == "/user.slice/user-1000.slice/user@1000.service/app.slice/overdeck-tmux-server.service"
    assert e.reason is not None
    assert e.reason.startswith("memory pressure for /user.slice/user-1000.slice/user@1000.service")


def test_sysrq_forced_oom_has_order_minus_one() -> None:
    (e,) = events("public-5.13-ubuntu-sysrq-manual-oom-oomanalyser.log")
    assert e.trigger is not None
    assert e.trigger.order == -1
    assert e.global_oom is True


def test_rotated_gzip_equals_plain() -> None:
    gz = KERNEL_LOGS / "local-6.18-memcg-v1-two-ooms-rsyslog-imklog-trad-rotated.log.2.gz"
    plain = gzip.decompress(gz.read_bytes()).decode()
    from oomkit.log_sources import open_any

    with gz.open("rb") as raw:
        got = list(parse_stream(open_any(raw), "x"))
    assert got == parse_text(plain, "x")
    assert len(got) == 3  # the tail of an earlier report, then two full ones


def test_journal_in_russian_locale() -> None:
    """journalctl prints the month in the locale's language ("апр 28 01:23:30 PC kernel:")."""
    path = KERNEL_LOGS / "public-4.x-journal-ru-locale-victim-lines.log"
    (e,) = parse_text(path.read_text())
    assert e.time.wall is not None
    assert (e.time.wall.month, e.time.wall.day, e.time.wall.hour) == (4, 28, 1)
    assert e.time.wall_from == "log-year-assumed"  # journalctl's short time has no year
    assert e.host == "PC"
    assert e.victim is not None
    assert (e.victim.pid, e.victim.anon_rss_kb) == (27541, 8098448)


def test_stamps_beyond_any_clock_leave_the_wall_time_unknown() -> None:
    # Found by test_hand_edited_numbers: a journal stamp or an uptime edited to 23
    # digits made datetime.fromtimestamp raise OverflowError through the parser.
    import json

    from oomkit.timeconv import fill_wall

    path = KERNEL_LOGS / "local-6.18-memcg-v1-two-ooms-journal-json.log"
    lines = []
    for line in path.read_text().splitlines():
        obj = json.loads(line)
        obj["__REALTIME_TIMESTAMP"] = "99999999999999999999999"
        lines.append(json.dumps(obj))
    events = parse_text("\n".join(lines))
    assert len(events) == 2 and all(e.time.wall is None and e.time.uptime_s for e in events)
    huge = events[0]._replace(time=events[0].time._replace(uptime_s=1e22))
    assert fill_wall(huge, 1.7e9) == huge


def test_indented_report_lines_with_equals_signs_are_read() -> None:
    """A report quoted in a mail is indented, and its header and oom-kill lines hold "=":
    they are not the " KEY=value" dictionary lines that follow a /dev/kmsg record."""
    quoted = (KERNEL_LOGS / "public-6.7-arch-cgroupv2-user-service-kmem-mail-indented.log").read_text()
    assert all(line.startswith("     [") for line in quoted.splitlines())
    events = parse_text(quoted)
    kill = next(e for e in events if e.victim is not None and e.victim.pid == 128825)
    assert kill.complete
    assert kill.trigger is not None and kill.trigger.pid == 128826
    assert kill.trigger.gfp_flags == "GFP_NOFS|__GFP_NOFAIL|__GFP_ZERO|__GFP_ACCOUNT"
    assert kill.memcg == "/user.slice/user-1000.slice/user@1000.service/app.slice/run-u640.service"


def test_comma_grouped_victim_numbers_are_read_as_digits_and_said() -> None:
    issue = KERNEL_LOGS / "public-5.x-dmesg-T-comma-grouped-victim-wrapped-rows-issue.log"
    (e,) = parse_text(issue.read_text(), issue.name)
    assert e.victim is not None
    assert (e.victim.total_vm_kb, e.victim.anon_rss_kb, e.victim.pgtables_kb) == (
        26184840, 15370088, 38964)
    assert any("digit separators" in n for n in e.notes)
    assert not any("victim memory numbers" in m for m in e.missing)
    # headerless rows: their layout is not known, so none is read
    assert e.tasks == ()


def test_a_systemd_oomd_reason_cut_by_the_pager_says_so() -> None:
    """journalctl's pager chops a long line and marks it with '>' (the testsuite journal
    in the corpus): half a word is not quoted as the reason."""
    (e,) = events("public-systemd-oomd-249-testsuite-journal-ellipsized.log")
    assert e.killer is Killer.SYSTEMD_OOMD
    assert e.reason is not None and e.reason.endswith("testsuite-55-workload.slice")
    assert not e.complete and "cut at the terminal's width" in e.missing[0]
    whole = parse_text("Sep 10 14:59:49 image systemd-oomd[34]: Killed /a.slice/b.service due to"
                       " memory pressure for /a.slice being 64.15% > 1.00% for > 30s with"
                       " reclaim activity\n")
    assert whole[0].complete and whole[0].reason is not None
    assert whole[0].reason.endswith("with reclaim activity")


def test_a_victim_line_cut_short_keeps_the_numbers_before_the_cut() -> None:
    """A pager or a terminal cuts a long line: the fields before the cut are whole."""
    head = "Out of memory: Killed process 7899 (python) total-vm:26184840kB, anon-rss:15370088kB,"
    (e,) = parse_text(head + " file-rss:0kB, shmem-rss:0kB, UID:0 pgt>")
    assert e.victim is not None
    assert (e.victim.anon_rss_kb, e.victim.file_rss_kb, e.victim.pgtables_kb) == (15370088, 0, None)
    assert e.victim.resident_kb() == 15370088
    assert any("cut short" in m for m in e.missing)
    (e,) = parse_text(head[:-len(" anon-rss:15370088kB,")] + ", anon-rss:1537>")
    assert e.victim is not None and (e.victim.total_vm_kb, e.victim.anon_rss_kb) == (26184840, None)
    assert e.victim.resident_kb() is None  # no part is summed as if it were the whole
    (e,) = parse_text("Out of memory: Killed process 7899 (python) total-v>")
    assert e.victim is not None and (e.victim.pid, e.victim.name) == (7899, "python")
    assert any("cut short before them" in m for m in e.missing)


def test_text_after_a_complete_victim_line_is_not_a_cut() -> None:
    for text in ("Killed process 935 (python) total-vm:113656kB, anon-rss:102104kB,"
                 " file-rss:0kB, shmem-rss:0kB",
                 "Killed process 8120, UID 0, (java) total-vm:1314832kB, anon-rss:572096kB,"
                 " file-rss:80kB```"):
        (e,) = parse_text(text)
        assert not any("cut short" in m for m in e.missing), text


def test_a_victim_line_cut_inside_the_name_keeps_the_kill() -> None:
    (e,) = parse_text("Out of memory: Killed process 7899 (pyth>")
    assert e.victim is not None and (e.victim.pid, e.victim.name) == (7899, None)  # no half name
    assert any("cut short inside the name" in m for m in e.missing)
    summary = ("oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,"
               "global_oom,task_memcg=/init.scope,task=python,pid=7899,uid=0\n")
    (e,) = parse_text(summary + "Out of memory: Killed process 7899 (pyth>")
    assert e.victim is not None and (e.victim.name, e.victim.uid) == ("python", 0)
    assert any("cut short before them" in m for m in e.missing)


def test_a_syslog_time_without_a_year_says_its_year_was_assumed() -> None:
    from datetime import datetime, timezone

    from oomkit.kernel_log.prefix import parse_line

    ref = datetime(2026, 11, 26, tzinfo=timezone.utc)
    bare = parse_line("Aug 25 18:21:35 host kernel: Killed process 1 (x)", reference=ref)
    assert bare.wall is not None and bare.wall.year == 2026
    assert bare.wall_kind == "log-year-assumed"
    dated = parse_line("Aug 25 18:21:35 2017 host kernel: Killed process 1 (x)", reference=ref)
    assert dated.wall is not None and dated.wall.year == 2017 and dated.wall_kind == "log"
    iso = parse_line("2017-08-25T18:21:35+08:00 host kernel: Killed process 1 (x)")
    assert iso.wall_kind == "log"


def test_the_free_area_line_tells_the_page_size() -> None:
    """show_free_areas() prints each zone's free blocks from order 0, whose size is the
    page size: the only place a report without a victim line says it (arm64, 64 KiB)."""
    from oomkit.kernel_log.records import FreeArea, classify

    path = KERNEL_LOGS / "public-5.4-arm64-64k-pages-global-panic-on-oom-cma-blog.log"
    with path.open("rb") as f:
        events = list(parse_stream(f, path.name))
    assert events and all(e.page_size_kb == 64 for e in events)
    panic = next(e for e in events if e.kind is EventKind.PANIC)
    rows = {t.pid: t.rss_pages for t in panic.tasks}
    assert rows[1428] == 2053 and panic.ram_pages == 31744  # 128.3 MiB, 1.9 GiB at 64 KiB
    assert classify("Node 0 DMA: 1*4kB (U) 1*8kB (U) 0*16kB = 12kB") == FreeArea(
        "Node 0 DMA", 4, (1, 1, 0))
    assert classify("Node 0 Normal: 3*12kB 1*24kB = 60kB") is None  # no page is 12 KiB


def test_summary_or_score_lines_alone_are_one_kill_each() -> None:
    """`grep oom-kill:` (or a tool that keeps only those lines) leaves one summary per kill;
    they were folded into one event, the last victim's with the first one's time."""
    text = (KERNEL_LOGS / "local-6.18-memcg-v1-ratelimited-17kills-dmesg.log").read_text()
    summaries = [line for line in text.splitlines() if "oom-kill:" in line]
    events = parse_text("\n".join(summaries) + "\n")
    assert len(summaries) == 11 and len(events) == 11
    assert [e.victim.pid for e in events if e.victim] == [
        int(line.split(",pid=")[1].split(",")[0]) for line in summaries]
    assert all(e.time.raw and e.time.raw in s for e, s in zip(events, summaries, strict=True))
    scored = (KERNEL_LOGS / "public-4.14-amzn2-docker-memcg-dmesg-T-grep.log").read_text()
    scores = [line for line in scored.splitlines() if " score " in line and "ill process" in line]
    assert len(parse_text("\n".join(scores) + "\n")) == len(scores) == 2


def test_dmesg_T_with_the_day_before_the_month() -> None:
    """fr_FR's dmesg -T puts the day first: "[dim. 19 avril 18:03:30 2026]" (a public
    report's line); the month-first form and the other locales' stay as they were."""
    from oomkit.kernel_log.prefix import parse_line

    for stamp, day, month in (("[dim. 19 avril 18:03:30 2026]", 19, 4),
                              ("[Thu Nov 26 14:35:19 2026]", 26, 11),
                              ("[mer. déc. 17 11:32:14 2025]", 17, 12)):
        line = parse_line(f"{stamp} Out of memory: Killed process 1 (x)")
        assert line.wall is not None and (line.wall.day, line.wall.month) == (day, month)
        assert line.text == "Out of memory: Killed process 1 (x)"
        assert line.wall_kind == "dmesg-ctime"


def test_a_reaper_line_without_its_kill_is_a_kill_of_its_own() -> None:
    """oom_reaper reaps only OOM victims: its line for a pid the log has no kill of is a
    kill whose report was cut (five in the LKML cpuset report)."""
    path = KERNEL_LOGS / "public-5.8-cpuset-movable-only-node-docker-lkml-patch.log"
    events = parse_text(path.read_text())
    orphans = [e for e in events if e.reaped is not None and not e.complete]
    assert sorted(e.victim.pid for e in orphans if e.victim) == [1452, 2054, 2146, 8248, 8291]
    assert all(any("oom_reaper" in m for m in e.missing) for e in orphans)
    # a live reader that flushed the kill before its reaper line makes no second event
    from oomkit.kernel_log.assemble import Assembler
    from oomkit.kernel_log.prefix import parse_line
    from oomkit.models import SourceRef

    text = (KERNEL_LOGS / "local-6.18-memcg-v1-oom-reaper-dmesg.log").read_text().splitlines()
    asm, out, flushed = Assembler(), [], []
    for n, raw in enumerate(text, 1):
        line = parse_line(raw)
        if line is None:
            continue
        if "oom_reaper" in raw:
            asm._close()  # the log went quiet before the reaper's line: the kill went out
            flushed = asm.flush()
            out += flushed
        out += asm.feed(line, SourceRef("x", n))
    out += asm.close()
    assert any(e.victim and e.victim.pid == 6310 for e in flushed)
    kills = [e for e in out if e.victim]
    assert len(kills) == len({e.victim.pid for e in kills if e.victim})


def test_the_call_trace_tells_a_page_allocator_oom_from_a_cgroups() -> None:
    """__alloc_pages_slowpath is the page allocator's OOM path; a memcg's OOM comes from its
    charge path. A header excerpt with only its trace was "does not say which"."""
    (e,) = parse_text((KERNEL_LOGS / "public-6.16-debian-global-dmesg-T-header-excerpt.log")
                      .read_text())
    assert e.global_oom is True
    text = (KERNEL_LOGS / "public-6.16-debian-global-dmesg-T-header-excerpt.log").read_text()
    cut = "\n".join(line for line in text.splitlines() if "__alloc_pages_slowpath" not in line)
    (bare,) = parse_text(cut + "\n")
    assert bare.global_oom is None


def test_a_limit_path_cut_by_a_wrap_is_read_whole_from_the_stats_line() -> None:
    """A terminal wrapped "... killed as a result of limit of /docke" + "r/3215..."; the
    report's first "Memory cgroup stats for" line names that cgroup whole."""
    path = KERNEL_LOGS / "public-3.10-centos7-docker-memcg-thread-scored-messages-excerpt.log"
    text = path.read_text()
    cid = "812c82c5a7a5ae054e6f242215bdc4415a2d9b690768962a7bcd8d4676b16f60"
    cut = text.replace(f"limit of /docker/{cid}\n", f"limit of /docke\nr/{cid}\n", 1)
    assert cut != text
    (e,) = [x for x in parse_text(cut) if x.victim]
    assert e.memcg == f"/docker/{cid}"
    assert any("cut at '/docke'" in n for n in e.notes)
    (whole,) = [x for x in parse_text(text) if x.victim]
    assert whole.memcg == f"/docker/{cid}" and not any("cut at" in n for n in whole.notes)

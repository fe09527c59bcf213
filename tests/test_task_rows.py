"""kernel_log.task_rows: a task table's rows in an excerpt without its header are read by
their number of columns, only as far as that number says what the columns are."""

from __future__ import annotations

from oomkit.explain import explain
from oomkit.kernel_log import parse_text
from oomkit.kernel_log import records as r
from oomkit.kernel_log.task_rows import read_headerless
from tests.conftest import KERNEL_LOGS


def _rows(*lines: str) -> list[r.Row]:
    out = []
    for line in lines:
        rec = r.classify(line)
        assert type(rec) is r.Row, line
        out.append(rec)
    return out


def test_eight_columns_are_the_6_8_layout_whole() -> None:
    # rows copied from local-6.18-memcg-v1-3tasks-adj500-dmesg
    rows, skipped, note = read_headerless(_rows(
        "[   1001]     0  1001     6101     5159     3488     1671         0    94208        0"
        "             0 cache-small",
        "[   1002]     0  1002     8662     7730     6048     1682         0   110592        0"
        "           500 big worker 1",
    ))
    assert skipped == 0 and note is not None and "6.8" in note
    big = rows[1]
    assert (big.name, big.rss_pages, big.rss_anon_pages, big.pgtables_bytes, big.oom_score_adj) == (
        "big worker 1", 7730, 6048, 110592, 500)


def test_five_columns_read_only_what_every_era_agrees_on() -> None:
    # 2.6.32 RHEL 6 (public-2.6.32-rhel6-...): "cpu oom_adj" between rss and oom_score_adj
    (row,), skipped, note = read_headerless(_rows(
        "[ 8120]     0  8120   328708   143044   0       0             0 java"))
    assert skipped == 0 and note is not None and "total_vm and rss and oom_score_adj mean" in note
    assert (row.total_vm_pages, row.rss_pages, row.oom_score_adj) == (328708, 143044, 0)
    assert (row.swapents_pages, row.pgtables_bytes, row.pgtable_pages) == (None, None, None)


def test_a_fourth_column_no_oom_adj_can_hold_is_swapents() -> None:
    """oom_adj is -17..15; the two later eras with five columns both print swapents there."""
    # rows of a 3.x report (pyZOCP#79): "nr_ptes swapents"
    rows, _skipped, note = read_headerless(_rows(
        "[20990] 10002 20990   374912    52161     582    81262             0 firefox",
        "[29075] 10002 29075  8427463  3939146   15686  4003496             0 python3",
    ))
    assert [t.swapents_pages for t in rows] == [81262, 4003496]
    assert rows[1].pgtables_bytes is None and rows[1].pgtable_pages is None
    assert note is not None and "the fourth is swapents" in note


def test_a_row_of_another_count_is_skipped_not_misread() -> None:
    rows, skipped, _note = read_headerless(_rows(
        "[  472]     0   472      226        7       3       0        0             0 askfirst",
        "[ 1272]     0  1272      267        7       3       0        0             0 dropbear",
        "[ 1592]     0  1592      228        7       3       0        0",  # cut before its name
        "[ 1600]     0  1600      228        7       3       0        0             0 1234",
    ))
    assert [row.name for row in rows] == ["askfirst", "dropbear"] and skipped == 2
    assert rows[0].pgtable_pages == 3  # nr_ptes + nr_pmds, the 4.0-4.14 layout


def test_an_unknown_count_reads_nothing() -> None:
    rows, skipped, note = read_headerless(_rows("[  472]     0   472      226        7       3 x"))
    assert (rows, skipped, note) == ([], 1, None)


def test_a_table_tail_in_a_paste_says_what_else_was_big() -> None:
    path = KERNEL_LOGS / "public-2.6.32-rhel6-global-uid-killed-table-tail.log"
    (e,) = parse_text(path.read_text(), path.name)
    assert e.victim is not None and e.victim.pid == 8120
    assert not e.tasks_listed  # the table is a tail: its absences mean nothing
    names = {t.name: t for t in e.tasks}
    assert names["javadoc"].rss_pages == 126747 and names["java"].rss_pages == 143044
    assert e.page_size_kb == 4  # the victim's row against its kB line
    assert any("header is not in this log" in n for n in e.notes)


def test_the_big_ones_of_a_table_tail_are_said_to_be_of_the_rows_here() -> None:
    path = KERNEL_LOGS / "public-2.6.32-rhel6-global-uid-killed-table-tail.log"
    (e,) = parse_text(path.read_text(), path.name)
    x = explain(e, owner=None, cgroup_version=1)
    big = next(d for d in x.details if d.startswith("Also big"))
    assert "among the rows of the table in this log" in big and "javadoc" in big

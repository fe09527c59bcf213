"""dump_tasks() rows: read by the table's header, or, in an excerpt without it, by
their number of columns where that number says what the columns are.

Pasted reports often hold only the end of the task table and the kill lines (the
py-autovod#7 and rhel6 table-tail excerpts in the corpus). Every layout since 2.6.25
begins ``total_vm rss`` (pages), and every one with an ``oom_score_adj`` column ends
with it (docs/kernel-oom.md 1.3), so those columns can be read from a row's count
alone. What lies between depends on the era and is read only when the count names one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from oomkit.kernel_log import records as r
from oomkit.models import TaskRow

# Column names of every dump_tasks() era (docs/kernel-oom.md 1.3).
_PAGE_COLUMNS = {
    "total_vm": "total_vm_pages",
    "rss": "rss_pages",
    "rss_anon": "rss_anon_pages",
    "rss_file": "rss_file_pages",
    "rss_shmem": "rss_shmem_pages",
    "swapents": "swapents_pages",
    "pgtables_bytes": "pgtables_bytes",
    "oom_score_adj": "oom_score_adj",
}
_PTES = ("nr_ptes", "nr_pmds", "nr_puds")

# The numeric columns after uid and tgid, by their number, for rows without a header.
# "?" is a column whose meaning depends on the era: not read.
BY_COUNT: dict[int, tuple[str, ...]] = {
    # >= 6.8
    8: ("total_vm", "rss", "rss_anon", "rss_file", "rss_shmem", "pgtables_bytes", "swapents",
        "oom_score_adj"),
    # nr_puds: unverified (docs/kernel-oom.md 1.3 files it under 4.14, whose logs in the
    # corpus, OpenWrt's and Amazon Linux 2's, print the 6 columns below)
    7: ("total_vm", "rss", "nr_ptes", "nr_pmds", "nr_puds", "swapents", "oom_score_adj"),
    6: ("total_vm", "rss", "nr_ptes", "nr_pmds", "swapents", "oom_score_adj"),  # 4.0 - 4.14
    # 2.6.36-3.5 "cpu oom_adj", 3.6-3.19 "nr_ptes swapents", 4.15-6.7 "pgtables_bytes swapents"
    5: ("total_vm", "rss", "?", "?", "oom_score_adj"),
    4: ("total_vm", "rss", "?", "?"),  # 2.6.25-ish: "cpu oom_adj" (oom_adj is not oom_score_adj)
}


def read_row(columns: Sequence[str], rec: r.Row) -> TaskRow | None:
    """The row under a header naming ``columns``, or None if it does not fit them."""
    n = len(columns) + 2  # uid and tgid precede the named columns
    parts = rec.rest.split(None, n)
    if len(parts) < n + 1:
        return None
    try:
        numbers = [int(p) for p in parts[:n]]
    except ValueError:
        return None
    values: dict[str, int] = {}
    ptes = 0
    have_ptes = False
    for name, value in zip(columns, numbers[2:], strict=True):
        if name in _PAGE_COLUMNS:
            values[_PAGE_COLUMNS[name]] = value
        elif name in _PTES:
            ptes += value
            have_ptes = True
    return TaskRow(
        pid=rec.pid,
        uid=numbers[0],
        tgid=numbers[1],
        total_vm_pages=values.get("total_vm_pages"),
        rss_pages=values.get("rss_pages"),
        rss_anon_pages=values.get("rss_anon_pages"),
        rss_file_pages=values.get("rss_file_pages"),
        rss_shmem_pages=values.get("rss_shmem_pages"),
        pgtables_bytes=values.get("pgtables_bytes"),
        pgtable_pages=ptes if have_ptes else None,
        swapents_pages=values.get("swapents_pages"),
        oom_score_adj=values.get("oom_score_adj"),
        name=parts[n].rstrip(),
    )


def _count(rec: r.Row) -> int:
    """The numeric columns after uid and tgid, if a name follows them; else -1."""
    parts = rec.rest.split()
    k = 0
    for part in parts:
        if not part.lstrip("-").isdecimal():
            break
        k += 1
    return k - 2 if k < len(parts) else -1


def _fourth(rec: r.Row) -> int:
    """The fourth memory column of a row read as having five (see read_headerless)."""
    return int(rec.rest.split(None, 6)[5])


def read_headerless(recs: Sequence[r.Row]) -> tuple[list[TaskRow], int, str | None]:
    """(rows, rows skipped, a note saying how they were read) for rows whose header is not
    in the log. The rows of one table have one count: the one most of them have is read
    (if BY_COUNT knows it); a row with another (cut, or its name all digits) is skipped."""
    counts = [_count(rec) for rec in recs]
    if not counts:
        return [], 0, None
    k = Counter(counts).most_common(1)[0][0]
    columns = BY_COUNT.get(k)
    if columns is None:
        return [], len(recs), None
    if k == 5 and any(not -17 <= _fourth(rec) <= 15 for rec, c in zip(recs, counts, strict=True)
                      if c == 5):
        # 2.6.36-3.5 print oom_adj there (-17..15); 3.6-3.19 and 4.15-6.7 both swapents.
        columns = ("total_vm", "rss", "?", "swapents", "oom_score_adj")
    rows = [row for rec, c in zip(recs, counts, strict=True)
            if c == k and (row := read_row(columns, rec)) is not None]
    known = [c for c in BY_COUNT[k] if c != "?"]
    how = (f"its {k} memory columns are those of {_ERA[k]}" if "?" not in columns else
           f"of its {k} memory columns, {' and '.join(known)} mean the same in every kernel"
           f" that prints {k}" + (", and the fourth is swapents wherever it holds values"
                                  " beyond oom_adj's -17..15, as here"
                                  if "swapents" in columns else ""))
    note = (f"the task table's header is not in this log: {len(rows)} row(s) read by their"
            f" number of columns ({how}); rows cut from the log are not among them")
    return rows, len(recs) - len(rows), note


_ERA = {8: "Linux 6.8 and later", 7: "a Linux 4.14 build with nr_puds", 6: "Linux 4.0 to 4.14"}

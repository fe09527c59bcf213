"""Kills by userspace OOM killers, from their own log lines: pure functions.

Formats, from each project's source:

* earlyoom ``kill.c``: ``sending %s to process %d uid %d "%s": badness %d, VmRSS %lld MiB``
  (<=1.7), ``... "%s": oom_score %d, oom_score_adj %d, VmRSS %lld MiB, cmdline "%s"``
  (1.8+), with ``badness %lld KiB`` and ``ordering`` in newer releases; the reason
  is the preceding ``low memory! at or below SIGTERM limits: mem ...`` line.
* systemd-oomd ``oomd-manager.c``: ``Killed %s due to memory pressure for %s being
  %lu.%02lu%% > %lu.%02lu%% for > %s with reclaim activity`` and ``Killed %s due to
  memory used (...) / total (...) and swap used (...) / total (...) being more than
  %lu.%02lu%%``; newer releases say ``Marked %s for killing due to ...``.
* facebook oomd: ``oomd kill: <pressure> <cgroup> ...`` written to /dev/kmsg.
* nohang: ``Implement a corrective action:`` blocks naming the victim as
  ``name: ...``/``pid: ...`` and ``Send SIGKILL|SIGTERM to ...``.
* Android: the staging lowmemorykiller driver ``lowmemorykiller: Killing '%s' (%d),
  adj %hd,`` and lmkd ``lowmemorykiller: Kill '%s' (%d), uid %d, oom_score_adj %d
  to free %ldkB``.
"""

from __future__ import annotations

import re

from oomkit.models import EventKind, EventTime, Killer, LogLine, OomEvent, SourceRef, Victim

_EARLYOOM = re.compile(
    r"sending (?P<sig>SIG\w+) to process (?P<pid>\d+) uid (?P<uid>\d+) \"(?P<name>.*)\":"
    r" (?:oom_score (?P<score>-?\d+), )?(?:oom_score_adj (?P<adj>-?\d+), )?"
    r"(?:badness (?P<badness>-?\d+)(?: KiB)?, )?VmRSS (?P<rss>\d+) MiB"
)
_EARLYOOM_LOW = re.compile(r"low memory! at or below (?P<what>.*)")
_OOMD_SYSTEMD = re.compile(
    r"(?:Killed|Marked) (?P<cgroup>\S+) (?:for killing )?due to (?P<reason>.*)"
)
_OOMD_FB = re.compile(r"oomd kill: (?P<rest>.*)")
_LMK = re.compile(
    r"lowmemorykiller: Kill(?:ing)? '(?P<name>[^']*)' \((?P<pid>\d+)\)(?:, uid (?P<uid>\d+))?,"
    r" (?:adj|oom_adj|oom_score_adj) (?P<adj>-?\d+),?(?:\s*to free (?P<free>\d+)kB)?"
)
_NOHANG = re.compile(
    r"(?:Send|Sending) (?P<sig>SIG\w+) to (?:the victim )?(?:\[?(?P<pid>\d+)\]? ?)?(?P<name>.*?)(?:;|$)"
)

_IDENTS = {
    "earlyoom": Killer.EARLYOOM,
    "systemd-oomd": Killer.SYSTEMD_OOMD,
    "oomd": Killer.OOMD,
    "nohang": Killer.NOHANG,
    "lmkd": Killer.ANDROID_LMK,
}
_MARKERS = ("sending SIG", "due to memory", "oomd kill:", "lowmemorykiller", "corrective action")


def may_be_userspace(line: LogLine) -> bool:
    """Cheap test: could this line be a userspace killer's kill record?"""
    if line.ident in _IDENTS:
        return True
    text = line.text
    return any(m in text for m in _MARKERS)


def _event(
    killer: Killer, line: LogLine, ref: SourceRef, victim: Victim | None, *,
    reason: str | None, memcg: str | None = None, complete: bool = True,
    missing: tuple[str, ...] = (),
) -> OomEvent:
    return OomEvent(
        killer=killer,
        kind=EventKind.USERSPACE_KILL,
        complete=complete,
        time=EventTime(
            raw=line.raw_time, uptime_s=line.uptime_s, wall=line.wall,
            wall_from=line.wall_kind, boot_id=line.boot_id,
        ),
        source=ref,
        victim=victim,
        memcg=memcg,
        task_memcg=memcg,
        reason=reason,
        host=line.host,
        missing=missing,
    )


def userspace_event(line: LogLine, ref: SourceRef) -> OomEvent | None:
    """The kill this line records, or None."""
    text = line.text
    m = _EARLYOOM.search(text)
    if m:
        rss = int(m.group("rss"))
        victim = Victim(
            pid=int(m.group("pid")), name=m.group("name"), uid=int(m.group("uid")),
            oom_score_adj=int(m.group("adj")) if m.group("adj") else None,
            score=int(m.group("score") or m.group("badness") or 0)
            if (m.group("score") or m.group("badness")) else None,
        )
        return _event(
            Killer.EARLYOOM, line, ref, victim,
            reason=f"{m.group('sig')}; VmRSS {rss} MiB at the time (earlyoom prints MiB only)",
            complete=False,
            missing=("anon/file/shmem split (earlyoom logs only VmRSS in MiB)",),
        )
    if line.ident == "systemd-oomd" or "due to memory" in text:
        m = _OOMD_SYSTEMD.search(text)
        if m and (line.ident == "systemd-oomd" or "memory pressure" in text or "swap" in text):
            return _event(
                Killer.SYSTEMD_OOMD, line, ref, None, reason=m.group("reason"),
                memcg=m.group("cgroup"),
            )
    m = _OOMD_FB.search(text)
    if m:
        rest = m.group("rest")
        cg = next((tok for tok in rest.split() if tok.startswith("/")), None)
        return _event(Killer.OOMD, line, ref, None, reason=rest, memcg=cg)
    m = _LMK.search(text)
    if m:
        victim = Victim(
            pid=int(m.group("pid")), name=m.group("name"),
            uid=int(m.group("uid")) if m.group("uid") else None,
            oom_score_adj=int(m.group("adj")),
        )
        free = m.group("free")
        return _event(
            Killer.ANDROID_LMK, line, ref, victim,
            reason=f"to free {free} kB" if free else None, complete=False,
            missing=("memory breakdown (lowmemorykiller logs none)",),
        )
    if line.ident == "nohang":
        m = _NOHANG.search(text)
        if m and m.group("pid"):
            victim = Victim(pid=int(m.group("pid")), name=m.group("name") or None)
            return _event(Killer.NOHANG, line, ref, victim, reason=m.group("sig"), complete=False)
    return None

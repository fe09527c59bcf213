"""Kills by userspace OOM killers, from their own log lines.

Each killer reworded its messages across releases; every form below was seen
in real logs (tests/data/kernel_log/public-*), matched to the projects' source:

* earlyoom ``kill.c``: ``Killing process 'bash' with signal 15, pid: 5874, badness: 538,
  VmRSS: 3160 MiB`` (1.1), ``killing process 27541 "bash" with signal 15: badness 550,
  VmRSS 7609 MiB`` (1.2), ``sending SIGTERM to process 12006 "python3": badness 209,
  VmRSS 2891 MiB`` (1.3), ``... process 57834 uid 1000 "code": ...`` (1.6), ``... "x":
  oom_score 823, VmRSS 79 MiB, cmdline "..."`` (1.8), ``oom_score N, oom_score_adj N,
  badness N KiB, VmRSS N MiB, ordering X, cmdline "..."`` (newer). Its reason is the
  preceding ``low memory! at or below SIGTERM limits: ...`` line. One victim may be
  signalled many times (``escalating to SIGKILL``); that is one kill.
* systemd-oomd ``oomd-manager.c``: ``Killed %s due to memory pressure for %s being
  ...`` / ``... due to memory used (...) / total (...) and swap used ...`` (249+),
  ``Marked %s for killing due to ...`` (newer). Hand-wrapped pastes put ``due to`` on
  the next line.
* facebook oomd: ``Trying to kill /sys/fs/cgroup/<cgroup>`` then ``Killed N: pid(comm)...``
  from BaseKillPlugin, or ``oomd kill:`` in /dev/kmsg.
* nohang: a block of ``  key: value`` lines about the victim (``VmRSS: N MiB (Anon: N
  MiB, File: N MiB, Shmem: N MiB)``, ``CGroup_v2: ...``) ending in ``Implement a
  corrective action:`` and ``Send SIGKILL to the victim``.
* Android: the staging lowmemorykiller driver ``lowmemorykiller: Killing '%s' (%d), adj
  %hd,`` and lmkd ``lowmemorykiller: Kill '%s' (%d), uid %d, oom_score_adj %d to free
  %ldkB``.
"""

from __future__ import annotations

import re

from oomkit.models import EventKind, EventTime, Killer, LogLine, OomEvent, SourceRef, Victim

_EARLYOOM = (
    re.compile(
        r"sending (?P<sig>SIG\w+) to process (?P<pid>\d+)(?: uid (?P<uid>\d+))? \"(?P<name>.*)\":"
        r" (?:oom_score (?P<score>-?\d+), )?(?:oom_score_adj (?P<adj>-?\d+), )?"
        r"(?:badness (?P<badness>-?\d+)(?: KiB)?, )?VmRSS (?P<rss>\d+) MiB"
    ),
    re.compile(
        r"killing process (?P<pid>\d+) \"(?P<name>.*)\" with signal (?P<sig>\d+):"
        r" badness (?P<badness>-?\d+), VmRSS (?P<rss>\d+) MiB"
    ),
    re.compile(
        r"Killing process '(?P<name>.*)' with signal (?P<sig>\d+), pid: (?P<pid>\d+),"
        r" badness: (?P<badness>-?\d+), VmRSS: (?P<rss>\d+) MiB"
    ),
)
_EARLYOOM_LOW = re.compile(r"(?i)low memory! at or below (?P<what>.*)")
# After a signal earlyoom waits for the victim to go (kill.c, kill_wait): 10 s after SIGTERM
_EARLYOOM_EXIT = re.compile(
    r"process (?P<pid>\d+) (?:(?P<exited>exited) after (?P<s>[\d.]+) seconds|did not exit)")
_OOMD_SYSTEMD = re.compile(
    r"(?:Killed|Marked) (?P<cgroup>/\S+)(?: for killing)?(?: due to (?P<reason>.*))?$"
)
_DUE_TO = re.compile(r"^\s*due to (?P<reason>.*)")
_OOMD_FB_TRY = re.compile(r"Trying to kill (?:/sys/fs/cgroup)?(?P<cgroup>/\S+)")
_OOMD_FB_KILLED = re.compile(r"Killed (?P<n>\d+): (?P<first>\d+)\((?P<name>[^)]*)\)")
_OOMD_FB_KMSG = re.compile(r"oomd kill: (?P<rest>.*)")
_LMK = re.compile(
    r"lowmemorykiller: Kill(?:ing)? '(?P<name>[^']*)' \((?P<pid>\d+)\)(?:, uid (?P<uid>\d+))?,"
    r" (?:adj|oom_adj|oom_score_adj) (?P<adj>-?\d+),?(?:\s*to free (?P<free>\d+)kB)?"
)
_NOHANG_KV = re.compile(r"^\s+(?P<key>[A-Za-z_0-9]+):\s+(?P<value>.*)$")
_NOHANG_SEND = re.compile(r"Send (?P<sig>SIG\w+) to the victim")
_NOHANG_RSS = re.compile(
    r"(?P<rss>\d+) MiB\s+\(Anon: (?P<anon>\d+) MiB, File: (?P<file>\d+) MiB, Shmem: (?P<shmem>\d+) MiB\)"
)
_NOHANG_REASON = re.compile(r"^\s+(?P<what>\w+ \[.*\] <= \w+ \[.*\])")

_IDENTS = {
    "earlyoom": Killer.EARLYOOM,
    "systemd-oomd": Killer.SYSTEMD_OOMD,
    "oomd": Killer.OOMD,
    "nohang": Killer.NOHANG,
    "nohang-desktop": Killer.NOHANG,
    "lmkd": Killer.ANDROID_LMK,
}
_MARKERS = (
    "sending SIG", "illing process", "due to memory", "oomd kill:", "lowmemorykiller",
    "corrective action", "ow memory!", "Low Memory!", "Trying to kill",
    "did not exit", " exited after ",  # earlyoom: whether the victim went
)
_MARKER_RE = re.compile("|".join(re.escape(m) for m in _MARKERS))
# Written to /dev/kmsg by Android's driver, facebook oomd, or forwarded by journald.
_KERNEL_MARKER_RE = re.compile(r"lowmemorykiller|oomd kill:|due to memory|(?:Killed|Marked) /")
# One earlyoom victim signalled again within this many log records is the same kill.
_REPEAT_WINDOW = 200


def may_be_userspace(line: LogLine) -> bool:
    """Cheap test: could this line belong to a userspace killer's record?"""
    ident = line.ident
    text = line.text
    if ident == "kernel":  # the userspace records that can come through the kernel log
        return _KERNEL_MARKER_RE.search(text) is not None
    if ident is not None:
        return ident in _IDENTS or ident.startswith("nohang")
    return _MARKER_RE.search(text) is not None or text.startswith("  ")


def _time(line: LogLine) -> EventTime:
    return EventTime(
        raw=line.raw_time, uptime_s=line.uptime_s, wall=line.wall,
        wall_from=line.wall_kind, boot_id=line.boot_id,
    )


def _event(
    killer: Killer, line: LogLine, ref: SourceRef, victim: Victim | None, *,
    reason: str | None, memcg: str | None = None, missing: tuple[str, ...] = (),
) -> OomEvent:
    return OomEvent(
        killer=killer,
        kind=EventKind.USERSPACE_KILL,
        complete=not missing,
        time=_time(line),
        source=ref,
        victim=victim,
        memcg=memcg,
        task_memcg=memcg,
        reason=reason,
        host=line.host,
        missing=missing,
    )


def _oomd_event(line: LogLine, ref: SourceRef, reason: str, cgroup: str) -> OomEvent:
    """A systemd-oomd kill. A reason ending in ">" right after a word was cut by the pager
    journalctl pipes into (less -S marks a chopped line so): the cut word goes, and the
    event says what is missing rather than quoting half a word."""
    missing: tuple[str, ...] = ()
    if reason.endswith(">") and not reason.endswith(" >"):
        reason = reason[:-1].rsplit(" ", 1)[0]
        missing = ("the rest of systemd-oomd's reason (the line was cut at the terminal's"
                   " width; `journalctl --no-pager` prints it whole)",)
    return _event(Killer.SYSTEMD_OOMD, line, ref, None, reason=reason, memcg=cgroup,
                  missing=missing)


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.lstrip("-").isdecimal() else None


def earlyoom_outcome(line: LogLine) -> tuple[int, bool, str] | None:
    """(pid, exited, how) from earlyoom's "process N exited after S seconds" or "process N
    did not exit" (then "kill failed: Timer expired"), or None."""
    if (line.ident or "earlyoom") != "earlyoom" or " exit" not in line.text:
        return None
    m = _EARLYOOM_EXIT.search(line.text)
    if m is None:
        return None
    if m.group("exited"):
        return int(m.group("pid")), True, f"it exited {m.group('s')} s after the signal"
    return int(m.group("pid")), False, "it did not exit within earlyoom's wait (kill failed)"


class UserspaceTracker:
    """Turns userspace killers' lines into events; keeps the little context they need."""

    def __init__(self) -> None:
        self._low: str | None = None  # earlyoom's last "low memory!" reason
        self._last_kill: tuple[int, int] | None = None  # (earlyoom pid, record number)
        self._records = 0
        self._nohang: dict[str, str] = {}
        self._nohang_reason: list[str] = []
        self._oomd_wrapped: tuple[LogLine, SourceRef, str] | None = None
        self._fb_cgroup: str | None = None

    def feed(self, line: LogLine, ref: SourceRef) -> tuple[OomEvent | None, bool]:
        """(event or None, whether it repeats the previous kill and should replace it)."""
        self._records += 1
        text = line.text
        ident = line.ident or ""
        if self._oomd_wrapped is not None:
            wline, wref, cgroup = self._oomd_wrapped
            self._oomd_wrapped = None
            m = _DUE_TO.match(text)
            if m:
                return _oomd_event(wline, wref, m.group("reason"), cgroup), False
            self._oomd_wrapped = (wline, wref, cgroup)  # release() gives it: not wrapped
        if ident.startswith("nohang"):
            return self._feed_nohang(line, ref), False
        m = _EARLYOOM_LOW.search(text)
        if m:
            self._low = m.group("what").strip()
            return None, False
        for pattern in _EARLYOOM:
            m = pattern.search(text)
            if m:
                return self._earlyoom(m, line, ref)
        if ident == "systemd-oomd" or "due to memory" in text:
            m = _OOMD_SYSTEMD.search(text)
            if m:
                if m.group("reason") is None:
                    self._oomd_wrapped = (line, ref, m.group("cgroup"))
                    return None, False
                return _oomd_event(line, ref, m.group("reason"), m.group("cgroup")), False
        if ident == "oomd" or "Trying to kill" in text or "oomd kill:" in text:
            return self._feed_fb_oomd(line, ref), False
        m = _LMK.search(text)
        if m:
            victim = Victim(
                pid=int(m.group("pid")), name=m.group("name"), uid=_int(m.group("uid")),
                oom_score_adj=int(m.group("adj")), rss_kb=_int(m.group("free")),
            )
            free = m.group("free")
            return _event(
                Killer.ANDROID_LMK, line, ref, victim,
                reason=f"to free {free} kB" if free else None,
                missing=("memory breakdown (the low memory killer logs none)",),
            ), False
        return None, False

    def release(self, line: LogLine | None) -> OomEvent | None:
        """The held systemd-oomd line (a kill with no "due to" on it) as an event of unknown
        reason, unless ``line`` carries its "due to" (a paste wrapped there); None (the end
        of the input) releases it too."""
        if self._oomd_wrapped is None or (line is not None and _DUE_TO.match(line.text)):
            return None
        wline, wref, cgroup = self._oomd_wrapped
        self._oomd_wrapped = None
        return _event(Killer.SYSTEMD_OOMD, wline, wref, None, reason=None, memcg=cgroup,
                      missing=("systemd-oomd's reason (not on its line: cut short, or left out"
                               " by whoever pasted it)",))

    @property
    def holding(self) -> bool:
        return self._oomd_wrapped is not None

    def _earlyoom(
        self, m: re.Match[str], line: LogLine, ref: SourceRef
    ) -> tuple[OomEvent | None, bool]:
        groups = m.groupdict()
        pid = int(groups["pid"])
        sig = groups["sig"]
        sig = {"15": "SIGTERM", "9": "SIGKILL"}.get(sig, sig)
        rss = int(groups["rss"])
        victim = Victim(
            pid=pid, name=groups["name"], uid=_int(groups.get("uid")),
            oom_score_adj=_int(groups.get("adj")),
            score=_int(groups.get("score")) if groups.get("score") else _int(groups.get("badness")),
            rss_kb=rss * 1024,
        )
        reason = f"sent {sig}; VmRSS was {rss} MiB"
        if self._low:
            reason = f"low memory: at or below {self._low}; " + reason
        repeat = self._last_kill is not None and self._last_kill[0] == pid and (
            self._records - self._last_kill[1] <= _REPEAT_WINDOW
        )
        self._last_kill = (pid, self._records)
        return _event(
            Killer.EARLYOOM, line, ref, victim, reason=reason,
            missing=("anon/file/shmem split (earlyoom logs only VmRSS, in MiB)",),
        ), repeat

    def _feed_nohang(self, line: LogLine, ref: SourceRef) -> OomEvent | None:
        text = line.text
        m = _NOHANG_SEND.search(text)
        if m:
            fields = self._nohang
            rss = _NOHANG_RSS.search(fields.get("VmRSS", ""))
            pid = _int(fields.get("PID") or fields.get("Pid") or fields.get("pid"))
            name = fields.get("Name") or fields.get("name")
            victim = Victim(
                pid=pid, name=name.strip() if name else None,
                uid=_int((fields.get("UID") or "").split()[0] if fields.get("UID") else None),
                anon_rss_kb=int(rss.group("anon")) * 1024 if rss else None,
                file_rss_kb=int(rss.group("file")) * 1024 if rss else None,
                shmem_rss_kb=int(rss.group("shmem")) * 1024 if rss else None,
                rss_kb=int(rss.group("rss")) * 1024 if rss else None,
                swap_kb=_int(fields.get("VmSwap", "").split()[0] if fields.get("VmSwap") else None),
            )
            victim = victim._replace(swap_kb=victim.swap_kb * 1024 if victim.swap_kb else None)
            missing = []
            if pid is None or name is None:
                missing.append("victim name and pid (not in this part of the log)")
            reason = "; ".join(self._nohang_reason) or None
            cgroup = fields.get("CGroup_v2") or fields.get("CGroup_v1")
            self._nohang = {}
            self._nohang_reason = []
            sig = m.group("sig")
            return _event(
                Killer.NOHANG, line, ref, victim,
                reason=f"sent {sig}" + (f"; {reason}" if reason else ""),
                memcg=cgroup.strip() if cgroup else None, missing=tuple(missing),
            )
        m = _NOHANG_REASON.match(text)
        if m:
            self._nohang_reason.append(m.group("what"))
            return None
        m = _NOHANG_KV.match(text)
        if m:
            self._nohang[m.group("key")] = m.group("value").strip()
        return None

    def _feed_fb_oomd(self, line: LogLine, ref: SourceRef) -> OomEvent | None:
        text = line.text
        m = _OOMD_FB_TRY.search(text)
        if m:
            self._fb_cgroup = m.group("cgroup")
            return None
        m = _OOMD_FB_KILLED.search(text)
        if m:
            victim = Victim(pid=int(m.group("first")), name=m.group("name"))
            cgroup = self._fb_cgroup
            self._fb_cgroup = None
            return _event(
                Killer.OOMD, line, ref, victim,
                reason=f"killed the cgroup's processes ({text[m.start():][:200]})", memcg=cgroup,
            )
        m = _OOMD_FB_KMSG.search(text)
        if m:
            rest = m.group("rest")
            cg = next((tok for tok in rest.split() if tok.startswith("/")), None)
            return _event(Killer.OOMD, line, ref, None, reason=rest, memcg=cg)
        return None

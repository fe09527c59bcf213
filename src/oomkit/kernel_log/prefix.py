"""Decode the prefix of one log line: pure functions, no I/O.

A kernel message reaches a file through many hands, each adding its own
prefix. This module recognises them, per line, and returns the bare message
with whatever time the prefix carried:

* ``/dev/kmsg`` records ``pri,seq,usec,flags[,caller=T1];msg``
  (Documentation/ABI/testing/dev-kmsg; continuation lines start with a space);
* ``dmesg``: ``[ 123.456789]``, ``dmesg -r`` ``<6>[...]``, ``dmesg -x``
  ``kern  :info  : [...]``, ``dmesg -T`` ``[Thu Nov 26 01:20:00 2026]`` in any
  locale (util-linux formats it with strftime ``%a %b %e %H:%M:%S %Y``),
  ``dmesg -e`` ``[Nov26 01:20]`` / ``[  +0.000012]``, ``--time-format iso``;
  the printk caller id ``[T123]``/``[C1]`` (CONFIG_PRINTK_CALLER) after it;
* syslog: RFC 3164 ``Nov 26 01:20:00 host kernel: ...``, RFC 3339
  (rsyslog ``RSYSLOG_FileFormat``), RFC 5424 ``<4>1 2026-...``, the
  journalctl short/short-iso/short-precise/short-monotonic outputs;
* journald JSON export (``journalctl -o json``), one object per line.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo

from oomkit.models import LogLine

# Month names as strftime("%b") and "%B" print them in common locales, folded to
# lower case without dots. dmesg -T is localised (util-linux calls setlocale).
_MONTHS: dict[str, int] = {}
for _month, _names in enumerate(
    [
        "jan january januar janvier janv enero ene gennaio gen janeiro januari jänner jän"
        " stycznia styczeń sty января янв январь січня січ leden led ocak oca",
        "feb february februar février févr fév febrero febbraio fevereiro fev februari"
        " lutego luty lut февраля фев февр февраль лютого лют únor úno şubat şub",
        "mar march märz mär mars marzo mar março maart mrt marca marzec марта мар март"
        " березня бер březen bře mart",
        "apr april avril avr abril abr aprile aprile kwietnia kwiecień kwi апреля апр"
        " апрель квітня кві duben dub nisan nis",
        "may mai mayo maggio mag maio mei maj maja мая май травня тра květen kvě mayıs",
        "jun june juni juin junio giugno giu junho czerwca czerwiec cze июня июнь июн"
        " червня чер červen čer haziran haz",
        "jul july juli juillet juil julio giugno_ luglio lug julho lipca lipiec lip июля"
        " июль июл липня лип červenec čvc temmuz tem",
        "aug august août aout agosto ago augustus augusti sierpnia sierpień sie августа"
        " авг август серпня сер srpen srp ağustos ağu",
        "sep september sept septembre septiembre set settembre setembro wrzesień"
        " września wrz сентября сен сент сентябрь вересня вер září zář eylül eyl",
        "oct october okt oktober octobre octubre oct ottobre ott outubro out"
        " października październik paź октября окт октябрь жовтня жов říjen říj ekim eki",
        "nov november novembre noviembre novembro listopada listopad lis ноября ноя"
        " нояб ноябрь листопада лис kasım kas",
        "dec december dez dezember décembre déc diciembre dic dicembre dezembro"
        " grudnia grudzień gru декабря дек декабрь грудня гру prosinec pro aralık ara",
    ],
    start=1,
):
    for _name in _names.split():
        _MONTHS.setdefault(_name, _month)


def month_number(token: str) -> int | None:
    """Month number for a localised month token (``Nov``, ``nov.``, ``11月``, ``ноя``)."""
    t = token.strip().rstrip(".").lower()
    digits = re.match(r"(\d{1,2})\s*(?:月|월)?$", t)
    if digits:
        n = int(digits.group(1))
        return n if 1 <= n <= 12 else None
    if t in _MONTHS:
        return _MONTHS[t]
    return _MONTHS.get(t[:3])


_KMSG = re.compile(r"(\d+),(\d+),(\d+),([^;,]*)(?:,([^;]*))?;(.*)", re.S)
# A record's dictionary lines follow it, each " KEY=value" with an upper-case key
# (Documentation/ABI/testing/dev-kmsg: "SUBSYSTEM=", "DEVICE="). Any other indented line
# is a paste, whose report lines can hold "=" too (gfp_mask=, oom-kill:constraint=).
_KMSG_DICT = re.compile(r" [A-Z0-9_]+=")
# ANSI SGR colour sequences (ECMA-48 CSI ... m), as `dmesg --color=always` writes them
# around the time, the "subsystem:" part and the message (local-6.18-...-dmesg-color),
# and a pager (`less -R`) or a `script` typescript keeps them.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_MAIL_QUOTE = re.compile(r"^(?:> ?)+")
# What grep puts before a line: "-n" its number, "-H" (or several files, zgrep too) the
# file, both as "FILE:N:", and ":" for a match or "-" for a -A/-B/-C context line. The file
# is a path or a log's usual name; file names hold "-" and ":" may end a time, so the split
# is the first one followed by what begins a log line in a format read here.
_LOG_START = (
    r"\[|<\d|\{|\x1e|\d{4}-\d\d-\d\d[T ]|\d+,\d+,\d+,|\d{9,11}\.\d{6} "
    r"|[^\W\d_]{3,5}\.? {1,2}\d|[A-Za-z]{3} [A-Za-z]{3} |[a-z]+ *:[a-z]+ *: "
)
_GREP = re.compile(
    r"(?:(?:/[\w.+@/-]*?|(?:kern\.log|syslog|messages|dmesg|daemon\.log)[\w.+-]*?)(?::\d+)?"
    r"|\d+)[:-](?=" + _LOG_START + ")"
)

# /dev/kmsg prints a byte below 0x20, from 0x7f up, or a backslash as "\xNN"
# (kernel/printk/printk.c, msg_add_ext_text): a comm with a backslash, a systemd unit
# escaped "\x2d" in a cgroup path, or any UTF-8 name arrive escaped, a byte each.
_KMSG_ESCAPES = re.compile(r"(?:\\x[0-9a-f]{2})+")


def _kmsg_bytes(m: re.Match[str]) -> str:
    return bytes.fromhex(m.group(0).replace("\\x", "")).decode("utf-8", "replace")


_UPTIME = re.compile(r"\[\s*(\d+\.\d+)\]\s?")
_CALLER = re.compile(r"\[\s*([TC]\d+)\]\s?")
_LEVEL = re.compile(r"<(\d{1,3})>")
_DECODED = re.compile(r"[a-z]+\s*:[a-z]+\s*: ")  # dmesg -x "kern  :info  : "
# dmesg -T: "[Thu Nov 26 14:35:19 2026]", the month before the day; some locales put the
# day first ("[dim. 19 avril 18:03:30 2026]", fr_FR).
_CTIME = re.compile(
    r"\[(?:\S+\s+)?(?:(?P<mon>\S+)\s+(?P<day>\d{1,2})|(?P<day2>\d{1,2})\s+(?P<mon2>\S+))"
    r"\s+(?P<h>\d{1,2}):(?P<mi>\d\d):(?P<s>\d\d)\s+(?P<y>\d{4})\]\s?"
)
_RELTIME = re.compile(r"\[(\S+?)\s?(\d{1,2})\s+(\d{1,2}):(\d\d)\]\s?")
_DELTA = re.compile(r"\[\s*([+<>=])\s*(\d+\.\d+)(?:\s*<\s*\d+\.\d+>)?\]\s?")
_ISO = (
    r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?"
    r"(Z|[+-]\d\d:?\d\d)?"
)
_ISO_RE = re.compile(_ISO)
# " host ident[pid]: ", host optional (journalctl prints none for some setups).
# Without a host, only "ident[pid]:" is taken as an ident: "CPU: 0 ..." is a message.
_SYSLOG_TAIL = re.compile(
    r" (?:([^\s:\[\]]+) ([^\s:\[]+)(?:\[(\d+)\])?|()([^\s:\[]+)\[(\d+)\]): ?"
)
_RFC5424 = re.compile(r"<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|(?:\[.*?\])+) ?")
_RFC3164 = re.compile(
    # journalctl prints the month in the locale's language ("апр 28 01:23:30").
    r"(?:<\d{1,3}>)?([^\W\d_]{3,5}\.?) {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?"
    r"(?: (\d{4}))?"
)
# The whole RFC 3164 prefix in one match, with the printk stamp and caller id
# that imklog/imkmsg keep inside the message (the common kern.log shape).
_RFC3164_LINE = re.compile(
    r"(?:<\d{1,3}>)?(?P<ts>[^\W\d_]{3,5}\.? {1,2}\d{1,2} \d\d:\d\d:\d\d(?:\.\d{1,9})?(?: \d{4})?)"
    r"(?: (?P<host>[^\s:\[\]]+) (?P<ident>[^\s:\[]+)(?:\[\d+\])?"
    r"| (?P<ident2>[^\s:\[]+)\[\d+\]|): ?"
    r"(?:\[\s*(?P<up>\d+\.\d+)\]\s?)?(?:\[\s*[TC]\d+\]\s?)?"
)
# busybox syslogd ("Nov 26 11:52:02 vm kern.warn kernel: [42180.964620] text", Alpine's
# /var/log/messages) and OpenWrt's logread ("Tue Jul 29 06:26:59 2025 kern.info kernel:
# ..."): the facility.level between the host and the ident (busybox syslogd.c, unless -S).
_FACILITY_LINE = re.compile(
    r"(?:[^\W\d_]{3} )?(?P<ts>[^\W\d_]{3,5} {1,2}\d{1,2} \d\d:\d\d:\d\d(?: \d{4})?)"
    r"(?: (?P<host>[^\s:\[\]]+))? [a-z]+[0-7]?\.[a-z]+ (?P<ident>[^\s:\[]+)(?:\[\d+\])?: ?"
    r"(?:\[\s*(?P<up>\d+\.\d+)\]\s?)?(?:\[\s*[TC]\d+\]\s?)?"
)
_MONO = re.compile(
    # journalctl -o short-monotonic "[41999.334191] host ident: ", and -o short-delta, which
    # adds the gap to the previous entry: "[41999.334191 <    0.000013 >] host ident: "
    # (the first entry has blanks where the gap goes).
    r"\[\s*(\d+\.\d+)(?:\s*<\s*\d+\.\d+\s*>)?\s*\]"
    r" (?:([^\s:\[\]]+) ([^\s:\[]+)(?:\[(\d+)\])?|()([^\s:\[]+)\[(\d+)\]): ?"
)
# journalctl -o short-unix: "1795693741.105803 host ident: " (seconds since the epoch, UTC).
_UNIX = re.compile(r"(\d{9,11})\.(\d{6})(?= )")
# Rarer prefixes, tried only once no common format matched:
# `talosctl dmesg`: "<node>: kern:    info: [2022-01-25T10:30:46.461243566Z]: <message>",
# kmsg's stamp turned into a wall time from the boot time (dmesg -T's caveat);
_TALOS = re.compile(
    r"(?P<host>[^\s:]+): (?P<fac>[a-z]+): +[a-z]+: \[(?P<iso>\d{4}-\d\d-\d\dT[\d:.]+Z)\]: ")
# a copy out of Google Cloud Logging: "A 2020-06-25T09:57:22.729902Z <message> ", a
# severity letter and the entry's time;
_CLOUD_LOGGING = re.compile(r"[A-Z] (?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) ")
# a VMware guest's console in vmware.log: "2023-12-04T10:49:30.108Z In(05) vcpu-5 - Guest:
# <6>[39261111.880871] <message>", whose time is when VMware wrote a batch of the guest's
# lines (one time spans hours of their stamps): only the kernel's own stamp is kept.
_VMWARE_GUEST = re.compile(r" In\(\d+\) vcpu-\d+ - Guest: (?:<\d>)?")
# journalctl -o short-full and -o with-unit: "Thu 2026-11-26 11:49:01 UTC host ident: ".
# The zone is strftime's %Z: UTC/GMT, a numeric "+03" where the zone has no name, or a
# name such as CET, which is read as the local zone (like an RFC 3164 time).
_FULL = re.compile(
    r"[^\W\d_]{2,4}\.? (\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?"
    r" (UTC|GMT|[+-]\d\d(?::?\d\d)?|[A-Za-z][A-Za-z0-9]{1,5})(?= )"
)


def full_match(line: str) -> re.Match[str] | None:
    """journalctl's full timestamp at the start of a line (``-o short-full``, and the
    header of each ``-o verbose`` record): ``Thu 2026-11-26 14:35:19.549155 UTC``."""
    return _FULL.match(line)


def full_time(m: re.Match[str], local: tzinfo) -> datetime | None:
    """The time of a full_match(); a zone by abbreviation (not UTC) is ``local``'s, as
    journalctl printed it in the local zone. None for a hand-edited date."""
    zone = m.group(8)
    tz = timezone.utc if zone in ("UTC", "GMT") else _tz(zone) if zone[0] in "+-" else local
    try:
        return datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4)),
                        int(m.group(5)), int(m.group(6)), int((m.group(7) or "0")[:6].ljust(6, "0")),
                        tzinfo=tz)
    except ValueError:
        return None


def _tz(text: str | None) -> tzinfo | None:
    if text is None:
        return None
    if text == "Z":
        return timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    # "+0530", "+05:30", and strftime's "+03" for a zone that has no abbreviation
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0)))


def _iso(m: re.Match[str], local: tzinfo) -> datetime | None:
    """The datetime of an ISO 8601 match, or None when a field is out of range."""
    frac = (m.group(7) or "0")[:6].ljust(6, "0")
    try:
        tz = _tz(m.group(8)) or local
        return datetime(
            int(m.group(1)), int(m.group(2)), int(m.group(3)),
            int(m.group(4)), int(m.group(5)), int(m.group(6)), int(frac), tzinfo=tz,
        )
    except ValueError:  # hand-edited or corrupted time: keep the line, drop the time
        return None


def _strip_kernel_stamp(
    text: str,
) -> tuple[str, float | None, str | None]:
    """Remove ``[ 123.456789]`` and ``[T123]`` left inside a syslog message."""
    uptime = None
    raw = None
    m = _UPTIME.match(text)
    if m:
        uptime = float(m.group(1))
        raw = m.group(0).strip()
        text = text[m.end():]
    m = _CALLER.match(text)
    if m:
        text = text[m.end():]
    return text, uptime, raw


def valid_text(text: str) -> str:
    """``text`` as it can be printed: a JSON string may hold a lone surrogate ("\\ud800"),
    which json.loads accepts and no UTF-8 output can encode (a traceback at print)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


def _str(value: object) -> str | None:
    return valid_text(value) if isinstance(value, str) else None


def _json_line(line: str) -> LogLine | None:
    import json  # here: the daemon reads kmsg only and never needs it

    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    msg = obj.get("MESSAGE")
    if isinstance(msg, list):  # journald exports non-UTF-8 messages as a byte array
        msg = bytes(b & 0xFF for b in msg if isinstance(b, int)).decode("utf-8", "replace")
    if not isinstance(msg, str):
        return None
    msg = valid_text(msg)
    wall = None
    raw = None
    rt = obj.get("__REALTIME_TIMESTAMP")
    if isinstance(rt, str) and rt.isdecimal():
        raw = rt
        try:
            wall = datetime.fromtimestamp(int(rt) / 1e6, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            wall = None  # a hand-edited stamp beyond year 9999: no wall time, not a guess
    uptime = None
    mono = obj.get("_SOURCE_MONOTONIC_TIMESTAMP")
    if isinstance(mono, str) and mono.isdecimal():
        uptime = int(mono) / 1e6
    text, up2, _ = _strip_kernel_stamp(msg)
    return LogLine(
        text=text,
        uptime_s=uptime if uptime is not None else up2,
        wall=wall,
        raw_time=raw,
        ident=_str(obj.get("SYSLOG_IDENTIFIER")),
        host=_str(obj.get("_HOSTNAME")),
        boot_id=_str(obj.get("_BOOT_ID")),
        wall_kind="log" if wall else None,
    )


def _year_for(month: int, day: int, reference: datetime) -> int:
    """RFC 3164 has no year: pick the one that puts the line at or before ``reference``."""
    year = reference.year
    try:
        candidate = datetime(year, month, day, tzinfo=reference.tzinfo)
    except ValueError:  # Feb 29 in a non-leap reference year
        return year - 1
    if candidate - reference > timedelta(days=2):
        return year - 1
    return year


_STAMPS: dict[tuple[str, tzinfo, int | None], datetime | None] = {}


def _rfc3164_time(ts: str, local: tzinfo, reference: datetime | None) -> datetime | None:
    """The datetime of an RFC 3164 stamp; cached, since a storm repeats each second's stamp."""
    ref_key = reference.year * 10000 + reference.month * 100 + reference.day if reference else None
    key = (ts, local, ref_key)
    cached = _STAMPS.get(key, _MISSING)
    if cached is not _MISSING:
        return cached  # type: ignore[return-value]
    m = _RFC3164.match(ts)
    stamp: datetime | None = None
    if m:
        month = month_number(m.group(1)) or 1
        day = int(m.group(2))
        ref = reference or datetime.now(local)
        year = int(m.group(7)) if m.group(7) else _year_for(month, day, ref)
        frac = (m.group(6) or "0")[:6].ljust(6, "0")
        try:
            stamp = datetime(
                year, month, day, int(m.group(3)), int(m.group(4)),
                int(m.group(5)), int(frac), tzinfo=local,
            )
        except ValueError:
            stamp = None
    if len(_STAMPS) > 4096:
        _STAMPS.clear()
    _STAMPS[key] = stamp
    return stamp


_MISSING = object()


def _rfc3164_kind(ts: str) -> str:
    """``log`` when the stamp prints its year ("Nov 19 00:02:13 2026", some syslogds),
    ``log-year-assumed`` when the year was chosen by _year_for: the one that puts the line
    at or before the file's last change. Right for a machine's own logs (rotation keeps
    the modification time), a guess for a pasted or copied file."""
    return "log" if ts[-5] == " " else "log-year-assumed"


def parse_line(
    line: str,
    *,
    local: tzinfo = timezone.utc,
    reference: datetime | None = None,
) -> LogLine | None:
    """Decode one raw line. Returns None for lines that carry no message.

    ``local`` is the time zone of syslog times that print none (RFC 3164,
    ``dmesg -T``); ``reference`` anchors the year of RFC 3164 times (the log
    file's modification time: the last line was written before it).
    """
    line = line.rstrip("\r\n")
    if line[:1] == "\ufeff":  # a byte order mark: a log saved by a Windows editor
        line = line[1:]
    if "\x1b" in line:
        line = _ANSI.sub("", line)
    if line[:1] == ">":  # quoted in a mail reply ("> ", "> > ", ">> "); no log format starts so
        line = _MAIL_QUOTE.sub("", line, count=1)
    if not line:
        return None
    if line[0] in " \t":
        if _KMSG_DICT.match(line):
            return None  # /dev/kmsg continuation line: " SUBSYSTEM=..." dictionary
        line = line.lstrip(" \t") or line  # indented: a paste quoted in a mail or Markdown
    c = line[0]
    if c == "\x1e" or (c == "d" and line.startswith("data: {")):
        # journalctl -o json-seq puts an RS byte before each object, -o json-sse "data: ".
        line = line[1:] if c == "\x1e" else line[6:]
        c = line[:1]
    if c == "{":
        parsed = _json_line(line)
        if parsed is not None:
            return parsed
    if c.isdecimal():
        m = _KMSG.match(line)
        if m:
            text = m.group(6)
            if "\\x" in text:
                text = _KMSG_ESCAPES.sub(_kmsg_bytes, text)
            return LogLine(
                text=text, uptime_s=int(m.group(3)) / 1e6, raw_time=m.group(3), ident="kernel",
            )
        m = _ISO_RE.match(line)
        if m:
            wall = _iso(m, local)
            rest = line[m.end():]
            g = _VMWARE_GUEST.match(rest) if rest.startswith(" In(") else None
            if g:
                text, uptime, raw = _strip_kernel_stamp(rest[g.end():])
                return LogLine(text=text, uptime_s=uptime, raw_time=raw, ident="kernel")
            t = _SYSLOG_TAIL.match(rest)
            if t:  # RFC 3339 syslog (rsyslog) or journalctl -o short-iso
                return _tail_line(rest[t.end():], t, wall, m.group(0))
            text, uptime, _ = _strip_kernel_stamp(rest.lstrip())
            # dmesg --time-format iso: the kernel's time converted by dmesg itself,
            # which has the same suspend caveat as dmesg -T.
            return LogLine(
                text=text, uptime_s=uptime, wall=wall, raw_time=m.group(0),
                ident="kernel", wall_kind="dmesg-ctime" if wall else None,
            )
        m = _UNIX.match(line)
        t = _SYSLOG_TAIL.match(line, m.end()) if m else None
        if m and t:  # journalctl -o short-unix
            wall = datetime.fromtimestamp(int(m.group(1)), tz=timezone.utc).replace(
                microsecond=int(m.group(2)))
            return _tail_line(line[t.end():], t, wall, m.group(0))
    if c == "<":
        m = _RFC5424.match(line)
        if m:
            ts = _ISO_RE.fullmatch(m.group(2))
            text, uptime, _ = _strip_kernel_stamp(line[m.end():])
            when = _iso(ts, local) if ts else None
            return LogLine(
                text=text, uptime_s=uptime, wall=when,
                raw_time=m.group(2), host=m.group(3), ident=m.group(4),
                wall_kind="log" if when else None,
            )
        m = _LEVEL.match(line)
        if m:  # dmesg -r
            return _dmesg(line[m.end():], line, local)
    if c.isalpha():
        m = _RFC3164_LINE.match(line)
        if m:
            uptime = float(m.group("up")) if m.group("up") else None
            stamp_text: str = m.group("ts")
            stamp = _rfc3164_time(stamp_text, local, reference)
            return LogLine(
                text=line[m.end():], uptime_s=uptime, wall=stamp, raw_time=stamp_text,
                host=m.group("host"), ident=m.group("ident") or m.group("ident2"),
                wall_kind=_rfc3164_kind(stamp_text) if stamp else None,
            )
        # journalctl -o short-full/with-unit, then busybox/OpenWrt: tried after RFC 3164, so
        # the commonest syslog line pays nothing for them
        m = _FULL.match(line)
        t = _SYSLOG_TAIL.match(line, m.end()) if m else None
        if m and t:
            return _tail_line(line[t.end():], t, full_time(m, local), m.group(0))
        m = _FACILITY_LINE.match(line)
        if m:
            stamp_text = m.group("ts")
            stamp = _rfc3164_time(stamp_text, local, reference)
            return LogLine(
                text=line[m.end():], uptime_s=float(m.group("up")) if m.group("up") else None,
                wall=stamp, raw_time=stamp_text, host=m.group("host"), ident=m.group("ident"),
                wall_kind=_rfc3164_kind(stamp_text) if stamp else None,
            )
        m = _DECODED.match(line)
        if m:  # dmesg -x
            return _dmesg(line[m.end():], line, local)
    if c == "[":
        m = _MONO.match(line)  # journalctl -o short-monotonic
        if m:
            return LogLine(
                text=line[m.end():], uptime_s=float(m.group(1)), raw_time=m.group(1),
                host=m.group(2), ident=m.group(3) or m.group(6),
            )
    m = _TALOS.match(line) or _CLOUD_LOGGING.match(line)
    if m:
        ts = _ISO_RE.fullmatch(m.group("iso"))
        wall = _iso(ts, local) if ts else None
        talos = m.re is _TALOS
        text, uptime, _ = _strip_kernel_stamp(line[m.end():].rstrip())
        return LogLine(
            text=text, uptime_s=uptime, wall=wall, raw_time=m.group("iso"),
            host=m.group("host") if talos else None,
            ident="kernel" if not talos or m.group("fac") == "kern" else m.group("fac"),
            wall_kind=("dmesg-ctime" if talos else "log") if wall else None,
        )
    m = _GREP.match(line)
    if m and m.end() < len(line):
        # Only here, once no format has matched: it costs the common lines nothing.
        return parse_line(line[m.end():], local=local, reference=reference)
    return _dmesg(line, line, local)


def _tail_line(rest: str, t: re.Match[str], wall: datetime | None, raw: str) -> LogLine:
    """A journalctl line once its time is read: `` host ident[pid]: `` matched by ``t``."""
    text, uptime, _ = _strip_kernel_stamp(rest)
    return LogLine(text=text, uptime_s=uptime, wall=wall, raw_time=raw, host=t.group(1),
                   ident=t.group(2) or t.group(5), wall_kind="log" if wall else None)


def _dmesg(body: str, line: str, local: tzinfo) -> LogLine:
    m = _UPTIME.match(body)
    if m:
        text, uptime, raw = _strip_kernel_stamp(body)
        return LogLine(text=text, uptime_s=uptime, raw_time=raw, ident="kernel")
    m = _CTIME.match(body)
    if m:
        month = month_number(m.group("mon") or m.group("mon2"))
        if month:
            try:
                wall = datetime(
                    int(m.group("y")), month, int(m.group("day") or m.group("day2")),
                    int(m.group("h")), int(m.group("mi")), int(m.group("s")), tzinfo=local,
                )
            except ValueError:
                wall = None
            if wall is not None:
                text = body[m.end():]
                c = _CALLER.match(text)
                if c:
                    text = text[c.end():]
                return LogLine(
                    text=text, wall=wall, raw_time=m.group(0).strip(), ident="kernel",
                    wall_kind="dmesg-ctime",
                )
    m = _DELTA.match(body)
    if m:  # dmesg -e/-d/-H relative times: a gap since the line before, not a time
        return LogLine(text=body[m.end():], ident="kernel")
    m = _RELTIME.match(body)
    if m and month_number(m.group(1)):
        return LogLine(text=body[m.end():], raw_time=m.group(0).strip(), ident="kernel")
    m = _CALLER.match(body)
    if m:
        body = body[m.end():]
    return LogLine(text=body)

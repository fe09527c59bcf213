"""Where log lines come from: one small reader per source, one interface.

Each source opens a binary stream of log lines; ``kernel_log.parse_stream``
decides per line which format it is. Sources:

* ``/dev/kmsg``, read without blocking until EAGAIN (Documentation/ABI/testing/dev-kmsg:
  one record per read(); EPIPE means records were overwritten before we read them);
* journald through ``journalctl -o json`` (kernel transport plus the userspace
  killers' identifiers), this and earlier boots, or a saved journal file;
* syslog files ``kern.log*``, ``messages*``, ``syslog*`` (rotated ``.1``,
  compressed ``.gz``/``.xz``/``.bz2``/``.zst``), oldest first;
* any ``--file`` (``-`` is stdin), its compression detected from magic bytes.
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import stat
import sys
import zlib
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple, cast

from oomkit import devkmsg
from oomkit.errors import SourceUnavailable

if TYPE_CHECKING:  # imported where used: `why --file` and the daemon read no journal
    import subprocess


class Source(NamedTuple):
    """A place to read log lines from."""

    name: str  # shown to the user and used as SourceRef.path
    kind: str  # "kmsg", "journal", "file", "stdin"
    path: Path | None = None
    this_boot: bool = False  # printk stamps may be converted with this boot's clock offset
    journal_args: tuple[str, ...] = ()


def _inflater() -> Any:
    """A gzip decompressor: ISA-L's when installed (about 3x zlib's speed), else zlib's."""
    try:
        from isal import isal_zlib

        return isal_zlib.decompressobj(wbits=31)
    except ImportError:
        return zlib.decompressobj(wbits=31)


def _inflate_errors() -> tuple[type[Exception], ...]:
    """What either decompressor raises on corrupt data (ISA-L's is not a zlib.error)."""
    try:
        from isal import isal_zlib

        # isal's stub says "error: Exception", an instance; it is the class IsalError.
        return (zlib.error, cast("type[Exception]", isal_zlib.error))
    except ImportError:
        return (zlib.error,)


class _Wrapping(io.RawIOBase):
    """A raw reader over another file that it owns: closing it closes that file."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        # The wrapped file is ours to close: the caller holds only this wrapper.
        try:
            self._raw.close()
        finally:
            super().close()


class _GzipRaw(_Wrapping):
    """Streaming gzip reader over large chunks (multi-member files too).

    gzip.GzipFile decompresses in small steps through Python code; feeding
    zlib 1 MiB at a time and writing its output straight into the caller's
    buffer keeps the cost at zlib's own speed. A file cut short raises
    EOFError only after everything before the cut has been returned.
    """

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__(raw)
        self._d = _inflater()
        self._input = b""  # compressed bytes not yet given to the decompressor
        self._in_member = False

    def readinto(self, b: memoryview | bytearray) -> int:  # type: ignore[override]
        view = memoryview(b).cast("B")
        want = len(view)
        got = 0
        while got < want:
            if self._d.unconsumed_tail:
                data = self._d.unconsumed_tail
            elif self._input:
                data, self._input = self._input, b""
            else:
                data = self._raw.read(1 << 20)
            if not data and self._in_member:
                # The decompressor may hold input that max_length kept back: ISA-L's
                # keeps it inside (its unconsumed_tail can be empty), so a file cut short
                # would lose the text before the cut that a short read left there.
                try:
                    data = self._d.decompress(b"", want - got)
                except _inflate_errors():
                    data = b""
                if data:
                    view[got : got + len(data)] = data
                    got += len(data)
                    continue
            if not data:
                if self._in_member and got == 0:
                    raise EOFError("compressed file ended before the end of the gzip stream")
                break
            self._in_member = True
            try:
                out = self._d.decompress(data, want - got)
            except _inflate_errors() as exc:
                if got:  # hand out what came before; the next call says it
                    self._input = data
                    break
                raise EOFError(f"corrupt gzip data: {exc}") from None
            view[got : got + len(out)] = out
            got += len(out)
            if self._d.eof:  # end of a member; another may follow (cat a.gz b.gz)
                # At the end of a stream zlib puts what follows in unused_data (and,
                # when max_length also stopped it, the same bytes in unconsumed_tail).
                rest = self._d.unused_data
                self._d = _inflater()
                self._in_member = False
                self._input = rest if rest.strip(b"\x00") else b""
        return got


class _ZstdRaw(_Wrapping):
    """Streaming zstd reader (several frames too), with _GzipRaw's contract: a file cut
    short or corrupt raises EOFError only after everything before that has been returned.

    zstandard's own stream_reader returns nothing and no error for a truncated or corrupt
    file (tried with 0.25), so frames are fed by hand and their ``eof`` checked.
    """

    def __init__(self, raw: IO[bytes], zstd: Any) -> None:
        super().__init__(raw)
        self._zstd = zstd
        self._d = zstd.ZstdDecompressor().decompressobj()
        self._out = b""  # decompressed, not yet handed out
        self._pos = 0
        self._input = b""
        self._in_frame = False

    def readinto(self, b: memoryview | bytearray) -> int:  # type: ignore[override]
        view = memoryview(b).cast("B")
        want, got = len(view), 0
        while got < want:
            if self._pos < len(self._out):
                n = min(want - got, len(self._out) - self._pos)
                view[got : got + n] = self._out[self._pos : self._pos + n]
                self._pos += n
                got += n
                continue
            # 64 KiB in: a log compresses ~10x, so each step gives out well under 10 MiB.
            data, self._input = (self._input or self._raw.read(1 << 16)), b""
            if not data:
                if self._in_frame and got == 0:
                    raise EOFError("compressed file ended before the end of the zstd frame")
                break
            self._in_frame = True
            try:
                self._out, self._pos = self._d.decompress(data), 0
            except self._zstd.ZstdError as exc:
                if got:
                    self._input, self._out = data, b""  # say it on the next call
                    break
                raise EOFError(f"corrupt zstd data: {exc}") from None
            if self._d.eof:  # end of a frame; another may follow (zstd -c a b > c)
                rest = self._d.unused_data
                self._d = self._zstd.ZstdDecompressor().decompressobj()
                self._in_frame = False
                self._input = rest if rest.strip(b"\x00") else b""
        return got


class _CorruptAsEOF(_Wrapping):
    """A decompressing file whose own error on corrupt data (lzma.LZMAError, not an
    OSError) becomes EOFError, which the readers report as "read stopped early"."""

    def __init__(self, f: IO[bytes], error: type[Exception], kind: str) -> None:
        super().__init__(f)
        self._error, self._kind = error, kind

    def readinto(self, b: memoryview | bytearray) -> int:  # type: ignore[override]
        try:
            return self._raw.readinto(b)  # type: ignore[attr-defined,no-any-return]
        except self._error as exc:
            raise EOFError(f"corrupt {self._kind} data: {exc}") from None


# The first bytes of the compressed formats a rotated log comes in.
_MAGIC = ((b"\x1f\x8b", "gzip"), (b"\xfd7zXZ\x00", "xz"), (b"BZh", "bz2"),
          (b"\x28\xb5\x2f\xfd", "zstd"))


def _compression(head: bytes) -> str | None:
    """The compressed format a file's first six bytes announce, or None for plain text."""
    return next((kind for magic, kind in _MAGIC if head.startswith(magic)), None)


# A journal file's header begins with this signature (systemd's JOURNAL_FILE_FORMAT).
_JOURNAL = b"LPKSHHRH"
# A saved `journalctl -o export`: every entry begins with its cursor (JOURNAL_EXPORT_FORMATS).
_EXPORT = b"__CURSOR="


def _from_export(stream: IO[bytes]) -> IO[bytes]:
    """The JSON lines of a journal export stream (journal_export.py: the parser reads
    them as it reads journalctl's JSON; a line is then an entry)."""
    from oomkit import journal_export

    return io.BufferedReader(journal_export.ExportAsJson(stream))


def open_any(raw: IO[bytes]) -> IO[bytes]:
    """Wrap a binary stream in the decompressor its magic bytes call for, and a saved
    journal export in the converter to JSON lines."""
    # A plain file stays unbuffered: the line scanner's reads then go straight into
    # its aligned buffer (scan.ALIGN); a BufferedReader would shift them off alignment
    # by whatever it holds. pread leaves the file position alone.
    if isinstance(raw, io.FileIO) and raw.seekable():
        head = os.pread(raw.fileno(), len(_EXPORT), raw.tell())
        if head.startswith(_EXPORT):
            return _from_export(raw)
        if _compression(head[:6]) is None:
            return raw
    buffered = (
        raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(cast(io.RawIOBase, raw))
    )
    if buffered.peek(len(_EXPORT))[:len(_EXPORT)] == _EXPORT:
        return _from_export(buffered)
    kind = _compression(buffered.peek(6)[:6])
    if kind is None:
        return buffered
    # An export compressed for sharing (`journalctl -o export | gzip`) is an export too.
    text = _Peeked(_decompressing(kind, buffered), buffered)
    stream = cast(IO[bytes], text)
    return _from_export(stream) if text.head == _EXPORT else stream


def _decompressing(kind: str, buffered: io.BufferedReader) -> IO[bytes]:
    if kind == "gzip":
        # Not wrapped in a BufferedReader: it would retry a failing read and drop
        # the data decompressed before a truncation.
        return cast(IO[bytes], _GzipRaw(buffered))
    if kind == "xz":
        import lzma  # here: most logs are plain text or gzip

        return cast(IO[bytes], _CorruptAsEOF(lzma.open(buffered), lzma.LZMAError, "xz"))
    if kind == "bz2":
        import bz2

        return bz2.open(buffered)
    try:
        import zstandard  # here: the daemon and most logs never need it
    except ImportError:
        raise SourceUnavailable(
            "zstd-compressed log, and the zstandard package is not installed: `pip install"
            " zstandard`, or run `zstdcat FILE | oomkit why --file -`") from None
    return cast(IO[bytes], _ZstdRaw(buffered, zstandard))


class _Peeked(_Wrapping):
    """A decompressed stream whose first bytes were read to see whether it is a journal
    export; it hands them out first. An error inside those bytes (a file cut short,
    corrupt data) is raised after them, as the decompressors do."""

    def __init__(self, raw: IO[bytes], compressed: IO[bytes]) -> None:
        super().__init__(raw)
        # lzma.open and bz2.open leave the file they were given open when closed
        self._compressed = compressed
        buf = bytearray(len(_EXPORT))
        got = 0
        self._error: Exception | None = None
        try:
            while got < len(buf):
                n = raw.readinto(memoryview(buf)[got:])  # type: ignore[attr-defined]
                if not n:
                    break
                got += n
        except (OSError, EOFError, ValueError) as exc:  # what the readers report
            self._error = exc
        self.head = bytes(buf[:got])
        self._pos = 0

    def readinto(self, b: memoryview | bytearray) -> int:  # type: ignore[override]
        view = memoryview(b).cast("B")
        n = min(len(view), len(self.head) - self._pos)
        view[:n] = self.head[self._pos : self._pos + n]
        self._pos += n
        if n == len(view):
            return n
        if self._error is None:
            try:  # the rest of the caller's buffer, as one read of the file would fill it
                return n + self._raw.readinto(view[n:])  # type: ignore[attr-defined,no-any-return]
            except (OSError, EOFError, ValueError) as exc:
                if not n:
                    raise
                self._error = exc
        if n:
            return n  # the bytes before the error; the next call raises it
        error, self._error = self._error, None
        raise error

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._compressed.close()


def open_source(source: Source) -> IO[bytes]:
    """Open a source for reading. Raises SourceUnavailable with a one-line reason."""
    if source.kind == "stdin":
        return open_any(sys.stdin.buffer)
    if source.kind == "kmsg":
        return io.BytesIO(read_kmsg(source.path or Path("/dev/kmsg")))
    if source.kind == "journal":
        return open_journal(source.journal_args)
    assert source.path is not None
    try:
        raw = open(source.path, "rb", buffering=0)  # noqa: SIM115 - closed by the caller
    except FileNotFoundError:
        raise SourceUnavailable(f"{source.path}: no such file; check the path") from None
    except IsADirectoryError:
        raise SourceUnavailable(f"{source.path}: is a directory; give a log file") from None
    except PermissionError:
        raise SourceUnavailable(
            f"{source.path}: permission denied; run as root or add yourself to group adm"
        ) from None
    if _is_journal(raw):
        # A journal file given as a log (`--file system.journal`): read as text its binary
        # objects gave kills with the wrong cgroups and no time. journalctl reads it.
        raw.close()
        return open_journal(("--file", str(source.path)))
    return open_any(raw)


def _is_journal(raw: io.FileIO) -> bool:
    """Whether a file opened as a log is a journal file (a pipe or a FIFO is not read)."""
    try:
        return raw.seekable() and os.pread(raw.fileno(), len(_JOURNAL), 0) == _JOURNAL
    except OSError:
        return False


def read_kmsg(path: Path = Path("/dev/kmsg")) -> bytes:
    """Every record in the kernel ring buffer, without blocking."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except PermissionError:
        raise SourceUnavailable(
            f"{path}: permission denied (kernel.dmesg_restrict=1 lets only CAP_SYSLOG read the"
            " kernel log); reading the journal and log files instead; run as root for kmsg"
        ) from None
    except FileNotFoundError:
        raise SourceUnavailable(f"{path}: not present on this system") from None
    chunks: list[bytes] = []
    try:
        for rec in devkmsg.records(fd, 16384):
            if rec is not None:  # None: overwritten while we read; the reader skipped ahead
                chunks.append(rec if rec.endswith(b"\n") else rec + b"\n")
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.EACCES):
            raise SourceUnavailable(
                f"{path}: permission denied (kernel.dmesg_restrict=1); run as root"
            ) from None
        raise
    finally:
        os.close(fd)
    return b"".join(chunks)


JOURNAL_MATCHES = (
    "_TRANSPORT=kernel", "+", "SYSLOG_IDENTIFIER=earlyoom", "+", "SYSLOG_IDENTIFIER=nohang",
    "+", "SYSLOG_IDENTIFIER=systemd-oomd", "+", "SYSLOG_IDENTIFIER=oomd",
    # systemd's "<unit>: A process of this unit has been killed by the OOM killer."
    # (SD_MESSAGE_UNIT_OUT_OF_MEMORY in systemd's sd-messages.h; kernel_log/systemd_units.py)
    "+", "MESSAGE_ID=fe6faa94e7774663a0da52717891d8ef",
)


JOURNAL_TIMEOUT_S = 120.0


class _JournalPipe(io.FileIO):
    """journalctl's standard output, read while journalctl writes it.

    A pipe, not captured output: a machine that went through an OOM storm has
    millions of kernel lines in its journal, about 0.4 KB each in export form, and
    capturing them whole would take gigabytes, on the machine that just ran out of
    memory. Closing it reaps journalctl. A failure journalctl reported after
    printing everything raises SourceUnavailable; if it had not finished after
    JOURNAL_TIMEOUT_S, it is killed, and closing raises TimeoutError (an OSError:
    the lines read before it are kept).
    """

    def __init__(self, fd: int, proc: subprocess.Popen[bytes], errors: IO[bytes]) -> None:
        import threading

        super().__init__(fd, "rb", closefd=True)
        self._proc, self._errors = proc, errors
        self._eof = self._timed_out = False
        self._timer = threading.Timer(JOURNAL_TIMEOUT_S, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        self._timed_out = True
        self._proc.kill()

    def readinto(self, buffer: Any) -> int | None:
        n = super().readinto(buffer)
        self._eof = self._eof or n == 0
        return n

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size) or b""  # None only for a non-blocking pipe
        self._eof = self._eof or not data or size is None or size < 0
        return data

    def close(self) -> None:
        if self.closed:
            return
        super().close()  # before the end: journalctl gets EPIPE and stops
        self._timer.cancel()
        code = self._proc.wait()
        self._errors.seek(0)
        message = self._errors.read().decode("utf-8", "replace").strip().splitlines()
        self._errors.close()
        if self._timed_out:
            raise TimeoutError(f"journalctl took over {JOURNAL_TIMEOUT_S:.0f} s; narrow with --since")
        if self._eof and code != 0:
            reason = message[-1] if message else f"exit status {code}"
            raise SourceUnavailable(f"journalctl: {reason}")


def open_journal(args: tuple[str, ...]) -> IO[bytes]:
    """Kernel and OOM-killer entries from journald as JSON lines, streamed.

    journalctl prints them in its export format, three times faster than as JSON,
    and journal_export turns each entry into the JSON line the parser reads (in C;
    without that module journalctl prints the JSON itself)."""
    import shutil
    import subprocess
    import tempfile

    from oomkit import journal_export

    exe = shutil.which("journalctl")
    if exe is None:
        raise SourceUnavailable("journalctl: not installed; no journal to read")
    form = "export" if journal_export.native is not None else "json"
    cmd = [exe, "-o", form, "--no-pager", "-q", *args, *JOURNAL_MATCHES]
    try:
        errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed with the pipe
    except OSError as exc:  # no room in the temporary directory
        raise SourceUnavailable(f"journalctl: cannot keep its messages ({exc.strerror};"
                                f" check {tempfile.gettempdir()})") from None
    read_fd, write_fd = os.pipe()
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=write_fd, stderr=errors)
    except OSError as exc:
        os.close(read_fd)
        errors.close()
        raise SourceUnavailable(f"journalctl: cannot run it ({exc.strerror})") from None
    finally:
        os.close(write_fd)
    pipe = _JournalPipe(read_fd, proc, errors)
    if form == "json":
        return pipe
    # Buffered: the line selector reads a BufferedReader on its own thread.
    return io.BufferedReader(journal_export.ExportAsJson(pipe))


def read_journal(args: tuple[str, ...]) -> bytes:
    """Kernel and OOM-killer entries from journald as JSON lines, all at once (for the
    short windows the supervisor reads)."""
    with open_journal(args) as f:
        return f.read()


class Boot(NamedTuple):
    """One boot known to journald."""

    offset: int  # journalctl's boot index: 0 = this boot, -1 = the one before, ...
    boot_id: str
    first: datetime
    last: datetime


def list_boots() -> list[Boot]:
    """Boots in the journal (``journalctl --list-boots -o json``); empty when unknown."""
    import shutil
    import subprocess

    exe = shutil.which("journalctl")
    if exe is None:
        return []
    try:
        proc = subprocess.run(
            [exe, "--list-boots", "-o", "json", "--no-pager", "-q"],
            capture_output=True, timeout=30, check=False,
        )
        rows = json.loads(proc.stdout or b"[]") if proc.returncode == 0 else []
    except (subprocess.TimeoutExpired, ValueError):
        return []
    boots = []
    for row in rows if isinstance(rows, list) else []:
        try:
            boots.append(Boot(
                offset=int(row["index"]), boot_id=str(row["boot_id"]),
                first=datetime.fromtimestamp(int(row["first_entry"]) / 1e6, tz=timezone.utc),
                last=datetime.fromtimestamp(int(row["last_entry"]) / 1e6, tz=timezone.utc),
            ))
        except (KeyError, TypeError, ValueError, OverflowError, OSError):
            continue
    return boots


_ROTATED = re.compile(
    r"^(?P<base>kern\.log|messages|syslog)(?:[.-](?P<n>\d+))?(?P<ext>\.gz|\.xz|\.bz2|\.zst)?$")


def syslog_files(log_dir: Path = Path("/var/log")) -> list[Path]:
    """kern.log, messages and syslog with their rotations, oldest first."""
    try:
        names = os.listdir(log_dir)
    except OSError:
        return []
    found: list[tuple[str, int, str]] = []
    for name in names:
        m = _ROTATED.match(name)
        if m:
            found.append((m.group("base"), int(m.group("n") or 0), name))
    # Higher rotation numbers are older; date-suffixed rotations sort by name.
    found.sort(key=lambda t: (t[0], -t[1], t[2]))
    return [log_dir / name for _, _, name in found]


def mtime(path: Path | None) -> datetime | None:
    """A file's modification time (the reference for year-less syslog dates)."""
    if path is None:
        return None
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)
    except OSError:
        return None


def default_sources(
    *, kmsg: Path = Path("/dev/kmsg"), log_dir: Path = Path("/var/log"),
    journal_args: tuple[str, ...] = (), use_journal: bool = True,
) -> Iterator[Source]:
    """Every source this machine has, most precise first."""
    import shutil

    yield Source(name="kmsg", kind="kmsg", path=kmsg, this_boot=True)
    if use_journal and shutil.which("journalctl"):
        yield Source(name="journal", kind="journal", journal_args=journal_args)
    for path in syslog_files(log_dir):
        yield Source(name=str(path), kind="file", path=path)


def file_source(arg: str) -> Source:
    """A --file argument as a source."""
    if arg == "-":
        return Source(name="<stdin>", kind="stdin")
    if _is_kmsg(Path(arg)):
        # Read as a file, /dev/kmsg blocks at its end waiting for the next record.
        return Source(name=arg, kind="kmsg", path=Path(arg), this_boot=True)
    return Source(name=arg, kind="file", path=Path(arg))


def _is_kmsg(path: Path) -> bool:
    """Whether ``path`` is the kmsg device, character device 1:11
    (Documentation/admin-guide/devices.txt), under whatever name."""
    try:
        st = path.stat()
    except OSError:
        return False
    return stat.S_ISCHR(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (1, 11)

"""Request readers: bytes in, argument vectors out. No I/O here (sans-IO).

Two implementations behind one interface (``feed(data)``, ``get() -> argv | None``):

* :class:`PythonReader` is the reference. It follows redis-server's
  ``processMultibulkBuffer`` / ``processInlineBuffer`` (networking.c) byte for byte,
  including its error texts and limits, and is stricter in one place: a bulk must be
  followed by CRLF.
* :class:`HiredisReader` lets hiredis's C parser split multibulk requests (about 0.3 us a
  command against ~1.3 us in Python) and keeps the Python reader as its validator: inline
  commands, malformed frames and partial frames that could hide an oversized length are
  handed to the Python reader, so clients see the same replies with either.

A protocol error is raised as :class:`ProtocolError` after every complete command before
it has been returned, so the caller answers those first, then the error, then closes.
"""

from __future__ import annotations

from itertools import chain
from typing import Final

from ._split import split_batch, split_inline

__all__ = [
    "INLINE_MAX_SIZE",
    "HiredisReader",
    "ProtocolError",
    "PythonReader",
    "QueryBufferLimitError",
    "RequestReader",
    "make_reader",
]

INLINE_MAX_SIZE: Final = 64 * 1024  # PROTO_INLINE_MAX_SIZE in redis-server
INT_MAX: Final = 2**31 - 1
UNAUTH_MAX_MULTIBULK: Final = 10  # redis-server's limits before AUTH
UNAUTH_MAX_BULK: Final = 16384
# Below this a waiting bulk is collected by concatenation; above it in a chunk list, so
# a 500 MB value arriving in 64 KB reads costs O(n), not O(n^2).
_CHUNKED_BULK: Final = 16 * 1024
# split_batch is tried on reads up to this size (beyond it, few large values: the
# incremental parser costs nothing next to the copies).
_SPLIT_MAX: Final = 16 * 1024


class ProtocolError(Exception):
    """A malformed request: reply ``-ERR <message>`` and close the connection."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class QueryBufferLimitError(ProtocolError):
    """The client's unparsed input passed client-query-buffer-limit: close without a reply."""


def _strict_int(s: bytes) -> int | None:
    """redis-server's string2ll: optional '-', no '+', no spaces, no leading zeros."""
    if s.isdigit():
        if (s[0] == 48 and len(s) > 1) or len(s) > 19:  # '0'
            return None
        return int(s)
    if len(s) > 1 and s[0] == 45 and s[1:].isdigit() and s[1] != 48 and len(s) <= 20:
        return int(s)
    return None


def _hidden_line(buf: bytes, pos: int, too_big: str) -> None:
    """A line with a NUL before its end: wait for more, or refuse it past 64 KB.

    redis-server looks for line ends with strchr, which stops at a NUL, so for it such a
    line has no end yet. A header holding a NUL is never valid, so the readers check for
    one only on the way to an error; an inline line is checked up front.
    """
    if len(buf) - pos > INLINE_MAX_SIZE:
        raise ProtocolError(too_big)


class _Limits:
    """What both readers enforce: proto-max-bulk-len, client-query-buffer-limit and,
    until the client authenticates, redis-server's tighter limits."""

    __slots__ = ("auth_required", "max_bulk_len", "query_buffer_limit")

    def __init__(
        self,
        max_bulk_len: int = 512 * 1024 * 1024,
        query_buffer_limit: int = 1024 * 1024 * 1024,
    ) -> None:
        self.max_bulk_len = max_bulk_len
        self.query_buffer_limit = query_buffer_limit
        self.auth_required = False

    def set_limits(self, max_bulk_len: int, query_buffer_limit: int) -> None:
        """New limits for what is read from now on (CONFIG SET)."""
        self.max_bulk_len = max_bulk_len
        self.query_buffer_limit = query_buffer_limit


class PythonReader(_Limits):
    """The reference request reader, in pure Python."""

    __slots__ = (
        "_argv",
        "_buf",
        "_bulk",
        "_chunks",
        "_chunks_len",
        "_error",
        "_left",
        "_pos",
    )

    def __init__(
        self,
        max_bulk_len: int = 512 * 1024 * 1024,
        query_buffer_limit: int = 1024 * 1024 * 1024,
    ) -> None:
        super().__init__(max_bulk_len, query_buffer_limit)
        self._buf = b""
        self._pos = 0
        self._argv: list[bytes] | None = None  # arguments of a partly read multibulk
        self._left = 0  # arguments still to read
        self._bulk = -1  # length of the bulk being waited for, -1 before its header
        # A large bulk arriving in pieces, from its first payload byte on: joined once,
        # when complete, into the argument (one copy, as the value must be bytes).
        self._chunks: list[bytes | memoryview] | None = None
        self._chunks_len = 0
        self._error: ProtocolError | None = None  # found after commands still to be returned

    @property
    def buffered(self) -> int:
        """Bytes received and not yet returned as commands."""
        return len(self._buf) - self._pos + self._chunks_len

    def at_boundary(self) -> bool:
        """True when no partial command is held (every byte fed has been returned)."""
        return (
            self._argv is None
            and self._pos >= len(self._buf)
            and self._chunks is None
            and self._error is None
        )

    def read_batch(self) -> list[list[bytes]]:
        """Every complete command available, in order ([] when more data is needed).

        A protocol error found after some commands is raised by the NEXT call, so the
        caller answers the commands that came before it first, as redis-server does.
        """
        if self._error is not None:
            err, self._error = self._error, None
            raise err
        if (
            self._argv is None
            and self._chunks is None
            and not self.auth_required
            and 0 < len(self._buf) - self._pos <= min(self.max_bulk_len, _SPLIT_MAX)
            and self._buf.endswith(b"\r\n")
        ):
            data = self._buf if not self._pos else self._buf[self._pos :]
            fast = split_batch(data)
            if fast is not None:
                self._buf = b""
                self._pos = 0
                return fast
        if self.auth_required:
            # One command at a time until AUTH succeeds: the commands after it in the same
            # read are parsed with the limits of an authenticated client, as redis-server
            # parses each command after running the one before.
            argv = self.get()
            return [] if argv is None else [argv]
        batch: list[list[bytes]] = []
        try:
            while (argv := self.get()) is not None:
                batch.append(argv)
        except ProtocolError as e:
            if not batch:
                raise
            self._error = e
        return batch

    def feed(self, data: bytes) -> None:
        if self._chunks is not None:
            self._chunks.append(data)
            self._chunks_len += len(data)
            if self._chunks_len > self.query_buffer_limit:
                raise QueryBufferLimitError("query buffer limit")
            return
        if self._pos >= len(self._buf):
            self._buf = bytes(data)
        else:
            self._buf = self._buf[self._pos :] + data
        self._pos = 0
        if len(self._buf) > self.query_buffer_limit:
            raise QueryBufferLimitError("query buffer limit")

    def get(self) -> list[bytes] | None:
        """The next complete command, or None when more data is needed."""
        while True:
            if self._argv is None:
                buf, pos = self._buf, self._pos
                if pos >= len(buf):
                    return None
                if buf[pos] != 42:  # not '*': an inline command
                    argv = self._inline()
                    if argv is None:
                        return None
                    if argv:
                        return argv
                    continue
                nl = buf.find(b"\r", pos)
                if nl < 0 or nl + 1 >= len(buf):
                    if len(buf) - pos > INLINE_MAX_SIZE:
                        raise ProtocolError("Protocol error: too big mbulk count string")
                    return None
                n = _strict_int(buf[pos + 1 : nl])
                if n is None or n > INT_MAX:
                    if buf.find(b"\0", pos, nl) >= 0:
                        _hidden_line(buf, pos, "Protocol error: too big mbulk count string")
                        return None
                    raise ProtocolError("Protocol error: invalid multibulk length")
                if n > UNAUTH_MAX_MULTIBULK and self.auth_required:
                    raise ProtocolError("Protocol error: unauthenticated multibulk length")
                self._pos = nl + 2
                if n <= 0:
                    continue  # redis-server skips empty multibulks silently
                self._argv = []
                self._left = n
            argv = self._read_args()
            if argv is None:
                return None
            return argv

    def _read_args(self) -> list[bytes] | None:
        argv = self._argv
        assert argv is not None
        while self._left:
            if self._chunks is not None:
                if self._chunks_len < self._bulk + 2:
                    return None
                argv.append(self._take_chunked_bulk())
                continue
            buf, pos = self._buf, self._pos
            if self._bulk < 0:
                nl = buf.find(b"\r", pos)
                if nl < 0 or nl + 1 >= len(buf):
                    if len(buf) - pos > INLINE_MAX_SIZE:
                        raise ProtocolError("Protocol error: too big bulk count string")
                    return None
                n = _strict_int(buf[pos + 1 : nl]) if buf[pos] == 36 else None  # '$'
                if n is None or n < 0 or n > self.max_bulk_len:
                    if buf.find(b"\0", pos, nl) >= 0:
                        _hidden_line(buf, pos, "Protocol error: too big bulk count string")
                        return None
                    if buf[pos] != 36:
                        got = chr(buf[pos])
                        raise ProtocolError(f"Protocol error: expected '$', got '{got}'")
                    raise ProtocolError("Protocol error: invalid bulk length")
                if n > UNAUTH_MAX_BULK and self.auth_required:
                    raise ProtocolError("Protocol error: unauthenticated bulk length")
                self._bulk = n
                pos = self._pos = nl + 2
            end = pos + self._bulk
            if len(buf) < end + 2:
                if self._bulk >= _CHUNKED_BULK:
                    self._chunks = [memoryview(buf)[pos:]]  # no copy until complete
                    self._chunks_len = len(buf) - pos
                    self._buf = b""
                    self._pos = 0
                return None
            if buf[end] != 13 or buf[end + 1] != 10:
                raise ProtocolError("Protocol error: bulk not followed by CRLF")
            argv.append(buf[pos:end])
            self._pos = end + 2
            self._bulk = -1
            self._left -= 1
        self._argv = None
        return argv

    def _take_chunked_bulk(self) -> bytes:
        """The complete large bulk from the chunk list; what follows it becomes the buffer."""
        chunks = self._chunks
        assert chunks is not None
        need = self._bulk
        pieces: list[bytes | memoryview] = []
        got = 0
        rest: list[bytes | memoryview] = []
        for i, chunk in enumerate(chunks):
            if got + len(chunk) <= need:
                pieces.append(chunk)
                got += len(chunk)
                continue
            take = need - got
            view = memoryview(chunk)
            if take:
                pieces.append(view[:take])
            rest = [view[take:], *chunks[i + 1 :]]
            break
        arg = b"".join(pieces)
        tail = b"".join(rest)
        self._chunks = None
        self._chunks_len = 0
        if tail[:2] != b"\r\n":
            raise ProtocolError("Protocol error: bulk not followed by CRLF")
        self._buf = tail
        self._pos = 2
        self._bulk = -1
        self._left -= 1
        return arg

    def _inline(self) -> list[bytes] | None:
        buf, pos = self._buf, self._pos
        nl = buf.find(b"\n", pos)
        if nl < 0:
            if len(buf) - pos > INLINE_MAX_SIZE:
                raise ProtocolError("Protocol error: too big inline request")
            return None
        end = nl - 1 if nl > pos and buf[nl - 1] == 13 else nl
        line = buf[pos:end]
        if 0 in line:  # a NUL hides the line end from redis-server's strchr: see _hidden_line
            _hidden_line(buf, pos, "Protocol error: too big inline request")
            return None
        argv = split_inline(line)
        if argv is None:
            raise ProtocolError("Protocol error: unbalanced quotes in request")
        self._pos = nl + 1
        return argv


# See HiredisReader.read_batch: what hiredis is never shown.
_HIREDIS_MAX_READ: Final = 16 * 1024
# Every digit becomes '0', so "*" followed by 6+ digits is one substring search.
_DIGITS_TO_ZERO: Final = bytes.maketrans(b"123456789", b"000000000")
_HUGE_COUNT: Final = b"*000000"



class HiredisReader(_Limits):
    """hiredis splits multibulk requests; the Python reader handles what hiredis can't.

    hiredis parses replies, not requests, so on its own it would accept frames redis-server
    refuses (integers or nested arrays as arguments), could not parse inline commands, and
    would wait for a declared 2 GB bulk instead of refusing it. So hiredis only ever starts
    at a command boundary and keeps the stream only while each read is a whole number of
    multibulk frames of bulk strings (checked per read with C-level passes and a probe, not
    per command). Anything else - an inline command, a frame hiredis refuses or mis-reads, a
    read that ends inside a command - is replayed from the boundary by the Python reader,
    which gives redis-server's exact reply and owns the stream until the next boundary.

    One known difference, on malformed input inside a read that is otherwise whole: a
    bulk whose last byte is CR followed by LF CR instead of CR LF is accepted (the two
    bytes after it are skipped, as redis-server skips them); the Python reader refuses
    it. Simple strings where a bulk belongs and non-canonical lengths (``$04``) are
    refused by the C-level checks and hiredis itself (tests/integration/
    test_protocol_errors.py checks both readers against redis-server).
    """

    __slots__ = (
        "_hr",
        "_pending",
        "_pending_len",
        "_py",
        "_ready",
    )

    def __init__(
        self,
        max_bulk_len: int = 512 * 1024 * 1024,
        query_buffer_limit: int = 1024 * 1024 * 1024,
    ) -> None:
        super().__init__(max_bulk_len, query_buffer_limit)
        self._hr: hiredis.Reader | None = None  # only while a read is being parsed
        self._pending: list[bytes] = []  # bytes fed to hiredis since the last boundary
        self._pending_len = 0
        self._py: PythonReader | None = None  # set while the Python reader owns the stream
        self._ready: list[list[bytes]] | None = None  # parsed, not taken by get() (reversed)

    @property
    def buffered(self) -> int:
        if self._py is not None:
            return self._py.buffered
        return self._pending_len

    def set_limits(self, max_bulk_len: int, query_buffer_limit: int) -> None:
        super().set_limits(max_bulk_len, query_buffer_limit)
        if self._py is not None:
            self._py.set_limits(max_bulk_len, query_buffer_limit)

    def feed(self, data: bytes) -> None:
        py = self._py
        if py is not None:
            py.auth_required = self.auth_required
            py.feed(data)
            return
        if not data:
            return
        if not self._pending:
            if data[0] != 42 or self.auth_required:
                # Inline commands (telnet, PING_INLINE) and clients that have not
                # authenticated yet (tighter limits) go through the Python reader.
                self._py = py = PythonReader(self.max_bulk_len, self.query_buffer_limit)
                py.auth_required = self.auth_required
                py.feed(data)
                return
        self._pending.append(data)
        self._pending_len += len(data)
        if self._pending_len > self.query_buffer_limit:
            raise QueryBufferLimitError("query buffer limit")

    def get(self) -> list[bytes] | None:
        """The next complete command, or None when more data is needed (as PythonReader)."""
        if not self._ready:
            self._ready = self.read_batch()
            self._ready.reverse()
            if not self._ready:
                return None
        return self._ready.pop()

    def read_batch(self) -> list[list[bytes]]:
        """Every complete command available, in order; see PythonReader.read_batch.

        hiredis parses the whole read in one C-level loop (``iter(gets, False)``) and
        the batch is checked with C-level passes (types of commands and arguments), so
        the per-command cost in Python is close to zero.
        """
        py = self._py
        if py is not None:
            py.auth_required = self.auth_required  # AUTH may have run since the feed
            batch = py.read_batch()
            if not batch and py.at_boundary():
                self._py = None  # hiredis takes the next read
            return batch
        if not self._pending:
            return []
        pending = self._pending
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        if (
            len(data) > self.max_bulk_len
            or (len(data) > _HIREDIS_MAX_READ and data.count(b"\r\n", 0, 4096) < 16)
            or _HUGE_COUNT in data.translate(_DIGITS_TO_ZERO)
        ):
            # Reads that could hold a bulk over proto-max-bulk-len; large reads made of a
            # few big values (sparse CRLFs at the start: the Python reader copies each
            # value once, hiredis twice, and parsing is negligible next to the copies;
            # deep pipelines of small commands stay with hiredis); and any "*<6+ digits>":
            # hiredis allocates a list of that many slots up front and freeing 2**31 of
            # them stalls the loop for seconds. The Python reader checks counts and
            # lengths before it allocates anything.
            self._replay()
            return self.read_batch()
        # A fresh hiredis reader per read, dropped at the boundary: it costs ~700 bytes
        # of C buffers, which an idle connection should not hold.
        hr = self._hr = hiredis.Reader()
        hr.feed(data)
        try:
            batch = list(iter(hr.gets, False))
        except Exception:  # hiredis.ProtocolError; MemoryError for absurd counts
            self._replay()
            return self.read_batch()
        if not batch:
            self._replay()  # a partial command: the Python reader checks its headers
            return self.read_batch()
        try:
            # C-level passes only. Every command must be a list (list.__len__ refuses
            # anything else) and every argument bytes (join refuses integers, nulls,
            # nested arrays or maps) ...
            nargs = sum(map(list.__len__, batch))
            args = b"$".join(chain.from_iterable(batch))
        except TypeError:
            self._replay()
            return self.read_batch()
        # ... and the read must hold exactly one CRLF and one CR per header and after each
        # bulk, one '$' per argument and one '*' per command, besides those inside the
        # arguments (the counts add up across segments because every header ends in LF;
        # the '$' joining the arguments cannot pair with CR or LF and is taken off). This
        # refuses what hiredis accepts and redis-server does not: simple, verbatim and
        # other strings where bulks belong, aggregates other than arrays at the top, and
        # bulks not followed by CRLF (hiredis skips those two bytes unread). The one
        # trailer it cannot see is LF CR after an argument that ends in CR. Measured
        # under callgrind: ~1,900 instructions a SET, a quarter of the reader's cost.
        frame = len(batch) + 2 * nargs
        if (
            data.count(b"\r\n") != frame + args.count(b"\r\n")
            or data.count(b"\r") != frame + args.count(b"\r")
            or data.count(b"$") != nargs + args.count(b"$") - max(nargs - 1, 0)
            or data.count(b"*") != len(batch) + args.count(b"*")
        ):
            self._replay()
            return self.read_batch()
        if not self._at_boundary():
            # A partial command at the end: the Python reader replays from the boundary,
            # this batch included, checks the partial command's headers (a declared 2 GB
            # bulk is refused now, not after 2 GB) and owns the stream until the next
            # boundary.
            self._replay()
            return self.read_batch()
        self._pending.clear()
        self._pending_len = 0
        self._hr = None
        if b"*0\r\n" in data:  # `*0` frames: redis-server skips them silently
            batch = [argv for argv in batch if argv]
        return batch

    def _at_boundary(self) -> bool:
        """Has hiredis consumed every byte fed, with no command half-read?

        ``has_data()`` is False both at a boundary and inside an array whose header or
        elements were consumed, so probe: an empty multibulk ``*0`` parses as an empty
        command only at a boundary. Inside a partial command it becomes part of it, and
        the stream is replayed by the Python reader anyway.
        """
        hr = self._hr
        assert hr is not None
        if hr.has_data():
            return False
        hr.feed(b"*0\r\n")
        try:
            return hr.gets() == []
        except Exception:
            return False

    def _replay(self) -> None:
        """Hand the stream to the Python reader from the last boundary.

        Nothing fed since that boundary has been returned yet (hiredis batches are only
        returned once vouched for), so the Python reader simply starts there and owns
        the stream until it reaches a boundary of its own.
        """
        py = PythonReader(self.max_bulk_len, self.query_buffer_limit)
        py.auth_required = self.auth_required
        for chunk in self._pending:
            py.feed(chunk)
        self._pending = []
        self._pending_len = 0
        self._hr = None
        self._py = py


RequestReader = PythonReader | HiredisReader

try:
    import hiredis
except ImportError:  # pragma: no cover - exercised by the no-hiredis CI leg
    hiredis = None  # type: ignore[assignment]

HAVE_HIREDIS: Final = hiredis is not None


def make_reader(
    impl: str = "auto",
    max_bulk_len: int = 512 * 1024 * 1024,
    query_buffer_limit: int = 1024 * 1024 * 1024,
) -> RequestReader:
    """A reader of the chosen implementation: ``auto`` picks hiredis when installed."""
    if impl == "hiredis" or (impl == "auto" and HAVE_HIREDIS):
        if not HAVE_HIREDIS:
            raise RuntimeError("hiredis is not installed")
        return HiredisReader(max_bulk_len, query_buffer_limit)
    return PythonReader(max_bulk_len, query_buffer_limit)


def reader_name(impl: str = "auto") -> str:
    """Which implementation ``make_reader(impl)`` picks: ``hiredis`` or ``python``."""
    return "hiredis" if impl == "hiredis" or (impl == "auto" and HAVE_HIREDIS) else "python"

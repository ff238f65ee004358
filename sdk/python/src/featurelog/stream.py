"""Reading an Arrow IPC stream from a streamed HTTP body, batch by batch, refusing a truncated one."""

from __future__ import annotations

import collections
import contextlib
import io
from typing import Iterable, Iterator, Optional

import httpx
import pyarrow as pa

from .errors import TruncatedStreamError

__all__ = ["ChunkReader", "ArrowStream", "END_OF_STREAM", "announced_rows", "release_unused_memory"]

#: The IPC end-of-stream marker: continuation token 0xFFFFFFFF and a zero metadata length.
END_OF_STREAM = b"\xff\xff\xff\xff\x00\x00\x00\x00"
#: The pre-0.15 end-of-stream marker (a bare zero length), still valid to readers.
_LEGACY_END_OF_STREAM = b"\x00\x00\x00\x00"


def announced_rows(response: httpx.Response) -> Optional[int]:
    """The row count a featurelog server announces for an Arrow answer (X-Featurelog-Rows), if any."""
    value = response.headers.get("x-featurelog-rows")
    return int(value) if value is not None and value.isdigit() else None


def release_unused_memory() -> None:
    """Returns the pages Arrow's memory pool keeps after freeing (mimalloc and jemalloc hold them
    for reuse) to the system. Harmless to other users of the pool: a later allocation maps pages
    again."""
    try:
        pa.default_memory_pool().release_unused()
    except (AttributeError, NotImplementedError, pa.ArrowNotImplementedError):
        pass


class ChunkReader(io.RawIOBase):
    """A read-only file over an iterator of byte chunks (an httpx body), remembering the last bytes
    handed out so the caller can tell whether the stream ended with its end-of-stream marker."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        super().__init__()
        self._chunks: Iterator[bytes] = iter(chunks)
        # Pending chunks as received (the first one possibly partly read): a read joins only the
        # pieces it needs, one copy, instead of growing and shifting one buffer.
        self._pending: collections.deque[memoryview] = collections.deque()
        self._pending_size = 0
        self._tail = b""
        self.bytes_read = 0
        self.exhausted = False
        # pyarrow reads exactly what it needs (no read-ahead) and stops by itself only at an
        # end-of-stream marker: a last read that came back short means the body just ran out.
        self.last_read_short = False

    def readable(self) -> bool:
        return True

    def _fill(self, size: int) -> None:
        while not self.exhausted and (size < 0 or self._pending_size < size):
            try:
                chunk = next(self._chunks)
            except StopIteration:
                self.exhausted = True
                break
            if chunk:
                self._pending.append(memoryview(chunk))
                self._pending_size += len(chunk)

    def read(self, size: Optional[int] = -1) -> bytes:
        size = -1 if size is None else size
        self._fill(size)
        wanted = self._pending_size if size < 0 else min(size, self._pending_size)
        pieces: list[memoryview] = []
        remaining = wanted
        while remaining > 0:
            first = self._pending[0]
            if len(first) <= remaining:
                pieces.append(self._pending.popleft())
                remaining -= len(first)
            else:
                pieces.append(first[:remaining])
                self._pending[0] = first[remaining:]
                remaining = 0
        self._pending_size -= wanted
        self.last_read_short = 0 <= size and wanted < size
        out = b"".join(pieces)
        self.bytes_read += len(out)
        if out:
            self._tail = (self._tail + out[-8:])[-8:]
        return out

    def readinto(self, target: bytearray) -> int:  # type: ignore[override]
        data = self.read(len(target))
        target[: len(data)] = data
        return len(data)

    def ended_with_marker(self) -> bool:
        """Whether the last bytes read were an end-of-stream marker (and not zero padding at the end
        of a batch body followed by the end of the body)."""
        if self.last_read_short:
            return False
        return self._tail == END_OF_STREAM or (len(self._tail) >= 4 and self._tail[-4:] == _LEGACY_END_OF_STREAM)

    def at_end(self) -> bool:
        """Whether nothing follows what was read (reads ahead to find out)."""
        self._fill(1)
        return self._pending_size == 0


class ArrowStream:
    """An Arrow IPC stream read from a streamed body: ``schema`` once opened, then the record
    batches as they arrive (iterate once).

    Raises TruncatedStreamError when the body ends mid-message, ends without the end-of-stream
    marker (pyarrow alone takes a clean end at a batch boundary for the end of the stream), holds
    another number of rows than ``expected_rows`` (the server's X-Featurelog-Rows), or the
    connection fails: the caller never gets a shorter table as if it were whole.
    """

    def __init__(self, chunks: Iterable[bytes], what: str, expected_rows: Optional[int] = None) -> None:
        self._what = what
        self._expected_rows = expected_rows
        self._source = ChunkReader(chunks)
        with self._errors():
            self._reader = pa.ipc.open_stream(self._source)
        self.schema: pa.Schema = self._reader.schema

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        rows = 0
        with self._errors():
            for batch in self._reader:
                rows += batch.num_rows
                yield batch
            complete = self._source.ended_with_marker() and self._source.at_end()
        if complete and self._expected_rows is not None and rows != self._expected_rows:
            raise TruncatedStreamError(
                "STREAM_TRUNCATED",
                f"{self._what}: the Arrow stream ended with {rows} of {self._expected_rows} rows the server "
                "announced (X-Featurelog-Rows); no partial result is returned",
                None,
                True,
            )
        if not complete:
            raise TruncatedStreamError(
                "STREAM_TRUNCATED",
                f"{self._what}: the Arrow stream ended after {self._source.bytes_read} bytes without its "
                "end-of-stream marker (the server or the connection stopped early); no partial result is returned",
                None,
                True,
            )

    def read_all(self) -> pa.Table:
        """Every batch, as one table (after the whole stream arrived intact)."""
        return pa.Table.from_batches(list(self), schema=self.schema)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        source = self._source
        try:
            yield
        except (httpx.TransportError, httpx.StreamError) as error:
            raise TruncatedStreamError(
                "STREAM_TRUNCATED",
                f"{self._what}: the connection failed after {source.bytes_read} bytes ({type(error).__name__}: {error})",
                None,
                True,
            ) from error
        except (pa.ArrowInvalid, OSError, EOFError) as error:
            raise TruncatedStreamError(
                "STREAM_TRUNCATED",
                f"{self._what}: the Arrow stream is cut or corrupt after {source.bytes_read} bytes ({error})",
                None,
                True,
            ) from error

"""A training set job: its state, progress, cancel and its streamed result."""

from __future__ import annotations

import os
import tempfile
import time
from typing import TYPE_CHECKING, Any, Iterator, Optional

import pandas as pd
import pyarrow as pa

from .errors import FeaturelogError, JobCancelledError, JobFailedError, TruncatedStreamError
from .stream import ArrowStream, announced_rows

if TYPE_CHECKING:
    from .store import FeatureStore

__all__ = ["TrainingSetJob", "FINAL_STATUSES"]

ARROW_STREAM = "application/vnd.apache.arrow.stream"
PARQUET = "application/vnd.apache.parquet"

#: A job in one of these has ended. ``finished`` is the jobs app's word for success (``succeeded`` is
#: accepted too).
FINAL_STATUSES = frozenset({"finished", "succeeded", "failed", "cancelled"})
_SUCCESS = frozenset({"finished", "succeeded"})


class TrainingSetJob:
    """A point-in-time training set being built by the jobs app (``get_historical_features``).

    ``to_df()``, ``to_arrow()`` and ``to_parquet(path)`` wait for the job (showing its progress
    with tqdm unless ``progress=False``) and then stream the result. A failed job raises
    JobFailedError with the job's own code and message; a cancelled one JobCancelledError.
    """

    def __init__(self, store: "FeatureStore", job_id: str, state: Optional[dict[str, Any]] = None, progress: bool = True):
        self._store = store
        self.id: str = job_id
        self._state: dict[str, Any] = dict(state or {})
        self.progress = progress

    def __repr__(self) -> str:
        return f"TrainingSetJob(id={self.id!r}, status={self._state.get('status')!r})"

    @property
    def state(self) -> dict[str, Any]:
        """The job's state as last read (``status``, ``progress``, ``error``, ``result``...)."""
        return dict(self._state)

    def refresh(self) -> dict[str, Any]:
        """Reads the job's state from the jobs app."""
        response = self._store._request("GET", self._store.jobs_url, f"/training-sets/{self.id}", what="training set state")
        self._state = response.json()
        return self.state

    def status(self) -> str:
        """The job's status now: requested, running, cancelling, finished, failed or cancelled."""
        return str(self.refresh().get("status"))

    def cancel(self, reason: Optional[str] = None) -> dict[str, Any]:
        """Asks the jobs app to cancel the job; returns its state after the request."""
        body = {"reason": reason} if reason else {}
        response = self._store._request(
            "POST", self._store.jobs_url, f"/jobs/{self.id}/cancel", json=body, what="cancel", retry=False
        )
        self._state = response.json()
        return self.state

    def wait(self, timeout: Optional[float] = None, progress: Optional[bool] = None) -> "TrainingSetJob":
        """Waits until the job ends, showing its progress (tqdm: a widget in notebooks, a bar in
        terminals). Raises JobFailedError / JobCancelledError when it did not finish, TimeoutError
        after ``timeout`` seconds (the job keeps running). Ctrl-C cancels the job before re-raising."""
        if self._state.get("status") in FINAL_STATUSES:
            # Already ended (e.g. a second to_df()): its state no longer changes.
            self._raise_unless_finished()
            return self
        show = self.progress if progress is None else progress
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = None
        interval = 0.05
        try:
            while True:
                state = self.refresh()
                if show:
                    bar = _show_progress(bar, state)
                if state.get("status") in FINAL_STATUSES:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError(f"training set {self.id} still {state.get('status')} after {timeout} s")
                time.sleep(interval)
                interval = min(interval * 1.5, 1.0)
        except KeyboardInterrupt:
            # Nobody will read the result of an interrupted wait: stop the work on the server too.
            try:
                self.cancel("interrupted (KeyboardInterrupt in the Python SDK)")
            except FeaturelogError:
                pass
            raise
        finally:
            if bar is not None:
                bar.close()
        self._raise_unless_finished()
        return self

    def _raise_unless_finished(self) -> None:
        status = self._state.get("status")
        if status in _SUCCESS:
            return
        error = self._state.get("error") or {}
        code = str(error.get("code") or ("JOB_CANCELLED" if status == "cancelled" else "JOB_FAILED"))
        message = str(error.get("message") or f"training set {self.id} {status}")
        retriable = bool(error.get("retriable", False))
        if status == "cancelled":
            raise JobCancelledError(code, message, None, retriable)
        raise JobFailedError(code, message, None, retriable)

    def iter_batches(self) -> Iterator[pa.RecordBatch]:
        """The result's record batches as they arrive (waits for the job first). Raises
        TruncatedStreamError if the stream stops before its end."""
        self.wait()
        with self._store._stream("GET", self._store.jobs_url, f"/training-sets/{self.id}/result",
                                 headers={"Accept": ARROW_STREAM}, what="training set result") as response:
            yield from ArrowStream(response.iter_bytes(), f"training set {self.id}", announced_rows(response))

    def to_arrow(self) -> pa.Table:
        """The training set as an Arrow table: the entity rows (every column kept, in their order)
        then the feature columns, typed as the Parquet export types them."""
        self.wait()
        with self._store._stream("GET", self._store.jobs_url, f"/training-sets/{self.id}/result",
                                 headers={"Accept": ARROW_STREAM}, what="training set result") as response:
            return ArrowStream(response.iter_bytes(), f"training set {self.id}", announced_rows(response)).read_all()

    def to_df(self) -> pd.DataFrame:
        """The training set as a pandas DataFrame (``to_arrow().to_pandas()``)."""
        table = self.to_arrow()
        # self_destruct frees each Arrow column once converted, so the peak stays near one copy.
        return table.to_pandas(self_destruct=True, split_blocks=True)

    def to_parquet(self, path: "str | os.PathLike[str]") -> str:
        """Writes the training set as the server's own Parquet file (the export's bytes) to
        ``path``; a body cut short raises and leaves no file behind. Returns the path."""
        self.wait()
        target = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(target))
        handle, temporary = tempfile.mkstemp(prefix=".featurelog-", suffix=".parquet.part", dir=directory)
        try:
            with os.fdopen(handle, "wb") as out:
                with self._store._stream("GET", self._store.jobs_url, f"/training-sets/{self.id}/result",
                                         headers={"Accept": PARQUET}, what="training set result") as response:
                    try:
                        for chunk in response.iter_bytes():
                            out.write(chunk)
                    except Exception as error:  # noqa: BLE001 - every transport failure is a cut body
                        raise TruncatedStreamError(
                            "STREAM_TRUNCATED", f"training set {self.id}: the Parquet body was cut ({error})", None, True
                        ) from error
            with open(temporary, "rb") as written:
                size = os.fstat(written.fileno()).st_size
                head = written.read(4)
                written.seek(max(size - 4, 0))
                tail = written.read(4)
            if size < 12 or head != b"PAR1" or tail != b"PAR1":
                raise TruncatedStreamError(
                    "STREAM_TRUNCATED", f"training set {self.id}: the Parquet body ({size} bytes) is not a whole file",
                    None, True,
                )
            os.replace(temporary, target)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
        return target


def _show_progress(bar: Any, state: dict[str, Any]) -> Any:
    from tqdm.auto import tqdm

    progress = state.get("progress") or {}
    phase = str(progress.get("phase") or state.get("status") or "")
    total = progress.get("total")
    done = progress.get("done")
    if bar is None:
        bar = tqdm(total=total if isinstance(total, (int, float)) else None, desc=phase, leave=False)
    if isinstance(total, (int, float)) and bar.total != total:
        bar.total = total
    if bar.desc != phase:
        bar.set_description(phase, refresh=False)
    if isinstance(done, (int, float)):
        bar.n = done
    bar.refresh()
    return bar


"""Unit tests without featurelog: entity_df checks and conversion, the training set request, job
states, and results cut on the wire by a local http.server."""

from __future__ import annotations

import datetime as dt
import http.server
import io
import json
import os
from pathlib import Path
from typing import Any, Optional

import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import featurelog
from featurelog.training import TrainingSetJob
from fakes import Recorder, local_server, send_json, store_with

UTC = dt.timezone.utc


def entity_frame(**overrides: Any) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "driver_id": [1001, 1002, 1001],
            "event_timestamp": pd.to_datetime(["2024-05-01 12:00:00", "2024-05-01 13:00:00", "2024-05-01 12:00:00"]),
            "label": [1.0, None, 0.0],
            "note": ["a", None, "c"],
        }
    )
    for name, values in overrides.items():
        if values is None:
            frame = frame.drop(columns=[name])
        else:
            frame[name] = values
    return frame


def accepting_jobs_app() -> Recorder:
    return Recorder(lambda request: httpx.Response(202, json={"jobId": "job-1", "status": "requested"}))


def uploaded_table(recorder: Recorder) -> pa.Table:
    post = next(r for r in recorder.requests if r.method == "POST")
    assert post.headers["content-type"] == "application/vnd.apache.arrow.stream"
    return pa.ipc.open_stream(post.content).read_all()


def test_the_entity_rows_go_as_arrow_ipc_with_utc_times_and_every_column_kept() -> None:
    recorder = accepting_jobs_app()
    job = store_with(recorder).get_historical_features(
        entity_frame(), feature_service="driver_activity", full_feature_names=True, progress=False
    )
    assert job.id == "job-1"
    post = next(r for r in recorder.requests if r.method == "POST")
    assert post.url.path == "/training-sets" and post.url.host == "serving.test" and post.url.port == 6573
    assert post.url.params.multi_items() == [("service", "driver_activity"), ("fullFeatureNames", "true"), ("asServed", "false")]
    table = uploaded_table(recorder)
    assert table.column_names == ["driver_id", "event_timestamp", "label", "note"]
    assert table.schema.field("event_timestamp").type == pa.timestamp("us", tz="UTC")
    # Naive 12:00 is 12:00 UTC, not local time.
    assert table.column("event_timestamp")[0].as_py() == dt.datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert table.column("driver_id").to_pylist() == [1001, 1002, 1001]  # duplicates kept
    assert table.column("note").to_pylist() == ["a", None, "c"]


def test_aware_times_in_another_zone_and_int32_keys_are_normalized(tmp_path: Path) -> None:
    frame = entity_frame(
        driver_id=pd.array([1001, 1002, 1001], dtype="int32"),
        event_timestamp=pd.to_datetime(["2024-05-01 14:00"] * 3).tz_localize("Europe/Paris"),
    )
    path = tmp_path / "entities.parquet"
    frame.to_parquet(path)
    for source in (frame, pa.Table.from_pandas(frame), str(path), path):
        recorder = accepting_jobs_app()
        store_with(recorder).get_historical_features(
            source, features=["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate"], progress=False
        )
        table = uploaded_table(recorder)
        assert table.schema.field("driver_id").type == pa.int64()
        assert table.column("event_timestamp")[0].as_py() == dt.datetime(2024, 5, 1, 12, tzinfo=UTC)
        post = next(r for r in recorder.requests if r.method == "POST")
        assert post.url.params.get_list("features") == ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate"]


def test_dates_are_midnight_utc_and_nanoseconds_floor_to_microseconds() -> None:
    for values, first in (
        ([dt.date(2024, 5, 1)] * 3, dt.datetime(2024, 5, 1, tzinfo=UTC)),
        (pd.to_datetime(["1969-12-31 23:59:59.999999999"] * 3), dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ):
        recorder = accepting_jobs_app()
        store_with(recorder).get_historical_features(entity_frame(event_timestamp=values), feature_service="driver_activity")
        table = uploaded_table(recorder)
        assert table.schema.field("event_timestamp").type == pa.timestamp("us", tz="UTC")
        assert table.column("event_timestamp")[0].as_py() == first


@pytest.mark.parametrize(
    ("frame", "code", "named"),
    [
        (entity_frame(event_timestamp=None), "MISSING_EVENT_TIMESTAMP", '"event_timestamp"'),
        (entity_frame(driver_id=None), "MISSING_JOIN_KEY", '"driver_id"'),
        (entity_frame(event_timestamp=["2024-05-01"] * 3), "INVALID_EVENT_TIMESTAMP", '"event_timestamp"'),
        (entity_frame(event_timestamp=[1714564800] * 3), "INVALID_EVENT_TIMESTAMP", '"event_timestamp"'),
        (entity_frame(driver_id=[1001.0, None, 3.0]), "INVALID_JOIN_KEY", '"driver_id"'),
        (entity_frame(driver_id=["1001", "1002", "1003"]), "INVALID_JOIN_KEY", '"driver_id"'),
        (entity_frame(event_timestamp=pd.to_datetime(["2024-05-01", None, "2024-05-02"])), "INVALID_EVENT_TIMESTAMP", "null"),
        (entity_frame(conv_rate=[1, 2, 3]), "FEATURE_NAME_COLLISION", "conv_rate"),
    ],
)
def test_bad_entity_rows_are_refused_naming_the_column_before_anything_is_submitted(
    frame: pd.DataFrame, code: str, named: str
) -> None:
    recorder = accepting_jobs_app()
    with pytest.raises(featurelog.ValidationError) as raised:
        store_with(recorder).get_historical_features(frame, feature_service="driver_activity", progress=False)
    assert raised.value.code == code and named in raised.value.message and raised.value.status is None
    assert all(r.method == "GET" for r in recorder.requests)


@pytest.mark.parametrize(
    ("kwargs", "code", "named"),
    [
        ({"feature_service": "nope"}, "UNKNOWN_FEATURE_SERVICE", '"nope"'),
        ({"features": ["nope:conv_rate"]}, "UNKNOWN_FEATURE_VIEW", '"nope"'),
        ({"features": ["driver_hourly_stats:nope"]}, "UNKNOWN_FEATURE", '"nope"'),
        ({"features": ["driver_hourly_stats"]}, "INVALID_FEATURE_REFERENCE", "driver_hourly_stats"),
        ({"features": ["driver_hourly_stats:conv_rate", "city_stats:conv_rate"]}, "FEATURE_NAME_COLLISION", "conv_rate"),
        ({"features": ["city_stats:*"]}, "MISSING_JOIN_KEY", '"city"'),
    ],
)
def test_unknown_names_are_refused_before_anything_is_submitted(kwargs: dict[str, Any], code: str, named: str) -> None:
    recorder = accepting_jobs_app()
    with pytest.raises(featurelog.ValidationError) as raised:
        store_with(recorder).get_historical_features(entity_frame(), progress=False, **kwargs)
    assert raised.value.code == code and named in raised.value.message
    assert all(r.method == "GET" for r in recorder.requests)


def test_a_feature_service_object_may_come_as_features_as_in_feast() -> None:
    recorder = accepting_jobs_app()
    service = featurelog.FeatureService("driver_activity", ["driver_hourly_stats:conv_rate"])
    store_with(recorder).get_historical_features(entity_frame(), features=service, progress=False)
    post = next(r for r in recorder.requests if r.method == "POST")
    assert post.url.params.get_list("service") == ["driver_activity"] and post.url.params.get_list("features") == []


def test_a_key_without_the_read_scope_leaves_the_name_checks_to_the_server() -> None:
    recorder = Recorder(lambda request: httpx.Response(202, json={"id": "job-2", "status": "requested"}), registry_readable=False)
    job = store_with(recorder).get_historical_features(entity_frame(), features=["any_view:x"], progress=False)
    assert job.id == "job-2"
    assert uploaded_table(recorder).schema.field("event_timestamp").type == pa.timestamp("us", tz="UTC")
    with pytest.raises(featurelog.ValidationError, match="event_timestamp"):
        store_with(recorder).get_historical_features(entity_frame(event_timestamp=None), features=["any_view:x"])


def test_not_a_frame_nor_a_parquet_path_is_refused(tmp_path: Path) -> None:
    store = store_with(accepting_jobs_app())
    with pytest.raises(featurelog.ValidationError, match="not a .parquet"):
        store.get_historical_features("entities.csv", feature_service="driver_activity")
    with pytest.raises(featurelog.ValidationError, match="does not exist"):
        store.get_historical_features(str(tmp_path / "none.parquet"), feature_service="driver_activity")
    with pytest.raises(featurelog.ValidationError, match="list"):
        store.get_historical_features([{"driver_id": 1}], feature_service="driver_activity")


def test_a_server_refusal_of_the_submit_is_raised_with_its_code() -> None:
    body = {"statusCode": 400, "code": "INVALID_ENTITY_ROWS", "message": "column x is bad", "retriable": False}
    recorder = Recorder(lambda request: httpx.Response(400, json=body))
    with pytest.raises(featurelog.InvalidRequestError) as raised:
        store_with(recorder).get_historical_features(entity_frame(), feature_service="driver_activity")
    assert (raised.value.code, raised.value.message, raised.value.status) == ("INVALID_ENTITY_ROWS", "column x is bad", 400)


# -- job states ------------------------------------------------------------------------------------


def job_app(states: list[dict[str, Any]]) -> Recorder:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/training-sets/job-1":
            return httpx.Response(200, json=states.pop(0) if len(states) > 1 else states[0])
        if request.url.path == "/jobs/job-1/cancel":
            return httpx.Response(202, json={"jobId": "job-1", "status": "cancelling"})
        return httpx.Response(404, json={"statusCode": 404, "code": "NOT_FOUND", "message": "?", "retriable": False})

    return Recorder(answer)


def test_a_failed_job_raises_its_own_code_and_message() -> None:
    failed = {"jobId": "job-1", "status": "failed", "error": {"code": "UNKNOWN_FEATURE", "message": "no x", "retriable": False}}
    store = store_with(job_app([{"status": "requested"}, {"status": "running", "progress": {"phase": "reading", "done": 1, "total": 3}}, failed]))
    job = TrainingSetJob(store, "job-1", progress=True)
    with pytest.raises(featurelog.JobFailedError) as raised:
        job.to_df()
    assert (raised.value.code, raised.value.message) == ("UNKNOWN_FEATURE", "no x")


def test_a_cancelled_job_raises_and_cancel_posts() -> None:
    store = store_with(job_app([{"status": "cancelled"}]))
    job = TrainingSetJob(store, "job-1", progress=False)
    assert job.cancel()["status"] == "cancelling"
    with pytest.raises(featurelog.JobCancelledError):
        job.to_arrow()
    assert job.status() == "cancelled"


def test_wait_gives_up_after_its_timeout_leaving_the_job() -> None:
    store = store_with(job_app([{"status": "running"}]))
    with pytest.raises(TimeoutError):
        TrainingSetJob(store, "job-1", progress=False).wait(timeout=0.2)


# -- results on the wire ---------------------------------------------------------------------------

RESULT = pa.table(
    {
        "driver_id": pa.array(list(range(30_000)), pa.int64()),
        "event_timestamp": pa.array([dt.datetime(2024, 5, 1, tzinfo=UTC)] * 30_000, pa.timestamp("us", tz="UTC")),
        "conv_rate": pa.array([0.5 if i % 3 else None for i in range(30_000)], pa.float64()),
    }
)


def arrow_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=5_000)
    return sink.getvalue()


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def serve_result(body: bytes, *, send: int, length: str = "exact", chunked: bool = False, rows: Optional[int] = None):  # type: ignore[no-untyped-def]
    """A jobs app whose job is finished and whose result sends the first ``send`` bytes of ``body``,
    then closes the connection. ``length``: Content-Length of the whole body ("exact"), of what is
    sent ("sent": a clean end, only the data says it is short), or none with ``chunked``. ``rows``:
    the X-Featurelog-Rows header, as the jobs app sends it."""

    def handle(handler: http.server.BaseHTTPRequestHandler) -> None:
        if handler.path.startswith("/training-sets/job-1/result"):
            accept = handler.headers.get("Accept", "")
            handler.send_response(200)
            handler.send_header("Content-Type", accept or "application/vnd.apache.arrow.stream")
            if rows is not None:
                handler.send_header("X-Featurelog-Rows", str(rows))
            payload = body[:send]
            if chunked:
                handler.send_header("Transfer-Encoding", "chunked")
                handler.end_headers()
                for start in range(0, len(payload), 4096):
                    piece = payload[start : start + 4096]
                    handler.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                if send >= len(body):
                    handler.wfile.write(b"0\r\n\r\n")
            else:
                handler.send_header("Content-Length", str(len(body) if length == "exact" else len(payload)))
                handler.end_headers()
                handler.wfile.write(payload)
            handler.wfile.flush()
            handler.close_connection = True
        elif handler.path.startswith("/training-sets/job-1"):
            send_json(handler, 200, {"jobId": "job-1", "status": "finished", "progress": {"phase": "writing", "done": 1, "total": 1}})
        else:
            send_json(handler, 404, {"statusCode": 404, "code": "NOT_FOUND", "message": handler.path, "retriable": False})

    return local_server(handle)


def job_on(url: str) -> TrainingSetJob:
    store = featurelog.FeatureStore(url="http://127.0.0.1:1", jobs_url=url, retries=0, timeout=5)
    return TrainingSetJob(store, "job-1", progress=False)


def test_a_whole_stream_reads_into_the_same_table_and_frame() -> None:
    body = arrow_bytes(RESULT)
    for chunked in (False, True):
        with serve_result(body, send=len(body), chunked=chunked) as url:
            job = job_on(url)
            assert job.to_arrow().equals(RESULT)
            assert job.to_df().equals(RESULT.to_pandas())
            assert sum(b.num_rows for b in job.iter_batches()) == RESULT.num_rows


@pytest.mark.parametrize(
    ("cut", "length", "chunked"),
    [
        ("mid-batch", "exact", False),  # the connection closes before Content-Length
        ("mid-batch", "sent", False),  # a clean end of a short body: the Arrow data is cut
        ("before-end-marker", "sent", False),  # whole batches, no end-of-stream marker: pyarrow alone takes it
        ("before-end-marker", "exact", True),  # chunked transfer without its last chunk
        ("mid-batch", "exact", True),
    ],
)
def test_a_stream_cut_short_raises_and_never_returns_a_shorter_table(cut: str, length: str, chunked: bool) -> None:
    body = arrow_bytes(RESULT)
    send = len(body) - 8 if cut == "before-end-marker" else len(body) // 2
    with serve_result(body, send=send, length=length, chunked=chunked) as url:
        job = job_on(url)
        with pytest.raises(featurelog.TruncatedStreamError) as raised:
            job.to_df()
        assert raised.value.code == "STREAM_TRUNCATED" and raised.value.retriable
        with pytest.raises(featurelog.TruncatedStreamError):
            list(job.iter_batches())


def test_a_whole_stream_with_fewer_rows_than_the_server_announced_raises() -> None:
    """A stream can end cleanly, marker and all, and still be short (a server that stopped writing
    batches early): the row count the server announced is what the SDK holds it to."""
    body = arrow_bytes(RESULT)
    with serve_result(body, send=len(body), rows=RESULT.num_rows) as url:
        assert job_on(url).to_arrow().equals(RESULT)
    with serve_result(body, send=len(body), rows=RESULT.num_rows + 1) as url:
        job = job_on(url)
        with pytest.raises(featurelog.TruncatedStreamError, match=f"{RESULT.num_rows} of {RESULT.num_rows + 1} rows"):
            job.to_df()
        with pytest.raises(featurelog.TruncatedStreamError):
            list(job.iter_batches())


def test_to_parquet_writes_the_servers_file_and_leaves_nothing_when_cut(tmp_path: Path) -> None:
    body = parquet_bytes(RESULT)
    target = tmp_path / "training.parquet"
    with serve_result(body, send=len(body)) as url:
        assert job_on(url).to_parquet(target) == str(target)
    assert target.read_bytes() == body
    target.unlink()
    for length in ("exact", "sent"):
        with serve_result(body, send=len(body) - 100, length=length) as url:
            with pytest.raises(featurelog.TruncatedStreamError):
                job_on(url).to_parquet(target)
        assert os.listdir(tmp_path) == []


def test_a_result_asked_too_early_is_job_not_finished() -> None:
    def handle(handler: http.server.BaseHTTPRequestHandler) -> None:
        body = {"statusCode": 409, "code": "JOB_NOT_FINISHED", "message": "job-1 is running", "retriable": True}
        send_json(handler, 409, body)

    with local_server(handle) as url:
        store = featurelog.FeatureStore(url="http://127.0.0.1:1", jobs_url=url, retries=0)
        with pytest.raises(featurelog.JobNotFinishedError) as raised:
            with store._stream("GET", url, "/training-sets/job-1/result", what="result") as response:
                response.read()
        assert raised.value.retriable and raised.value.status == 409


def test_a_cut_before_the_end_marker_is_caught_even_after_zero_padding() -> None:
    """A small batch's body ends in zero padding, which looks like the old 4-byte end marker: only
    the short last read tells the body simply ran out."""
    small = pa.table({"a": pa.array([1, 2, 3], pa.int64())})
    body = arrow_bytes(small)
    assert body[-16:-8].endswith(b"\x00\x00\x00\x00")
    with serve_result(body, send=len(body) - 8, length="sent") as url:
        with pytest.raises(featurelog.TruncatedStreamError, match="end-of-stream marker"):
            job_on(url).to_arrow()
    with serve_result(body, send=len(body)) as url:
        assert job_on(url).to_arrow().equals(small)


def _whole_ipc_stream(table: pa.Table, max_chunksize: int) -> bytes:
    # The upload as it was built before it was streamed: one IPC buffer of the whole table.
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=max_chunksize)
    return sink.getvalue().to_pybytes()


def test_the_upload_is_streamed_batch_by_batch_with_the_bytes_of_one_whole_ipc_stream() -> None:
    from featurelog.store import _arrow_stream_chunks

    table = pa.table(
        {
            "driver_id": pa.array(range(10), pa.int64()),
            "event_timestamp": pa.array([dt.datetime(2024, 5, 1, tzinfo=UTC)] * 10, pa.timestamp("us", tz="UTC")),
            "note": pa.array(["x", None] * 5),
        }
    )
    chunks = list(_arrow_stream_chunks(table, max_chunksize=4))
    # The schema with the first batch, two more batches, then the end-of-stream marker: never the whole.
    assert len(chunks) == 4
    assert chunks[-1] == b"\xff\xff\xff\xff\x00\x00\x00\x00"
    assert b"".join(chunks) == _whole_ipc_stream(table, 4)
    assert pa.ipc.open_stream(b"".join(chunks)).read_all().equals(table)
    empty = table.slice(0, 0)
    assert b"".join(_arrow_stream_chunks(empty)) == _whole_ipc_stream(empty, 4)


def test_the_submitted_body_is_chunked_and_equals_the_whole_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    import featurelog.store

    monkeypatch.setattr(featurelog.store, "UPLOAD_BATCH_ROWS", 2)
    streamed = featurelog.store._arrow_stream_chunks
    tables: list[pa.Table] = []

    def recording(table: pa.Table, *args: Any) -> Any:
        tables.append(table)
        return streamed(table, *args)

    monkeypatch.setattr(featurelog.store, "_arrow_stream_chunks", recording)
    recorder = accepting_jobs_app()
    store_with(recorder).get_historical_features(entity_frame(), feature_service="driver_activity", progress=False)
    post = next(r for r in recorder.requests if r.method == "POST")
    assert post.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in post.headers
    # What the old code sent: the checked entity table as one IPC buffer.
    assert post.content == _whole_ipc_stream(tables[0], 2)
    batches = list(pa.ipc.open_stream(post.content))
    assert [b.num_rows for b in batches] == [2, 1]


def _rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads RSS from /proc")
def test_release_unused_memory_gives_freed_arrow_pages_back() -> None:
    from featurelog.stream import release_unused_memory

    # Freed Arrow arrays stay mapped by the pool (what the upload's entity rows left behind)...
    arrays = [pa.array(range(i, i + 100_000), pa.int64()) for i in range(80)]  # 80 × 800 KB
    del arrays
    kept = _rss_bytes()
    release_unused_memory()
    # ...until released: most of the 64 MB leaves the process.
    assert kept - _rss_bytes() > 32 * 2**20

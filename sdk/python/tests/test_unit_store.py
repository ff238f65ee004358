"""Unit tests without a server: URL derivation, construction from the environment and a repo, error
mapping, online answers typed, push bodies."""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import os

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import featurelog
from featurelog.store import derive_app_urls
from fakes import DEFINITIONS, Recorder, store_with

UTC = dt.timezone.utc


# -- URLs ------------------------------------------------------------------------------------------


def test_registry_and_jobs_urls_are_serving_port_minus_4_and_minus_1() -> None:
    assert derive_app_urls("http://127.0.0.1:6574") == ("http://127.0.0.1:6570", "http://127.0.0.1:6573")
    # featurelog dev --port-offset 330 shifts every app alike
    assert derive_app_urls("http://localhost:6904/") == ("http://localhost:6900", "http://localhost:6903")
    assert derive_app_urls("https://features.example") == ("https://features.example:439", "https://features.example:442")
    assert derive_app_urls("http://[::1]:7000") == ("http://[::1]:6996", "http://[::1]:6999")


def test_explicit_urls_win_and_lose_their_trailing_slash() -> None:
    store = featurelog.FeatureStore(url="http://s:1/", registry_url="http://r:2/", jobs_url="http://j:3")
    assert (store.url, store.registry_url, store.jobs_url) == ("http://s:1", "http://r:2", "http://j:3")


def test_a_relative_url_is_refused() -> None:
    with pytest.raises(featurelog.ValidationError, match="not an absolute"):
        featurelog.FeatureStore(url="localhost")


def test_from_env_reads_the_harness_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEATURELOG_SERVING_URL", "http://h:7574")
    monkeypatch.setenv("FEATURELOG_JOBS_URL", "http://jobs:1")
    monkeypatch.delenv("FEATURELOG_REGISTRY_URL", raising=False)
    monkeypatch.setenv("FEATURELOG_API_KEY", "secret-key-1234567890")
    store = featurelog.FeatureStore.from_env()
    assert (store.url, store.registry_url, store.jobs_url) == ("http://h:7574", "http://h:7570", "http://jobs:1")
    assert store._client.headers["Authorization"] == "Bearer secret-key-1234567890"
    assert "secret-key" not in repr(store)


def test_from_env_without_a_serving_url_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FEATURELOG_SERVING_URL", raising=False)
    with pytest.raises(featurelog.ValidationError, match="FEATURELOG_SERVING_URL"):
        featurelog.FeatureStore.from_env()


def test_from_repo_defaults_to_the_default_ports(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for app in ("SERVING", "REGISTRY", "JOBS"):
        monkeypatch.delenv(f"FEATURELOG_{app}_PORT", raising=False)
        monkeypatch.delenv(f"FEATURELOG_{app}_HOST", raising=False)
    (tmp_path / "featurelog.yaml").write_text("project: demo\n# apps:\n#   serving: { port: 1 }\n")  # type: ignore[operator]
    store = featurelog.FeatureStore.from_repo(tmp_path)
    assert (store.url, store.registry_url, store.jobs_url) == (
        "http://127.0.0.1:6574",
        "http://127.0.0.1:6570",
        "http://127.0.0.1:6573",
    )
    monkeypatch.setenv("FEATURELOG_SERVING_PORT", "9000")
    assert featurelog.FeatureStore.from_repo(tmp_path).url == "http://127.0.0.1:9000"


def test_from_repo_reads_a_running_featurelog_dev(tmp_path: os.PathLike[str]) -> None:
    (tmp_path / "featurelog.yaml").write_text("project: demo\n")  # type: ignore[operator]
    (tmp_path / ".featurelog").mkdir()  # type: ignore[operator]
    urls = {"serving": "http://127.0.0.1:6904", "registry": "http://127.0.0.1:6900", "jobs": "http://127.0.0.1:6903"}
    record = {"pid": os.getpid(), "urls": urls}
    (tmp_path / ".featurelog" / "dev.json").write_text(json.dumps(record))  # type: ignore[operator]
    store = featurelog.FeatureStore.from_repo(tmp_path)
    assert (store.url, store.registry_url, store.jobs_url) == (urls["serving"], urls["registry"], urls["jobs"])


def test_from_repo_with_an_apps_block_reads_it_or_says_what_it_needs(tmp_path: os.PathLike[str]) -> None:
    (tmp_path / "featurelog.yaml").write_text("project: demo\napps:\n  serving: { port: 7000 }\n")  # type: ignore[operator]
    try:
        import yaml  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        with pytest.raises(featurelog.FeaturelogError, match="PyYAML") as raised:
            featurelog.FeatureStore.from_repo(tmp_path)
        assert raised.value.code == "YAML_NEEDED"
    else:
        assert featurelog.FeatureStore.from_repo(tmp_path).url == "http://127.0.0.1:7000"


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "MISSING_JOIN_KEY", featurelog.InvalidRequestError),
        (401, "UNAUTHENTICATED", featurelog.AuthenticationError),
        (403, "FORBIDDEN", featurelog.PermissionDeniedError),
        (404, "UNKNOWN_FEATURE_VIEW", featurelog.NotFoundError),
        (409, "JOB_NOT_FINISHED", featurelog.JobNotFinishedError),
        (413, "PAYLOAD_TOO_LARGE", featurelog.InvalidRequestError),
        (503, "ONLINE_STORE_UNAVAILABLE", featurelog.UnavailableError),
    ],
)
def test_server_errors_carry_the_servers_code_message_status_and_retriable(
    status: int, code: str, cls: type[featurelog.FeaturelogError]
) -> None:
    body = {"statusCode": status, "code": code, "message": f"the message of {code}", "retriable": status == 503}
    store = store_with(Recorder(lambda request: httpx.Response(status, json=body)))
    with pytest.raises(cls) as raised:
        store.get_online_features(features=["driver_hourly_stats:conv_rate"], entity_rows=[{"driver_id": 1}])
    error = raised.value
    assert isinstance(error, featurelog.FeaturelogError)
    assert (error.code, error.message, error.status, error.retriable) == (code, f"the message of {code}", status, status == 503)
    assert code in str(error)


def test_a_non_json_error_answer_is_an_http_code_with_the_text() -> None:
    store = store_with(Recorder(lambda request: httpx.Response(502, text="<html>bad gateway</html>")))
    with pytest.raises(featurelog.ServerError) as raised:
        store.list_feature_views()
    assert (raised.value.code, raised.value.status, raised.value.retriable) == ("HTTP_502", 502, True)
    assert "bad gateway" in raised.value.message


def test_retriable_errors_are_retried_for_idempotent_requests_only() -> None:
    unavailable = {"statusCode": 503, "code": "REGISTRY_UNAVAILABLE", "message": "down", "retriable": True}
    answers = [httpx.Response(503, json=unavailable), httpx.Response(200, json={"version": 1, "items": []})]
    recorder = Recorder(lambda request: answers.pop(0))
    assert store_with(recorder, retries=2).list_feature_views() == []
    assert recorder.paths() == ["GET /feature-views", "GET /feature-views"]

    push_recorder = Recorder(lambda request: httpx.Response(503, json=unavailable))
    with pytest.raises(featurelog.UnavailableError):
        store_with(push_recorder, retries=2).push("driver_hourly_stats", [{"driver_id": 1}])
    assert push_recorder.paths() == ["POST /push"]  # a push is not repeated behind the caller's back


def test_an_unreachable_server_is_a_retriable_transport_error() -> None:
    store = featurelog.FeatureStore(url="http://127.0.0.1:9", retries=0, timeout=2)
    with pytest.raises(featurelog.TransportError) as raised:
        store.list_entities()
    assert raised.value.retriable and raised.value.status is None


# -- registry --------------------------------------------------------------------------------------


def test_registry_reads_are_dataclasses() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        objects = DEFINITIONS["objects"]
        if request.url.path == "/feature-views":
            return httpx.Response(200, json={"version": 3, "items": objects["feature_view"]})
        if request.url.path == "/feature-views/driver_hourly_stats":
            return httpx.Response(200, json={"kind": "feature_view", "definition": objects["feature_view"][0]})
        if request.url.path == "/feature-services/nope":
            return httpx.Response(404, json={"statusCode": 404, "code": "OBJECT_NOT_FOUND", "message": "no such", "retriable": False})
        return httpx.Response(404)

    store = store_with(Recorder(answer))
    views = store.list_feature_views()
    assert [v.name for v in views] == ["driver_hourly_stats", "city_stats"]
    view = store.get_feature_view("driver_hourly_stats")
    assert view.ttl_seconds == 7200 and view.entities == ["driver"]
    assert view.feature_names == ["conv_rate", "acc_rate", "avg_daily_trips"]
    assert view.feature("avg_daily_trips") == featurelog.Feature("avg_daily_trips", "int64")
    with pytest.raises(featurelog.UnknownNameError) as raised:
        store.get_feature_service("nope")
    assert raised.value.code == "UNKNOWN_FEATURE_SERVICE" and isinstance(raised.value, featurelog.NotFoundError)


# -- online ----------------------------------------------------------------------------------------

ONLINE_ANSWER = {
    "metadata": {"feature_names": ["city", "conv_rate", "photo", "seen_at", "scores"]},
    "results": [
        {"values": ["paris", "rome"], "statuses": ["PRESENT", "PRESENT"], "event_timestamps": ["1970-01-01T00:00:00Z"] * 2},
        {
            "values": ["NaN", None],
            "statuses": ["PRESENT", "NOT_FOUND"],
            "event_timestamps": ["2024-05-01T12:00:00.000001Z", "1970-01-01T00:00:00Z"],
        },
        {"values": [base64.b64encode(b"\x00\xffpng").decode(), None], "statuses": ["PRESENT", "NOT_FOUND"],
         "event_timestamps": ["2024-05-01T12:00:00.000001Z", "1970-01-01T00:00:00Z"]},
        {"values": ["2024-05-01T12:00:00.000Z", None], "statuses": ["PRESENT", "NOT_FOUND"],
         "event_timestamps": ["2024-05-01T12:00:00.000001Z", "1970-01-01T00:00:00Z"]},
        {"values": [[1.5, "-Infinity"], None], "statuses": ["OUTSIDE_MAX_AGE", "NOT_FOUND"],
         "event_timestamps": ["2024-05-01T12:00:00.000001Z", "1970-01-01T00:00:00Z"]},
    ],
}


def test_online_values_are_typed_with_statuses_and_times() -> None:
    recorder = Recorder(lambda request: httpx.Response(200, json=ONLINE_ANSWER))
    store = store_with(recorder)
    response = store.get_online_features(features=["city_stats:*"], entity_rows=[{"city": "paris"}, {"city": "rome"}])
    sent = json.loads(next(r for r in recorder.requests if r.method == "POST").content)
    assert sent == {"entities": {"city": ["paris", "rome"]}, "full_feature_names": False, "features": ["city_stats:*"]}
    values = response.to_dict()
    assert values["city"] == ["paris", "rome"]
    assert math.isnan(values["conv_rate"][0]) and values["conv_rate"][1] is None
    assert values["photo"] == [b"\x00\xffpng", None]
    assert values["seen_at"] == [dt.datetime(2024, 5, 1, 12, tzinfo=UTC), None]
    assert values["scores"] == [[1.5, -math.inf], None]
    assert response.statuses["scores"] == ["OUTSIDE_MAX_AGE", "NOT_FOUND"]
    with_statuses = response.to_dict(include_statuses=True, include_event_timestamps=True)
    assert with_statuses["photo__status"] == ["PRESENT", "NOT_FOUND"]
    assert "city__status" not in with_statuses  # join keys have none
    assert with_statuses["seen_at__event_timestamp"][0] == dt.datetime(2024, 5, 1, 12, 0, 0, 1, tzinfo=UTC)
    table = response.to_arrow()
    assert table.schema.field("photo").type == pa.binary()
    assert table.schema.field("seen_at").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("scores").type == pa.list_(pa.float32())
    frame = response.to_df(include_statuses=True)
    assert str(frame["seen_at"].dtype) == "datetime64[us, UTC]"
    assert list(frame["conv_rate__status"]) == ["PRESENT", "NOT_FOUND"]


def test_online_entity_rows_are_sent_as_columns_with_json_safe_values() -> None:
    answer = {"metadata": {"feature_names": ["driver_id", "conv_rate"]}, "results": [
        {"values": [1, 2**60], "statuses": ["PRESENT"] * 2, "event_timestamps": ["1970-01-01T00:00:00Z"] * 2},
        {"values": [None, None], "statuses": ["NOT_FOUND"] * 2, "event_timestamps": ["1970-01-01T00:00:00Z"] * 2},
    ]}
    recorder = Recorder(lambda request: httpx.Response(200, json=answer))
    response = store_with(recorder).get_online_features(
        feature_service="driver_activity", entity_rows=[{"driver_id": np.int64(1)}, {"driver_id": 2**60}]
    )
    sent = json.loads(next(r for r in recorder.requests if r.method == "POST").content)
    # Past 2^53 a JSON number loses digits on the way: the serving app takes decimal text.
    assert sent["entities"] == {"driver_id": [1, str(2**60)]} and sent["feature_service"] == "driver_activity"
    assert response.to_dict()["driver_id"] == [1, 2**60]


def test_online_rows_with_different_keys_are_refused_naming_the_row() -> None:
    store = store_with(Recorder())
    with pytest.raises(featurelog.ValidationError, match=r"entity_rows\[1\]"):
        store.get_online_features(features=["a:b"], entity_rows=[{"driver_id": 1}, {"driver": 2}])
    with pytest.raises(featurelog.ValidationError, match="exactly one"):
        store.get_online_features(entity_rows=[{"driver_id": 1}])


# -- push ------------------------------------------------------------------------------------------


def test_push_sends_columns_with_utc_times_base64_bytes_and_nulls() -> None:
    recorder = Recorder(lambda request: httpx.Response(200, json={"to": "online", "produced": 2, "views": []}))
    frame = pd.DataFrame(
        {
            "driver_id": [1, 2],
            "event_timestamp": pd.to_datetime(["2024-05-01 12:00:00.000001", "2024-05-01 13:00:00.000000"]),  # naive: UTC
            "created_timestamp": pd.to_datetime(["2024-05-01 14:00+02:00", None], utc=True),
            "conv_rate": [0.5, np.nan],
            "photo": [b"\x01\x02", None],
        }
    )
    result = store_with(recorder).push("driver_hourly_stats", frame, to="online")
    assert result["produced"] == 2
    sent = json.loads(next(r for r in recorder.requests if r.method == "POST").content)
    assert sent == {
        "push_source_name": "driver_hourly_stats",
        "to": "online",
        "df": {
            "driver_id": [1, 2],
            "event_timestamp": ["2024-05-01T12:00:00.000001Z", "2024-05-01T13:00:00.000000Z"],
            "created_timestamp": ["2024-05-01T12:00:00.000000Z", None],
            "conv_rate": [0.5, None],
            "photo": [base64.b64encode(b"\x01\x02").decode(), None],
        },
    }


def test_push_refuses_an_unknown_destination_before_sending() -> None:
    recorder = Recorder()
    with pytest.raises(featurelog.ValidationError, match="online_and_offline"):
        store_with(recorder).push("driver_hourly_stats", [{"driver_id": 1}], to="both")
    assert recorder.requests == []


def test_push_422_lists_the_problems() -> None:
    body = {"statusCode": 422, "code": "INVALID_ROWS", "message": "1 invalid row", "retriable": False,
            "problems": [{"row": 0, "field": "conv_rate", "reason": "not a number"}]}
    store = store_with(Recorder(lambda request: httpx.Response(422, json=body)))
    with pytest.raises(featurelog.InvalidRequestError, match="conv_rate") as raised:
        store.push("driver_hourly_stats", pd.DataFrame({"driver_id": [1], "conv_rate": ["x"]}))
    assert raised.value.code == "INVALID_ROWS" and raised.value.status == 422

"""Live tests against the running apps (FEATURELOG_SERVING_URL and friends, see conftest): the shared
online cases through get_online_features equal the raw HTTP answers, registry reads, push, and
the API key."""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import os
import random
import time
from typing import Any

import pytest

import featurelog

UTC = dt.timezone.utc


def expected_value(raw: Any, value_type: str | None) -> Any:
    """The raw JSON value in the Python type the SDK promises, decoded here on its own terms."""
    if raw is None or value_type is None:
        return raw
    if value_type.startswith("list<"):
        return [expected_value(v, value_type[5:-1]) for v in raw]
    if value_type == "timestamp":
        return dt.datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(UTC)
    if value_type == "bytes":
        return base64.b64decode(raw)
    if value_type in ("float32", "float64") and isinstance(raw, str):
        return float(raw.replace("Infinity", "inf"))
    if value_type in ("int32", "int64") and isinstance(raw, str):
        return int(raw)
    return raw


def same(actual: Any, expected: Any) -> bool:
    """Equal values of the same kind: numbers by value (NaN equals NaN), the rest by type and value."""
    if isinstance(expected, float) and math.isnan(expected):
        return isinstance(actual, float) and math.isnan(actual)
    if isinstance(expected, list):
        return isinstance(actual, list) and len(actual) == len(expected) and all(map(same, actual, expected))
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(expected, (int, float)):
        return isinstance(actual, (int, float)) and actual == expected
    return type(actual) is type(expected) and actual == expected


def column_types(store: featurelog.FeatureStore, request: dict[str, Any]) -> dict[str, str]:
    refs = request.get("features") or store.get_feature_service(request["feature_service"]).features
    types: dict[str, str] = {}
    for entity in store.list_entities():
        for key in entity.join_keys:
            types[key.name] = key.type
    full = bool(request.get("full_feature_names"))
    for ref in refs:
        view_name, feature_name = ref.split(":")
        view = store.get_feature_view(view_name)
        for feature in view.features:
            if feature_name in ("*", feature.name):
                types[f"{view_name}__{feature.name}" if full else feature.name] = feature.type
    return types


def test_every_client_case_through_get_online_features_equals_the_raw_answer(live_store: featurelog.FeatureStore) -> None:
    path = os.environ.get("FEATURELOG_CLIENT_CASES")
    if not path:
        pytest.skip("FEATURELOG_CLIENT_CASES is not set (the harness writes the shared online cases there)")
    with open(path, encoding="utf-8") as handle:
        cases = json.load(handle)["cases"]
    assert cases, f"{path} holds no cases"
    for case in cases:
        request, raw = case["request"], case["response"]
        response = live_store.get_online_features(
            features=request.get("features"),
            feature_service=request.get("feature_service"),
            entity_rows=request["entities"],
            full_feature_names=bool(request.get("full_feature_names", False)),
        )
        names = raw["metadata"]["feature_names"]
        assert response.feature_names == names, case["name"]
        types = column_types(live_store, request)
        values = response.to_dict()
        for name, column in zip(names, raw["results"]):
            wanted = [expected_value(v, types.get(name)) for v in column["values"]]
            assert len(values[name]) == len(wanted), f"{case['name']}: {name}"
            for row, (actual, expected) in enumerate(zip(values[name], wanted)):
                assert same(actual, expected), f"{case['name']}: {name}[{row}] is {actual!r}, raw {expected!r}"
            assert response.statuses[name] == column["statuses"], f"{case['name']}: statuses of {name}"
            instants = [expected_value(t, "timestamp") for t in column["event_timestamps"]]
            assert response.event_timestamps[name] == instants, f"{case['name']}: event_timestamps of {name}"


def test_registry_reads_name_the_drivers_example(live_store: featurelog.FeatureStore) -> None:
    entities = {e.name: e for e in live_store.list_entities()}
    assert featurelog.JoinKey("driver_id", "int64") in entities["driver"].join_keys
    views = {v.name: v for v in live_store.list_feature_views()}
    assert "driver_hourly_stats" in views
    assert live_store.get_feature_view("driver_hourly_stats") == views["driver_hourly_stats"]
    services = live_store.list_feature_services()
    assert services and live_store.get_feature_service(services[0].name) == services[0]
    with pytest.raises(featurelog.UnknownNameError) as raised:
        live_store.get_feature_view("no_such_view_anywhere")
    assert raised.value.code == "UNKNOWN_FEATURE_VIEW" and raised.value.status == 404


def test_a_wrong_key_is_an_authentication_error(live_store: featurelog.FeatureStore) -> None:
    wrong = featurelog.FeatureStore(
        url=live_store.url, registry_url=live_store.registry_url, jobs_url=live_store.jobs_url,
        api_key="not-the-key-" + "x" * 20,
    )
    with pytest.raises(featurelog.AuthenticationError) as raised:
        wrong.get_online_features(features=["driver_hourly_stats:conv_rate"], entity_rows=[{"driver_id": 1}])
    assert raised.value.status == 401 and raised.value.code
    with pytest.raises(featurelog.AuthenticationError):
        wrong.list_feature_views()


def test_an_unknown_feature_online_is_the_servers_404_with_its_code(live_store: featurelog.FeatureStore) -> None:
    with pytest.raises(featurelog.NotFoundError) as raised:
        live_store.get_online_features(features=["driver_hourly_stats:no_such_feature"], entity_rows=[{"driver_id": 1}])
    assert raised.value.code == "UNKNOWN_FEATURE" and "no_such_feature" in raised.value.message


def test_pushed_rows_are_served_online_typed_with_statuses(live_store: featurelog.FeatureStore) -> None:
    seed = random.randrange(10**6)
    print(f"random seed {seed}")
    driver = 2 * 10**12 + seed  # a driver id only this test uses
    view = live_store.get_feature_view("driver_hourly_stats")
    now = dt.datetime.now(UTC).replace(microsecond=123456)
    row: dict[str, Any] = {"driver_id": driver, "event_timestamp": now}
    for feature in view.features:
        row[feature.name] = None if feature.name == view.features[-1].name else _value_of(feature.type, seed)
    result = live_store.push("driver_hourly_stats", [row], to="online")
    assert result["produced"] == 1 and result["to"] == "online"
    deadline = time.monotonic() + 30
    while True:
        response = live_store.get_online_features(features=["driver_hourly_stats:*"], entity_rows=[{"driver_id": driver}])
        first = view.features[0].name
        if response.statuses[first] != ["NOT_FOUND"] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    values = response.to_dict()
    for feature in view.features[:-1]:
        assert values[feature.name] == [row[feature.name]], feature.name
        assert response.statuses[feature.name] == ["PRESENT"]
        assert response.event_timestamps[feature.name] == [now]
    assert values[view.features[-1].name] == [None]
    assert response.statuses[view.features[-1].name] == ["NULL_VALUE"]


def _value_of(value_type: str, seed: int) -> Any:
    rng = random.Random(seed)
    if value_type in ("int32", "int64"):
        return rng.randrange(-1000, 1000)
    if value_type in ("float64",):
        return rng.random()
    if value_type == "float32":
        return 0.5
    if value_type == "bool":
        return True
    if value_type == "string":
        return f"s{seed}"
    if value_type == "bytes":
        return bytes([1, 2, seed % 256])
    if value_type == "timestamp":
        return dt.datetime(2024, 5, 1, 12, 0, 0, 1, tzinfo=UTC)
    return None

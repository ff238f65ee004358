"""Live: get_historical_features against the brute-force point-in-time oracle (pit_oracle.py) on
random data pushed for driver ids only this run uses (the seed is printed; rerun one with
FEATURELOG_PIT_SEED), and the DataFrame equal to the Parquet result of the same request."""

from __future__ import annotations

import datetime as dt
import math
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import featurelog
from featurelog.types import arrow_type
import pit_oracle as oracle
from conftest import LIVE_SKIP_REASON, live_enabled

UTC = dt.timezone.utc
VIEW = "driver_hourly_stats"
KEY = "driver_id"


@dataclass
class PitData:
    store: featurelog.FeatureStore
    seed: int
    features: dict[str, str]
    ttl: dt.timedelta
    history: list[oracle.HistoryRow]
    entity_df: pd.DataFrame  # naive event_timestamp (UTC), extra columns row_id, label, note


@pytest.fixture(scope="module")
def pit() -> Iterator[PitData]:
    if not live_enabled():
        pytest.skip(LIVE_SKIP_REASON)
    seed = int(os.environ.get("FEATURELOG_PIT_SEED") or random.randrange(10**6))
    print(f"point-in-time oracle: random seed {seed} (FEATURELOG_PIT_SEED={seed} reruns it)")
    rng = random.Random(seed)
    store = featurelog.FeatureStore.from_env()
    view = store.get_feature_view(VIEW)
    assert [k.name for e in view.entities for k in store.get_entity(e).join_keys] == [KEY]
    features = {f.name: f.type for f in view.features if f.type in oracle.GENERATED_TYPES}
    assert features, f"{VIEW} has no feature of a generated type"
    ttl = dt.timedelta(seconds=view.ttl_seconds)
    # Driver ids of this run only (below 2^53, so JSON carries them exactly).
    base_id = 4 * 10**12 + seed * 1000 + rng.randrange(900)
    keys = [base_id + i for i in range(30)]
    absent = [base_id + 60 + i for i in range(3)]
    base = dt.datetime(2024, 3, 1, tzinfo=UTC) + dt.timedelta(days=rng.randrange(300))
    history = oracle.generate_history(rng, keys, features, base)
    rows = [
        {KEY: r.key, "event_timestamp": r.event, "created_timestamp": r.created, **r.values}
        for r in sorted(history, key=lambda r: r.position)
    ]
    assert store.push(VIEW, rows, to="offline")["produced"] == len(rows)
    # Rows pushed for the online store only never reach a training set, though they would win.
    online_only = [
        {KEY: key, "event_timestamp": base + dt.timedelta(hours=2), "created_timestamp": base + dt.timedelta(days=9),
         **{name: None for name in features}}
        for key in keys[:5]
    ]
    assert store.push(VIEW, online_only, to="online")["produced"] == len(online_only)
    pairs = oracle.generate_entity_rows(rng, history, keys, absent, ttl, base)
    entity_df = pd.DataFrame(
        {
            KEY: pd.array([k for k, _ in pairs], dtype="int64"),
            "event_timestamp": pd.Series([t.replace(tzinfo=None) for _, t in pairs], dtype="datetime64[us]"),
            "row_id": range(len(pairs)),
            "label": [None if i % 7 == 0 else i / 8 for i in range(len(pairs))],
            "note": [None if i % 5 == 0 else f"n{i}" for i in range(len(pairs))],
        }
    )
    try:
        yield PitData(store, seed, features, ttl, history, entity_df)
    finally:
        store.close()


def assert_matches_oracle(
    data: PitData,
    result: pd.DataFrame,
    entity_df: pd.DataFrame,
    columns: dict[str, str],
    wanted: Optional[list[dict[str, Any]]] = None,
) -> None:
    """``columns``: result column → feature name. Every entity row once (duplicates included), its
    extra columns as given, and the oracle's value for every feature (``wanted`` when given, in
    ``row_id`` order)."""
    assert len(result) == len(entity_df)
    assert sorted(result["row_id"]) == list(range(len(entity_df)))
    got = result.sort_values("row_id").reset_index(drop=True)
    given = entity_df.sort_values("row_id").reset_index(drop=True)
    assert list(got[KEY]) == list(given[KEY])
    assert list(got["label"].isna()) == list(given["label"].isna())
    assert got["label"].dropna().tolist() == given["label"].dropna().tolist()
    assert [None if pd.isna(v) else v for v in got["note"]] == [None if pd.isna(v) else v for v in given["note"]]
    if wanted is None:
        wanted = oracle.expected_rows(given, data.history, data.ttl, list(data.features), KEY)
    mismatches = []
    for column, feature in columns.items():
        for i, (actual, expected) in enumerate(zip(got[column], (row[feature] for row in wanted))):
            if expected is None:
                ok = actual is None or (isinstance(actual, float) and math.isnan(actual)) or actual is pd.NA
            else:
                ok = not pd.isna(actual) and actual == expected
            if not ok:
                mismatches.append(
                    f"row {given['row_id'][i]} ({KEY}={given[KEY][i]}, t={given['event_timestamp'][i]}): "
                    f"{column} is {actual!r}, the oracle says {expected!r}"
                )
    assert not mismatches, f"seed {data.seed}: {len(mismatches)} mismatches, first: " + "; ".join(mismatches[:5])


def test_training_set_equals_the_oracle_and_its_parquet_file(pit: PitData, tmp_path: Path) -> None:
    refs = [f"{VIEW}:{name}" for name in pit.features]
    job = pit.store.get_historical_features(pit.entity_df, features=refs, progress=True)
    assert job.id
    frame = job.to_df()
    entity_columns = [KEY, "event_timestamp", "row_id", "label", "note"]
    assert list(frame.columns) == entity_columns + list(pit.features)
    assert str(frame["event_timestamp"].dtype) == "datetime64[us, UTC]"
    assert_matches_oracle(pit, frame, pit.entity_df, {name: name for name in pit.features})
    assert job.status() in ("finished", "succeeded")

    # The same request's Parquet result: same frame, column types included.
    path = job.to_parquet(tmp_path / "training.parquet")
    parquet = pq.read_table(path)
    arrow = job.to_arrow()
    assert arrow.schema.remove_metadata().equals(parquet.schema.remove_metadata()), (arrow.schema, parquet.schema)
    pd.testing.assert_frame_equal(frame, parquet.to_pandas(), check_dtype=True, check_exact=True)
    # And every feature column typed as the view defines it.
    for name, value_type in pit.features.items():
        assert arrow.schema.field(name).type == arrow_type(value_type), name


def test_full_feature_names_aware_times_and_an_arrow_table(pit: PitData) -> None:
    shifted = pit.entity_df.copy()
    # The same instants written in +05:30: the same answers.
    shifted["event_timestamp"] = shifted["event_timestamp"].dt.tz_localize("UTC").dt.tz_convert("Asia/Kolkata")
    job = pit.store.get_historical_features(
        pa.Table.from_pandas(shifted, preserve_index=False), features=[f"{VIEW}:*"], full_feature_names=True,
        progress=False,
    )
    frame = job.to_df()
    columns = {f"{VIEW}__{name}": name for name in pit.features}
    assert set(columns) <= set(frame.columns)
    assert frame["event_timestamp"].dt.tz is not None
    assert_matches_oracle(pit, frame, pit.entity_df, columns)


def test_a_feature_service_and_a_parquet_entity_file(pit: PitData, tmp_path: Path) -> None:
    services = [s for s in pit.store.list_feature_services() if all(ref.startswith(f"{VIEW}:") for ref in s.features)]
    if not services:
        pytest.skip(f"no feature service reads only {VIEW}")
    service = services[0]
    view = pit.store.get_feature_view(VIEW)
    expanded: list[str] = []
    for ref in service.features:
        name = ref.split(":")[1]
        expanded.extend(view.feature_names if name == "*" else [name])
    path = tmp_path / "entities.parquet"
    pit.entity_df.to_parquet(path)
    frame = pit.store.get_historical_features(str(path), feature_service=service.name, progress=False).to_df()
    assert list(frame.columns) == list(pit.entity_df.columns) + expanded
    assert_matches_oracle(pit, frame, pit.entity_df, {name: name for name in expanded if name in pit.features})


def test_bad_requests_are_refused_before_submitting_naming_the_column(pit: PitData) -> None:
    with pytest.raises(featurelog.ValidationError, match='"driver_id"') as raised:
        pit.store.get_historical_features(pit.entity_df.drop(columns=[KEY]), features=[f"{VIEW}:*"])
    assert raised.value.code == "MISSING_JOIN_KEY"
    with pytest.raises(featurelog.ValidationError, match="event_timestamp"):
        pit.store.get_historical_features(
            pit.entity_df.assign(event_timestamp=pit.entity_df["event_timestamp"].astype(str)), features=[f"{VIEW}:*"]
        )
    with pytest.raises(featurelog.UnknownNameError, match="no_such_feature") as unknown:
        pit.store.get_historical_features(pit.entity_df, features=[f"{VIEW}:no_such_feature"])
    assert unknown.value.code == "UNKNOWN_FEATURE"
    with pytest.raises(featurelog.UnknownNameError, match="no_such_service"):
        pit.store.get_historical_features(pit.entity_df, feature_service="no_such_service")


def test_an_unknown_job_is_not_found(pit: PitData) -> None:
    with pytest.raises(featurelog.NotFoundError) as raised:
        pit.store.get_training_set("no-such-job-id", progress=False)
    assert raised.value.status == 404


def test_as_served_leaves_out_rows_the_log_did_not_know_yet(pit: PitData) -> None:
    """Rows pushed now with event times in the last hours and created times some in the future;
    entity times well before the push (nothing known yet) and well after it (known unless created
    later). Minutes separate every entity time from the push, so the log's append time is the push's."""
    rng = random.Random(pit.seed + 1)
    store, features = pit.store, pit.features
    keys = [5 * 10**12 + pit.seed * 1000 + rng.randrange(900) * 100 + i for i in range(15)]
    before = dt.datetime.now(UTC).replace(second=0, microsecond=0)
    history: list[oracle.HistoryRow] = []
    for key in keys:
        for _ in range(rng.randint(1, 6)):
            event = before - dt.timedelta(minutes=10 * rng.randint(1, 9), microseconds=rng.choice([0, 0, rng.randint(1, 999_999)]))
            created = rng.choice([None, event, event + dt.timedelta(minutes=5), before + dt.timedelta(minutes=20),
                                  before + dt.timedelta(hours=3)])
            values = {name: oracle._value(rng, value_type) for name, value_type in features.items()}
            history.append(oracle.HistoryRow(key, event, created, 0, values))
    rng.shuffle(history)
    for position, row in enumerate(history):
        row.position = position
    rows = [{KEY: r.key, "event_timestamp": r.event, "created_timestamp": r.created, **r.values} for r in history]
    assert store.push(VIEW, rows, to="offline")["produced"] == len(rows)
    after = dt.datetime.now(UTC)
    assert after - before < dt.timedelta(minutes=4), "the push took minutes: entity times would be too close to it"
    for row in history:
        row.appended = after  # somewhere in [before, after]: every entity time is minutes away from both
    times = [before - dt.timedelta(minutes=5), after + dt.timedelta(minutes=19), after + dt.timedelta(minutes=21),
             after + dt.timedelta(minutes=30), before + dt.timedelta(hours=3)]
    pairs = [(key, t) for key in keys for t in times] + [(keys[0], times[3])]
    entity_df = pd.DataFrame(
        {
            KEY: pd.array([k for k, _ in pairs], dtype="int64"),
            "event_timestamp": pd.Series([t for _, t in pairs], dtype="datetime64[us, UTC]"),
            "row_id": range(len(pairs)),
            "label": [float(i) for i in range(len(pairs))],
            "note": [f"n{i}" for i in range(len(pairs))],
        }
    )
    refs = [f"{VIEW}:{name}" for name in features]
    as_data = PitData(store, pit.seed, features, pit.ttl, history, entity_df)
    served = store.get_historical_features(entity_df, features=refs, as_served=True, progress=False).to_df()
    wanted = oracle.expected_rows(entity_df, history, pit.ttl, list(features), KEY, as_served=True)
    assert_matches_oracle(as_data, served, entity_df, {name: name for name in features}, wanted)
    # Without as_served the same request sees every row (and must differ somewhere, or this test
    # proves nothing about the option).
    everything = store.get_historical_features(entity_df, features=refs, progress=False).to_df()
    assert_matches_oracle(as_data, everything, entity_df, {name: name for name in features})
    assert oracle.expected_rows(entity_df, history, pit.ttl, list(features), KEY) != wanted

"""featurelog.producer writes the same bytes as featurelog's Node producer; its rows are materialized and exported alike.

The Node side is the real FeatureProducer of libs/producer, run by `node -r @swc-node/register` on a small
script this test writes to a temp dir (NODE_SCRIPT below) inside the repo's TypeScript setup: it resolves the
view against the same schema registry and prints each row's key and value bytes (mode `records`), or
produces the rows through its KafkaEventLog (mode `produce`).

Needs the real stack: FEATURELOG_SCHEMA_REGISTRY_URL (+ FEATURELOG_BOOTSTRAP, FEATURELOG_SERVING_URL,
FEATURELOG_REGISTRY_URL, FEATURELOG_API_KEY, FEATURELOG_PROJECT for the materialization test, the drivers
example applied; FEATURELOG_JOBS_URL for its export half); skipped, saying why, when absent. The repo (for node and its node_modules) is found from
this file, or FEATURELOG_SOURCE_DIR.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import tempfile
import time
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

pytest.importorskip("confluent_kafka.schema_registry.avro", reason="needs the producer extra (confluent-kafka[avro,schemaregistry])")

from featurelog.producer import (  # noqa: E402
    FeatureProducer,
    InvalidRowsError,
    JoinKey,
    ProducerError,
    encode_entity_key,
    features_topic,
)

SOURCE = Path(os.environ.get("FEATURELOG_SOURCE_DIR") or Path(__file__).resolve().parents[3])
NODE = SOURCE / "node_modules" / ".bin" / "node"
SCHEMA_REGISTRY = os.environ.get("FEATURELOG_SCHEMA_REGISTRY_URL")
BOOTSTRAP = os.environ.get("FEATURELOG_BOOTSTRAP")

NODE_SCRIPT = r"""
import { readFileSync } from 'node:fs';
import { rowSchemaFor, ConfluentSchemaRegistry } from '@featurelog/avro';
import { topicNames, valueSubject, type TaggedDefinition, type FeatureViewDefinition, type EntityDefinition } from '@featurelog/domain';
import { KafkaEventLog, type EventLog } from '@featurelog/log';
import { FeatureProducer } from '@featurelog/producer';

interface Input {
  mode: 'records' | 'produce';
  project: string;
  schemaRegistryUrl: string;
  brokers?: string;
  definitions: TaggedDefinition[];
  /** Register the view's row schema first (a view that was not applied, for the all-types test). */
  register?: boolean;
  view: string;
  rows: Record<string, unknown>[];
  /** Fields given in base64 that are bytes. */
  bytesFields: string[];
}

async function main(): Promise<void> {
  const input = JSON.parse(readFileSync(0, 'utf8')) as Input;
  const schemas = new ConfluentSchemaRegistry({ url: input.schemaRegistryUrl });
  const view = input.definitions.find((d) => d.kind === 'feature_view' && d.definition.name === input.view)!
    .definition as FeatureViewDefinition;
  if (input.register) {
    const entities = input.definitions.filter((d) => d.kind === 'entity').map((d) => d.definition as EntityDefinition);
    await schemas.register(valueSubject(topicNames.features(input.project, view)), rowSchemaFor(view, entities, input.project));
  }
  const log = input.mode === 'produce' ? await KafkaEventLog.connect({ brokers: input.brokers!.split(',') }) : undefined;
  const producer = new FeatureProducer({
    log: log ?? (undefined as unknown as EventLog),
    schemas,
    project: input.project,
    definitions: input.definitions,
  });
  const bytes = new Set(input.bytesFields);
  const rows = input.rows.map((row) =>
    Object.fromEntries(
      Object.entries(row).map(([k, v]) => [k, bytes.has(k) && typeof v === 'string' ? new Uint8Array(Buffer.from(v, 'base64')) : v]),
    ),
  );
  try {
    if (input.mode === 'records') {
      const target = await producer.target(input.view);
      const records = rows.map((row) => {
        const { row: checked, problems } = target.check(row);
        if (problems.length > 0) throw new Error(JSON.stringify(problems));
        const record = target.record(checked);
        return { key: Buffer.from(record.key!).toString('hex'), value: Buffer.from(record.value!).toString('hex') };
      });
      process.stdout.write(JSON.stringify({ records }));
    } else {
      const result = await producer.produce(input.view, rows);
      process.stdout.write(JSON.stringify({ topic: result.topic, partitions: result.positions.map((p) => p.partition) }));
    }
  } finally {
    await log?.close();
    await schemas.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
"""


def node(payload: dict) -> dict:
    """Runs NODE_SCRIPT on the payload; its JSON answer."""
    if not NODE.exists():
        pytest.skip(f"{NODE} is missing: the Node side of the comparison needs the repo's node_modules")
    with tempfile.TemporaryDirectory(prefix="featurelog-node-producer-") as scratch:
        script = Path(scratch) / "node-producer.ts"
        script.write_text(NODE_SCRIPT)
        done = subprocess.run(
            [str(NODE), "-r", "@swc-node/register", str(script)],
            input=json.dumps(payload),
            capture_output=True,
            text=True,
            cwd=SOURCE,
            env={**os.environ, "SWC_NODE_PROJECT": str(SOURCE / "tsconfig.json")},
            timeout=120,
        )
    if done.returncode != 0:
        raise AssertionError(f"the Node producer script failed:\n{done.stderr}")
    return json.loads(done.stdout)


def micros(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)


# ------------------------------------------------------------------------ entity keys (no services)


class TestEntityKey:
    def test_sorted_pairs_and_each_type(self) -> None:
        keys = [JoinKey("trip", "string"), JoinKey("driver_id", "int64"), JoinKey("b", "bytes"), JoinKey("ok", "bool")]
        text = encode_entity_key(keys, {"trip": "a|b=c%d\x01\x7fé", "driver_id": -(2**63), "b": b"\x00\xab", "ok": False})
        assert text == "b=00ab|driver_id=-9223372036854775808|ok=false|trip=a%7Cb%3Dc%25d%01%7Fé"

    def test_timestamp_text_reads_as_the_node_producer_reads_it(self) -> None:
        from featurelog.producer import _timestamp_micros

        t = micros(datetime(2025, 1, 31, 12, 0, tzinfo=timezone.utc))
        assert _timestamp_micros("2025-01-31T12:00:00.123456789Z") == t + 123_456
        assert _timestamp_micros("2025-01-31 12:00") == t
        assert _timestamp_micros("2025-01-31T13:30:00+01:30") == t
        assert _timestamp_micros("2025-01-31") == t - 12 * 3600 * 1_000_000
        assert _timestamp_micros(datetime(2025, 1, 31, 12)) == t  # naive means UTC
        for bad in ("2025-02-30", "2025-01-31T24:00", "2025-01-31T12:00+24:00", "yesterday"):
            assert _timestamp_micros(bad) == bad

    def test_wrong_and_missing_keys_are_named(self) -> None:
        with pytest.raises(ProducerError) as missing:
            encode_entity_key([JoinKey("driver_id", "int64")], {"driver_id": None})
        assert missing.value.code == "MISSING_JOIN_KEY" and "driver_id" in missing.value.message
        for key, value in [
            (JoinKey("n", "int32"), 2**31),
            (JoinKey("n", "int64"), 2**63),
            (JoinKey("n", "int64"), True),
            (JoinKey("n", "int64"), 1.5),
            (JoinKey("n", "bool"), 1),
            (JoinKey("n", "string"), 1),
            (JoinKey("n", "bytes"), "00"),
        ]:
            with pytest.raises(ProducerError) as wrong:
                encode_entity_key([key], {"n": value})
            assert wrong.value.code == "INVALID_JOIN_KEY_VALUE" and '"n"' in wrong.value.message


# ------------------------------------------------------------------------ byte for byte (schema registry)

pytestmark_registry = pytest.mark.skipif(
    not SCHEMA_REGISTRY, reason="FEATURELOG_SCHEMA_REGISTRY_URL is not set (the apps run on the embedded default)"
)

T0 = micros(datetime(2025, 6, 1, 12, tzinfo=timezone.utc))

ALL_TYPES_FEATURES = [
    ("conv_rate", "float64"),
    ("acc_rate", "float32"),
    ("avg_daily_trips", "int64"),
    ("rating", "int32"),
    ("active", "bool"),
    ("city", "string"),
    ("avatar", "bytes"),
    ("last_trip_at", "timestamp"),
    ("recent_fares", "list<float64>"),
    ("tags", "list<string>"),
]


def all_types_rows() -> list[dict]:
    """Rows of every value type as JSON carries them (bytes in base64, timestamps in epoch µs)."""
    rows = []
    for i in range(6):
        full = i % 2 == 0
        rows.append(
            {
                "driver_id": 2**53 - 1 - i if i < 3 else -i,
                "city_code": f"Z|ü=%{i}\n",
                "event_timestamp": T0 + i * 1_000_001,
                "created_timestamp": T0 + i * 1_000_001 + 17 if full else None,
                "conv_rate": 0.1 * i if full else None,
                "acc_rate": 0.3 + i if full else None,
                "avg_daily_trips": 2**53 - 1 - i if full else None,
                "rating": -(2**31) + i if full else None,
                "active": i % 4 == 0 if full else None,
                "city": f"Zürich {i}" if full else None,
                "avatar": base64.b64encode(bytes([i, 255 - i, 7])).decode() if full else None,
                "last_trip_at": T0 - i if full else None,
                "recent_fares": [1.5, float(i)] if full else None,
                "tags": ["a", "b|c"] if full else None,
            }
        )
    return rows


def as_python(row: dict) -> dict:
    """The row as a Python app holds it: datetimes, bytes."""
    out = dict(row)
    out["avatar"] = base64.b64decode(row["avatar"]) if row["avatar"] is not None else None
    for name in ("event_timestamp", "created_timestamp", "last_trip_at"):
        if out[name] is not None:
            out[name] = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=out[name])
    return out


@pytestmark_registry
def test_every_value_type_serializes_to_the_node_producers_bytes() -> None:
    project = f"pyprod_{uuid.uuid4().hex[:10]}"
    view = {
        "name": "all_types",
        "version": 1,
        "entities": ["driver", "city"],
        "features": [{"name": n, "type": t} for n, t in ALL_TYPES_FEATURES],
        "ttlSeconds": 0,
        "online": True,
        "offline": True,
    }
    definitions = [
        {"kind": "entity", "definition": {"name": "driver", "joinKeys": [{"name": "driver_id", "type": "int64"}]}},
        {"kind": "entity", "definition": {"name": "city", "joinKeys": [{"name": "city_code", "type": "string"}]}},
        {"kind": "feature_view", "definition": view},
    ]
    rows = all_types_rows()
    expected = node(
        {
            "mode": "records",
            "register": True,
            "project": project,
            "schemaRegistryUrl": SCHEMA_REGISTRY,
            "definitions": definitions,
            "view": "all_types",
            "rows": rows,
            "bytesFields": ["avatar"],
        }
    )["records"]

    # No registry API here: the view is resolved from its subject alone (join keys = fields before event_timestamp).
    producer = FeatureProducer(project=project, bootstrap_servers=BOOTSTRAP or "unused:9092", schema_registry_url=SCHEMA_REGISTRY)
    target = producer.target("all_types")
    assert target.topic == f"{project}.features.all_types"
    assert [(k.name, k.type) for k in target.join_keys] == [("driver_id", "int64"), ("city_code", "string")]
    got = producer.records("all_types", [as_python(row) for row in rows])
    assert [(k.hex(), v.hex()) for k, v in got] == [(r["key"], r["value"]) for r in expected]

    # Timestamps as epoch µs and as ISO text, and a DataFrame, give the same bytes.
    assert producer.records("all_types", [{**as_python(r), "event_timestamp": r["event_timestamp"]} for r in rows]) == got
    iso = [{**as_python(r), "event_timestamp": as_python(r)["event_timestamp"].isoformat()} for r in rows]
    assert producer.records("all_types", iso) == got
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame([as_python(r) for r in rows])
    assert producer.records("all_types", frame) == got


@pytestmark_registry
def test_bad_rows_are_named_and_nothing_is_serialized() -> None:
    project = f"pyprod_{uuid.uuid4().hex[:10]}"
    producer = FeatureProducer(project=project, bootstrap_servers="unused:9092", schema_registry_url=SCHEMA_REGISTRY)
    with pytest.raises(ProducerError) as unprovisioned:
        producer.target("nothing_here")
    assert unprovisioned.value.code == "VIEW_NOT_PROVISIONED" and f"{project}.features.nothing_here-value" in unprovisioned.value.message

    view = {"name": "v", "version": 1, "entities": ["driver"], "features": [{"name": "x", "type": "int64"}], "ttlSeconds": 0, "online": True, "offline": True}
    definitions = [
        {"kind": "entity", "definition": {"name": "driver", "joinKeys": [{"name": "driver_id", "type": "int64"}]}},
        {"kind": "feature_view", "definition": view},
    ]
    node({"mode": "records", "register": True, "project": project, "schemaRegistryUrl": SCHEMA_REGISTRY,
          "definitions": definitions, "view": "v", "rows": [], "bytesFields": []})
    good = {"driver_id": 1, "event_timestamp": T0, "x": 1}
    with pytest.raises(InvalidRowsError) as invalid:
        producer.records(
            "v",
            [
                good,
                {"event_timestamp": T0},
                {**good, "y": 2},
                {**good, "event_timestamp": "yesterday"},
                {**good, "x": "many"},
                {**good, "driver_id": "1"},
                good,
            ],
        )
    problems = {(p.row, p.field, p.code) for p in invalid.value.problems}
    assert problems == {
        (1, "driver_id", "MISSING_JOIN_KEY"),
        (2, "y", "UNKNOWN_FIELD"),
        (3, "event_timestamp", "INVALID_TIMESTAMP"),
        (4, "x", "INVALID_VALUE"),
        (5, "driver_id", "INVALID_JOIN_KEY_VALUE"),
    }
    assert "5 of 7 row(s) for v are invalid" in str(invalid.value)


# ------------------------------------------------------------------------ materialized like the Node producer's

LIVE = {
    name: os.environ.get(name)
    for name in (
        "FEATURELOG_BOOTSTRAP",
        "FEATURELOG_SCHEMA_REGISTRY_URL",
        "FEATURELOG_SERVING_URL",
        "FEATURELOG_REGISTRY_URL",
        "FEATURELOG_API_KEY",
        "FEATURELOG_PROJECT",
    )
}
VIEW = "driver_hourly_stats"


def http_json(url: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {LIVE['FEATURELOG_API_KEY']}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def online(driver_ids: list[int], features: list[str]) -> list[dict]:
    """Per driver: {feature: (value, status, event_timestamp)} from get-online-features (Feast-shaped JSON)."""
    answer = http_json(
        f"{LIVE['FEATURELOG_SERVING_URL']}/get-online-features",
        {"features": [f"{VIEW}:{f}" for f in features], "entities": {"driver_id": driver_ids}},
    )
    names = answer["metadata"]["feature_names"]
    out: list[dict] = [{} for _ in driver_ids]
    for name, column in zip(names, answer["results"]):
        for i in range(len(driver_ids)):
            out[i][name] = (column["values"][i], column["statuses"][i], column["event_timestamps"][i])
    return out


@pytest.mark.skipif(
    not all(LIVE.values()),
    reason="needs the apps on real Kafka: " + ", ".join(n for n, v in LIVE.items() if not v) + " not set",
)
def test_python_rows_are_materialized_like_the_node_producers() -> None:
    definition = http_json(f"{LIVE['FEATURELOG_REGISTRY_URL']}/feature-views/{VIEW}")["definition"]
    entities = [http_json(f"{LIVE['FEATURELOG_REGISTRY_URL']}/entities/{name}")["definition"] for name in definition["entities"]]
    definitions = [{"kind": "entity", "definition": e} for e in entities] + [{"kind": "feature_view", "definition": definition}]
    features = [f["name"] for f in definition["features"]]
    assert {"conv_rate", "acc_rate", "avg_daily_trips"} <= set(features), "the drivers example's view"

    # Recent rows (inside the view's TTL), on driver ids of this run only; the same values for Python and Node.
    base = 970_000_000 + int(uuid.uuid4().int % 1_000_000) * 10
    now = micros(datetime.now(timezone.utc)) - 60_000_000
    values = [
        {"event_timestamp": now + i, "conv_rate": 0.25 * i, "acc_rate": None if i == 1 else 1 / 3, "avg_daily_trips": 2**53 - 1 - i}
        for i in range(3)
    ]
    python_ids = [base + i for i in range(3)]
    node_ids = [base + 5 + i for i in range(3)]

    producer = FeatureProducer(
        project=LIVE["FEATURELOG_PROJECT"],
        bootstrap_servers=LIVE["FEATURELOG_BOOTSTRAP"],
        schema_registry_url=LIVE["FEATURELOG_SCHEMA_REGISTRY_URL"],
        registry_url=LIVE["FEATURELOG_REGISTRY_URL"],
        api_key=LIVE["FEATURELOG_API_KEY"],
    )
    assert producer.target(VIEW).topic == features_topic(LIVE["FEATURELOG_PROJECT"], VIEW, definition["version"])

    # Byte for byte: the same rows give the same keys and values from both producers.
    same_rows = [{"driver_id": d, **v} for d, v in zip(python_ids, values)]
    node_payload = {
        "project": LIVE["FEATURELOG_PROJECT"],
        "schemaRegistryUrl": LIVE["FEATURELOG_SCHEMA_REGISTRY_URL"],
        "brokers": LIVE["FEATURELOG_BOOTSTRAP"],
        "definitions": definitions,
        "view": VIEW,
        "bytesFields": [],
    }
    expected = node({**node_payload, "mode": "records", "rows": same_rows})["records"]
    assert [(k.hex(), v.hex()) for k, v in producer.records(VIEW, same_rows)] == [(r["key"], r["value"]) for r in expected]

    # Produced: Python for its drivers, Node for its own; both land in the partition murmur2 picks for the key.
    with producer:
        produced = producer.produce(VIEW, same_rows)
    node_produced = node({**node_payload, "mode": "produce", "rows": [{"driver_id": d, **v} for d, v in zip(node_ids, values)]})
    assert produced.produced == 3 and min(produced.partitions) >= 0
    assert node_produced["topic"] == produced.topic

    deadline = time.monotonic() + 60
    while True:
        by_python, by_node = online(python_ids, features), online(node_ids, features)
        statuses = [cell[1] for row in by_python + by_node for name, cell in row.items() if name != "driver_id"]
        if all(status in ("PRESENT", "NULL_VALUE") for status in statuses):
            break
        assert time.monotonic() < deadline, f"rows not materialized within 60 s: {by_python} / {by_node}"
        time.sleep(0.25)  # polling with a deadline, not waiting a fixed time
    for i in range(3):
        assert by_python[i]["conv_rate"][0] == values[i]["conv_rate"]
        assert by_python[i]["avg_daily_trips"][0] == values[i]["avg_daily_trips"]
        assert (by_python[i]["acc_rate"][1] == "NULL_VALUE") == (values[i]["acc_rate"] is None)
        python_cells = {n: c for n, c in by_python[i].items() if n != "driver_id"}
        node_cells = {n: c for n, c in by_node[i].items() if n != "driver_id"}
        assert python_cells == node_cells

    # Exported alike: the point-in-time training set gives the Python rows and the Node rows the same values.
    if not os.environ.get("FEATURELOG_JOBS_URL"):
        pytest.skip("FEATURELOG_JOBS_URL is not set: the export half needs the jobs app")
    pandas = pytest.importorskip("pandas")
    import featurelog

    after = datetime.now(timezone.utc) + timedelta(seconds=1)
    entity_df = pandas.DataFrame({"driver_id": python_ids + node_ids, "event_timestamp": [after] * 6})
    with featurelog.FeatureStore.from_env() as store:
        exported = store.get_historical_features(entity_df, features=[f"{VIEW}:{f}" for f in features], progress=False).to_df()
    exported = exported.set_index("driver_id")
    for i in range(3):
        by_python_row = exported.loc[python_ids[i], features]
        by_node_row = exported.loc[node_ids[i], features]
        assert by_python_row.equals(by_node_row), f"{by_python_row.to_dict()} vs {by_node_row.to_dict()}"
        assert by_python_row["conv_rate"] == values[i]["conv_rate"]
        assert by_python_row["avg_daily_trips"] == values[i]["avg_daily_trips"]
        assert pandas.isna(by_python_row["acc_rate"]) == (values[i]["acc_rate"] is None)

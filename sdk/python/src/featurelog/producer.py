"""Produce feature rows of a view from a Python backend app, straight to Kafka.

The rows travel exactly as those of featurelog's Node producer (``libs/producer``): each record is keyed by
featurelog's entity-key text (``driver_id=1001``, see :func:`encode_entity_key`), partitioned by murmur2 on
that key (Kafka's Java partitioner, which featurelog uses, so one entity's rows share a partition whoever
writes them), and valued in the Confluent wire format by confluent-kafka's own ``AvroSerializer`` with the
latest schema registered under the view's subject ``<project>.features.<view>[.v<n>]-value`` (the schema
``featurelog apply`` registered; the producer never registers one). The materializer and the offline
compactor therefore read them like any other row.

Needs the ``producer`` extra: ``pip install 'featurelog[producer]'`` (``confluent-kafka[avro,schemaregistry]``;
the bare confluent-kafka package lacks what the serializer imports)::

    from featurelog.producer import FeatureProducer

    producer = FeatureProducer(
        project="drivers",
        bootstrap_servers="127.0.0.1:9092",
        schema_registry_url="http://127.0.0.1:8081/apis/ccompat/v7",
        registry_url="http://127.0.0.1:6570",  # the view's definition; optional, see below
        api_key=os.environ["FEATURELOG_API_KEY"],
    )
    producer.produce("driver_hourly_stats", [
        {"driver_id": 1001, "event_timestamp": datetime.now(timezone.utc), "conv_rate": 0.5,
         "acc_rate": 0.9, "avg_daily_trips": 12},
    ])
    producer.close()

Rows are mappings (or a pandas DataFrame) of the view's join keys, ``event_timestamp``, an optional
``created_timestamp`` and features. Timestamps may be timezone-aware datetimes, naive datetimes (read as
UTC), ISO 8601 text or integer epoch microseconds; missing features are null. Every row of a call is
checked and serialized before any is produced: one bad row raises :class:`InvalidRowsError` and produces
nothing, as the Node producer does.

With ``registry_url`` the view is looked up in featurelog's registry API (its version, hence its topic; a
view reading an existing topic is refused). Without it, version 1 is assumed and the join keys are read
from the row schema itself (its fields before ``event_timestamp``).
"""

from __future__ import annotations

import json
import math
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping, Sequence

try:
    import fastavro
    import fastavro.validation
    from confluent_kafka import KafkaException, Producer
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.schema_registry.error import SchemaRegistryError
    from confluent_kafka.serialization import MessageField, SerializationContext
except ImportError as missing:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "featurelog.producer needs confluent-kafka with its Avro and schema registry parts: "
        "pip install 'featurelog[producer]' (or 'confluent-kafka[avro,schemaregistry]')"
    ) from missing

__all__ = [
    "FeatureProducer",
    "InvalidRowsError",
    "JoinKey",
    "ProduceResult",
    "ProducerError",
    "RowProblem",
    "ViewTarget",
    "encode_entity_key",
    "features_topic",
    "value_subject",
]

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MICROSECOND = timedelta(microseconds=1)
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
JOIN_KEY_TYPES = ("int32", "int64", "bool", "string", "bytes")
# The Avro types of join keys in a row schema (libs/avro row-schema.ts), for views resolved from the schema alone.
JOIN_KEY_TYPE_OF_AVRO = {"int": "int32", "long": "int64", "boolean": "bool", "string": "string", "bytes": "bytes"}


class ProducerError(Exception):
    """A failure with featurelog's stable code, and whether trying again can help."""

    def __init__(self, code: str, message: str, *, retriable: bool = False) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retriable = retriable


@dataclass(frozen=True)
class RowProblem:
    """What is wrong with one field of one row (``row`` = index in the rows given)."""

    row: int
    field: str
    code: str
    message: str


class InvalidRowsError(ProducerError):
    """Some rows cannot be produced; nothing of the call was. ``problems`` names each row and field."""

    def __init__(self, view: str, problems: Sequence[RowProblem], row_count: int) -> None:
        shown = "; ".join(f"row {p.row}: {p.message}" for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(
            "INVALID_ROWS",
            f"{len({p.row for p in problems})} of {row_count} row(s) for {view} are invalid: {shown}{more}",
        )
        self.view = view
        self.problems = list(problems)


@dataclass(frozen=True)
class JoinKey:
    name: str
    type: str


@dataclass(frozen=True)
class ProduceResult:
    view: str
    topic: str
    produced: int
    #: Partition of each row, in the order given.
    partitions: list[int] = field(default_factory=list)


def features_topic(project: str, view: str, version: int = 1) -> str:
    """The view's managed topic (libs/domain topicNames.features): version 1 keeps the plain name."""
    return f"{project}.features.{view}.v{version}" if version > 1 else f"{project}.features.{view}"


def value_subject(topic: str) -> str:
    """TopicNameStrategy, as featurelog registers row schemas."""
    return f"{topic}-value"


# ------------------------------------------------------------------------------------------ entity keys

_ESCAPED = re.compile(r"[%|=\x00-\x1f\x7f]")


def encode_entity_key(join_keys: Sequence[JoinKey], values: Mapping[str, Any]) -> str:
    """The entity-key text of libs/domain encodeEntityKey: ``name=value`` pairs sorted by join-key name,
    joined by ``|``. int32/int64 in decimal, bool ``true``/``false``, bytes as lowercase hex, string as
    itself with ``%``, ``|``, ``=`` and control characters escaped as ``%XX`` (upper hex).
    Raises ProducerError MISSING_JOIN_KEY or INVALID_JOIN_KEY_VALUE naming the key."""
    parts = []
    for key in sorted(join_keys, key=lambda k: k.name):
        value = values.get(key.name)
        if _is_missing(value):
            raise ProducerError("MISSING_JOIN_KEY", f'join key "{key.name}" has no value')
        parts.append(f"{key.name}={_encode_key_value(key, _plain(value))}")
    return "|".join(parts)


def _encode_key_value(key: JoinKey, value: Any) -> str:
    def invalid(expected: str) -> ProducerError:
        return ProducerError(
            "INVALID_JOIN_KEY_VALUE",
            f'join key "{key.name}" ({key.type}) must be {expected}, got {type(value).__name__} {value!r:.40}',
        )

    if key.type in ("int32", "int64"):
        # bool is an int in Python; the Node producer refuses true as an integer key, so do we.
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid("an integer")
        low, high = (INT32_MIN, INT32_MAX) if key.type == "int32" else (INT64_MIN, INT64_MAX)
        if not low <= value <= high:
            raise invalid(f"an integer in {key.type} range")
        return str(value)
    if key.type == "bool":
        if not isinstance(value, bool):
            raise invalid("a boolean")
        return "true" if value else "false"
    if key.type == "string":
        if not isinstance(value, str):
            raise invalid("a string")
        return _ESCAPED.sub(lambda m: f"%{ord(m.group(0)):02X}", value)
    if key.type == "bytes":
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise invalid("bytes")
        return bytes(value).hex()
    raise invalid(f"of a join key type ({', '.join(JOIN_KEY_TYPES)}), and {key.type} is not one")


# ------------------------------------------------------------------------------------------ row values


def _is_missing(value: Any) -> bool:
    # pandas gives NaN / NaT / pd.NA for a missing cell; NaN of a float column is null as in featurelog's readers.
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return type(value).__name__ in ("NAType", "NaTType")


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as Python values (fastavro and the key encoding want those)."""
    module = type(value).__module__
    if module == "numpy" and hasattr(value, "tolist"):
        return value.tolist()
    return value


_TIMESTAMP_TEXT = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|z|UTC|[+-]\d{2}(?::?\d{2})?)?$"
)


def _timestamp_micros(value: Any) -> Any:
    """Epoch microseconds of a timestamp input, or the value unchanged for the serializer to refuse.
    Text is read as libs/domain parseTimestampText reads it (naive = UTC; digits past microseconds dropped)."""
    if isinstance(value, datetime):
        # A pandas Timestamp is a datetime; its nanoseconds are below featurelog's microsecond resolution.
        aware = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        return (aware - EPOCH) // MICROSECOND
    if isinstance(value, str):
        match = _TIMESTAMP_TEXT.match(value.strip())
        if match is None:
            return value
        y, mo, d, h, mi, s, fraction, zone = match.groups()
        try:
            day = datetime(int(y), int(mo), int(d), tzinfo=timezone.utc)
        except ValueError:
            return value
        if int(h or 0) > 23 or int(mi or 0) > 59 or int(s or 0) > 59:
            return value
        offset = 0
        if zone is not None and zone[0] in "+-":
            digits = zone[1:].replace(":", "")
            zone_hours, zone_minutes = int(digits[:2]), int(digits[2:]) if len(digits) > 2 else 0
            if zone_hours > 23 or zone_minutes > 59:
                return value
            offset = (-1 if zone[0] == "-" else 1) * (zone_hours * 60 + zone_minutes)
        seconds = (day - EPOCH) // timedelta(seconds=1) + int(h or 0) * 3600 + int(mi or 0) * 60 + int(s or 0)
        return (seconds - offset * 60) * 1_000_000 + (int((fraction or "").ljust(6, "0")[:6]) if fraction else 0)
    return value


@dataclass
class ViewTarget:
    """What producing to one view needs, resolved once: topic, subject, join keys and the row schema's fields."""

    view: str
    topic: str
    subject: str
    join_keys: list[JoinKey]
    #: Avro field name → what its values are converted as: "timestamp", "integer" or "" (left as given).
    fields: dict[str, str]
    schema_id: int

    #: Avro field name → its type as parsed by fastavro, to name the field a serializer failure is about.
    field_types: dict[str, Any] = field(default_factory=dict)

    def value_problems(self, row: Mapping[str, Any], error: Exception) -> list[tuple[str, str, str]]:
        """The fields of a checked row that do not fit the row schema (the serializer refused the row)."""
        found = [
            (name, "INVALID_VALUE", f"{name} {row.get(name)!r:.60} is not a {_type_text(avro_type)}")
            for name, avro_type in self.field_types.items()
            if not fastavro.validation.validate(row.get(name), avro_type, raise_errors=False)
        ]
        return found or [("", "INVALID_VALUE", f"does not fit the row schema: {error}")]

    def check(self, row: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
        """The row as the serializer takes it, and its problems as (field, code, message)."""
        problems: list[tuple[str, str, str]] = []
        out: dict[str, Any] = {}
        for name, raw in row.items():
            if name not in self.fields:
                problems.append((name, "UNKNOWN_FIELD", f"{name} is no join key, timestamp or feature of {self.view}"))
                continue
            value = None if _is_missing(raw) else _plain(raw)
            kind = self.fields[name]
            if value is not None and kind == "integer":
                # A pandas int column with a missing cell becomes float64: 12.0 is still the integer 12.
                value = [_integer(v) for v in value] if isinstance(value, list) else _integer(value)
            if value is not None and kind == "timestamp":
                value = [_timestamp_micros(v) for v in value] if isinstance(value, list) else _timestamp_micros(value)
                if isinstance(value, str):
                    problems.append(
                        (
                            name,
                            "INVALID_TIMESTAMP",
                            f"{name} {value!r} is neither an ISO 8601 timestamp (naive means UTC) nor epoch microseconds",
                        )
                    )
            out[name] = value
        for key in self.join_keys:
            if out.get(key.name) is None:
                problems.append((key.name, "MISSING_JOIN_KEY", f'join key "{key.name}" has no value'))
                continue
            try:
                _encode_key_value(key, out[key.name])
            except ProducerError as error:
                problems.append((key.name, error.code, error.message))
        if out.get("event_timestamp") is None:
            problems.append(("event_timestamp", "MISSING_EVENT_TIMESTAMP", "event_timestamp has no value"))
        for name in self.fields:
            out.setdefault(name, None)
        return out, problems


class FeatureProducer:
    """Produces rows of featurelog views to their topics with confluent-kafka (see the module doc)."""

    def __init__(
        self,
        *,
        project: str,
        bootstrap_servers: str,
        schema_registry_url: str,
        registry_url: str | None = None,
        api_key: str | None = None,
        kafka_config: Mapping[str, Any] | None = None,
        schema_registry_config: Mapping[str, Any] | None = None,
        timeout_seconds: float = 30.0,
    ) -> None:
        self.project = project
        self._registry_url = registry_url.rstrip("/") if registry_url else None
        self._api_key = api_key
        self._timeout = timeout_seconds
        self._schemas = SchemaRegistryClient({"url": schema_registry_url, **(schema_registry_config or {})})
        # The subject already holds the view's row schema (featurelog apply registered it): use it as is.
        self._serializer = AvroSerializer(
            self._schemas, None, conf={"auto.register.schemas": False, "use.latest.version": True}
        )
        self._kafka_config = {
            "bootstrap.servers": bootstrap_servers,
            "enable.idempotence": True,
            "acks": "all",
            # featurelog partitions by murmur2 on the entity key (Kafka's Java client); librdkafka's default is crc32.
            "partitioner": "murmur2_random",
            **(kafka_config or {}),
        }
        self._producer: Producer | None = None
        self._targets: dict[str, ViewTarget] = {}

    # -------------------------------------------------------------- resolving a view

    def target(self, view: str) -> ViewTarget:
        """Resolves a view (cached). Raises ProducerError UNKNOWN_FEATURE_VIEW, VIEW_NOT_PRODUCIBLE,
        VIEW_NOT_PROVISIONED (no schema under its subject: not applied?) or VIEW_SCHEMA_STALE."""
        cached = self._targets.get(view)
        if cached is not None:
            return cached
        version, join_keys, features = 1, None, None
        if self._registry_url is not None:
            definition = self._definition("feature-views", view, "UNKNOWN_FEATURE_VIEW")
            if definition.get("source"):
                raise ProducerError(
                    "VIEW_NOT_PRODUCIBLE",
                    f'feature view "{view}" reads the existing topic of data source "{definition["source"]}"; '
                    "produce to that topic with its own schema instead",
                )
            version = int(definition.get("version", 1))
            features = [f["name"] for f in definition["features"]]
            join_keys = []
            for entity_name in definition["entities"]:
                for key in self._definition("entities", entity_name, "UNKNOWN_ENTITY")["joinKeys"]:
                    if all(known.name != key["name"] for known in join_keys):
                        join_keys.append(JoinKey(key["name"], key["type"]))
        topic = features_topic(self.project, view, version)
        subject = value_subject(topic)
        try:
            registered = self._schemas.get_latest_version(subject)
        except SchemaRegistryError as error:
            if error.http_status_code == 404:
                raise ProducerError(
                    "VIEW_NOT_PROVISIONED",
                    f'no row schema is registered under {subject}, so feature view "{view}" cannot be produced to; '
                    "run featurelog apply",
                ) from error
            raise ProducerError("SCHEMA_REGISTRY_UNAVAILABLE", f"{subject}: {error}", retriable=True) from error
        schema = json.loads(registered.schema.schema_str)
        avro_fields = schema.get("fields", [])
        fields = {f["name"]: _value_kind(f["type"]) for f in avro_fields}
        if join_keys is None:
            # The row schema starts with the join keys, then event_timestamp (libs/avro rowSchemaFor).
            join_keys = []
            for f in avro_fields:
                if f["name"] == "event_timestamp":
                    break
                join_keys.append(JoinKey(f["name"], JOIN_KEY_TYPE_OF_AVRO.get(f["type"], str(f["type"]))))
        expected = [k.name for k in join_keys] + ["event_timestamp"] + (features or [])
        missing = [name for name in expected if name not in fields]
        if missing:
            raise ProducerError(
                "VIEW_SCHEMA_STALE",
                f"the latest schema under {subject} (id {registered.schema_id}) has no field {', '.join(missing)} "
                f'of feature view "{view}"; run featurelog apply',
            )
        field_types = {f["name"]: fastavro.parse_schema(f["type"]) for f in avro_fields}
        resolved = ViewTarget(view, topic, subject, join_keys, fields, registered.schema_id, field_types)
        self._targets[view] = resolved
        return resolved

    def _definition(self, kinds: str, name: str, unknown_code: str) -> dict[str, Any]:
        url = f"{self._registry_url}/{kinds}/{urllib.parse.quote(name, safe='')}"
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        if self._api_key:
            request.add_header("Authorization", f"Bearer {self._api_key}")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                body = json.load(response)
        except urllib.error.HTTPError as error:
            detail = _error_body(error)
            if error.code == 404:
                raise ProducerError(unknown_code, detail.get("message", f"{kinds} {name!r} is not defined")) from error
            raise ProducerError(
                detail.get("code", f"HTTP_{error.code}"),
                f"{url}: {detail.get('message', error.reason)}",
                retriable=bool(detail.get("retriable", error.code >= 500)),
            ) from error
        except (urllib.error.URLError, OSError) as error:
            raise ProducerError("REGISTRY_UNAVAILABLE", f"{url}: {error}", retriable=True) from error
        definition = body.get("definition")
        if body.get("deleted") or definition is None:
            raise ProducerError(unknown_code, f"{kinds} {name!r} is deleted")
        return definition

    # -------------------------------------------------------------- producing

    def records(self, view: str, rows: Iterable[Mapping[str, Any]] | Any) -> list[tuple[bytes, bytes]]:
        """The (key, value) bytes of each row, as produce() sends them; nothing is produced.
        Raises InvalidRowsError naming every bad row and field."""
        target = self.target(view)
        context = SerializationContext(target.topic, MessageField.VALUE)
        out: list[tuple[bytes, bytes]] = []
        problems: list[RowProblem] = []
        count = 0
        for index, row in enumerate(_rows(rows)):
            count += 1
            checked, row_problems = target.check(row)
            if row_problems:
                problems.extend(RowProblem(index, f, code, message) for f, code, message in row_problems)
                continue
            key = encode_entity_key(target.join_keys, checked).encode("utf-8")
            try:
                value = self._serializer(checked, context)
            except (ValueError, TypeError, AttributeError, OverflowError) as error:
                problems.extend(RowProblem(index, *problem) for problem in target.value_problems(checked, error))
                continue
            except SchemaRegistryError as error:
                raise ProducerError("SCHEMA_REGISTRY_UNAVAILABLE", str(error), retriable=True) from error
            out.append((key, value))
        if problems:
            raise InvalidRowsError(view, problems, count)
        return out

    def produce(self, view: str, rows: Iterable[Mapping[str, Any]] | Any) -> ProduceResult:
        """Checks and serializes every row, then produces them in order and waits until Kafka acknowledges
        them all (acks=all, idempotent). Raises InvalidRowsError (nothing produced) or ProducerError
        PRODUCE_FAILED naming the first failed delivery."""
        target = self.target(view)
        records = self.records(view, rows)
        producer = self._kafka()
        partitions: list[int] = [-1] * len(records)
        failures: list[str] = []

        def delivered(index: int):
            def report(error: Any, message: Any) -> None:
                if error is not None:
                    failures.append(str(error))
                else:
                    partitions[index] = message.partition()

            return report

        for index, (key, value) in enumerate(records):
            while True:
                try:
                    producer.produce(target.topic, key=key, value=value, on_delivery=delivered(index))
                    break
                except BufferError:
                    # The local queue is full: let deliveries drain, then retry this record.
                    producer.poll(0.1)
        remaining = producer.flush(self._timeout)
        if remaining > 0:
            failures.append(f"{remaining} record(s) not acknowledged within {self._timeout}s")
        if failures:
            raise ProducerError("PRODUCE_FAILED", f"{target.topic}: {failures[0]}", retriable=True)
        return ProduceResult(view, target.topic, len(records), partitions)

    def flush(self, timeout: float | None = None) -> None:
        if self._producer is not None:
            self._producer.flush(self._timeout if timeout is None else timeout)

    def close(self) -> None:
        self.flush()
        self._producer = None

    def __enter__(self) -> FeatureProducer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _kafka(self) -> Producer:
        if self._producer is None:
            try:
                self._producer = Producer(self._kafka_config)
            except KafkaException as error:
                raise ProducerError("INVALID_KAFKA_CONFIG", str(error)) from error
        return self._producer


def _value_kind(avro_type: Any) -> str:
    """How values of a field (or of its array's items) are converted before serializing."""
    if isinstance(avro_type, list):
        kinds = [_value_kind(t) for t in avro_type if t != "null"]
        return kinds[0] if len(kinds) == 1 else ""
    if isinstance(avro_type, dict):
        if avro_type.get("type") == "array":
            return _value_kind(avro_type["items"])
        if avro_type.get("logicalType") == "timestamp-micros":
            return "timestamp"
        return _value_kind(avro_type.get("type"))
    return "integer" if avro_type in ("int", "long") else ""


def _type_text(avro_type: Any) -> str:
    if isinstance(avro_type, list):
        return " or ".join(_type_text(t) for t in avro_type)
    if isinstance(avro_type, dict):
        if avro_type.get("type") == "array":
            return f"array of {_type_text(avro_type['items'])}"
        return str(avro_type.get("logicalType") or avro_type.get("type"))
    return str(avro_type)


def _integer(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _rows(rows: Any) -> Iterable[Mapping[str, Any]]:
    # A pandas DataFrame, without importing pandas: its rows as dicts.
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):
        return rows.to_dict(orient="records")
    if isinstance(rows, Mapping):
        raise TypeError("rows must be a sequence of mappings or a DataFrame, not one mapping")
    return rows


def _error_body(error: urllib.error.HTTPError) -> dict[str, Any]:
    try:
        body = json.loads(error.read() or b"{}")
        return body if isinstance(body, dict) else {}
    except ValueError:
        return {}

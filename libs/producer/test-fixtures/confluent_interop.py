"""A Python backend app that talks to a featurelog view with Confluent's own Avro serde.

Used by confluent-interop.int.spec.ts to prove that records written by Confluent's AvroSerializer
(not by featurelog) decode on featurelog's side, and that featurelog's records decode with
Confluent's AvroDeserializer. Rows travel as JSON lines: timestamps as epoch microseconds (turned
into timezone-aware datetimes, as an app would hand them over), bytes as base64.

  confluent_interop.py produce --brokers B --registry URL --topic T --timestamp-fields a,b  < rows.jsonl
  confluent_interop.py consume --brokers B --registry URL --topic T --count N --timestamp-fields a,b > rows.jsonl
"""

import argparse
import base64
import json
import sys
import warnings
from datetime import datetime, timedelta, timezone

warnings.filterwarnings("ignore")

from confluent_kafka import DeserializingConsumer, SerializingProducer  # noqa: E402
from confluent_kafka.schema_registry import SchemaRegistryClient  # noqa: E402
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer  # noqa: E402
from confluent_kafka.serialization import StringDeserializer, StringSerializer  # noqa: E402

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MICRO = timedelta(microseconds=1)


def to_python(row, timestamp_fields, bytes_fields):
    out = {}
    for name, value in row.items():
        if value is not None and name in timestamp_fields:
            value = EPOCH + timedelta(microseconds=value)
        elif value is not None and name in bytes_fields:
            value = base64.b64decode(value)
        out[name] = value
    return out


def to_json(row):
    out = {}
    for name, value in row.items():
        if isinstance(value, datetime):
            value = (value - EPOCH) // MICRO
        elif isinstance(value, (bytes, bytearray)):
            value = base64.b64encode(value).decode("ascii")
        out[name] = value
    return out


def produce(args, registry):
    # The view's subject already holds its row schema (featurelog apply registered it): use it as is.
    serializer = AvroSerializer(
        registry,
        None,
        conf={"auto.register.schemas": False, "use.latest.version": True},
    )
    producer = SerializingProducer(
        {
            "bootstrap.servers": args.brokers,
            "enable.idempotence": True,
            "acks": "all",
            # Kafka's Java client partitions by murmur2, like featurelog; librdkafka's default is crc32.
            "partitioner": "murmur2_random",
            "key.serializer": StringSerializer("utf_8"),
            "value.serializer": serializer,
        }
    )
    failures = []

    def delivered(error, _message):
        if error is not None:
            failures.append(str(error))

    count = 0
    for line in sys.stdin:
        if not line.strip():
            continue
        message = json.loads(line)
        value = to_python(message["value"], args.timestamp_fields, args.bytes_fields)
        producer.produce(topic=args.topic, key=message["key"], value=value, on_delivery=delivered)
        count += 1
    producer.flush(30)
    if failures:
        sys.exit("delivery failed: " + "; ".join(failures))
    print(json.dumps({"produced": count}))


def consume(args, registry):
    consumer = DeserializingConsumer(
        {
            "bootstrap.servers": args.brokers,
            "group.id": args.group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "key.deserializer": StringDeserializer("utf_8"),
            "value.deserializer": AvroDeserializer(registry),
        }
    )
    consumer.subscribe([args.topic])
    seen = 0
    idle = 0
    try:
        while seen < args.count and idle < args.max_idle_polls:
            message = consumer.poll(1.0)
            if message is None:
                idle += 1
                continue
            if message.error():
                sys.exit(f"consume failed: {message.error()}")
            idle = 0
            seen += 1
            print(json.dumps({"key": message.key(), "partition": message.partition(), "value": to_json(message.value())}))
    finally:
        consumer.close()
    if seen < args.count:
        sys.exit(f"consumed {seen} of {args.count} record(s) before going idle")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["produce", "consume"])
    parser.add_argument("--brokers", required=True)
    parser.add_argument("--registry", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--timestamp-fields", type=lambda s: set(filter(None, s.split(","))), default=set())
    parser.add_argument("--bytes-fields", type=lambda s: set(filter(None, s.split(","))), default=set())
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--group", default="confluent-interop")
    parser.add_argument("--max-idle-polls", type=int, default=30)
    args = parser.parse_args()
    registry = SchemaRegistryClient({"url": args.registry})
    if args.mode == "produce":
        produce(args, registry)
    else:
        consume(args, registry)


if __name__ == "__main__":
    main()

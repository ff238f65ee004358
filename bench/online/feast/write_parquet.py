"""Writes one Parquet file per feature view for the Feast feature repo of bench/online.

Usage: write_parquet.py <columns.json> <out dir>

columns.json (written by feast-peer.ts from what featurelog serves):
  {"entity": "driver_id", "features": [[name, featurelog type], ...],
   "views": {"v0": {"driver_id": [...], "event_timestamp": [epoch µs, ...], "<feature>": [...], ...}, ...}}

Types are set explicitly (never inferred from the JSON): a float32 column must stay float32 and
a timestamp column a timestamp, or Feast would serve other types than featurelog does.
"""

import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ARROW_TYPES = {
    "int64": pa.int64(),
    "float64": pa.float64(),
    "float32": pa.float32(),
    "bool": pa.bool_(),
    "string": pa.string(),
}
TIMESTAMP = pa.timestamp("us", tz="UTC")


def column(values, featurelog_type):
    if featurelog_type == "timestamp":
        return pa.array(values, pa.int64()).cast(TIMESTAMP)
    arrow_type = ARROW_TYPES.get(featurelog_type)
    if arrow_type is None:
        raise SystemExit(f"write_parquet.py: no Parquet column for featurelog type {featurelog_type!r}")
    return pa.array(values, arrow_type)


def main():
    source, out = Path(sys.argv[1]), Path(sys.argv[2])
    spec = json.loads(source.read_text())
    entity = spec["entity"]
    out.mkdir(parents=True, exist_ok=True)
    for view, columns in spec["views"].items():
        arrays = {
            entity: pa.array(columns[entity], pa.int64()),
            "event_timestamp": column(columns["event_timestamp"], "timestamp"),
        }
        for name, featurelog_type in spec["features"]:
            arrays[name] = column(columns[name], featurelog_type)
        table = pa.table(arrays)
        pq.write_table(table, out / f"{view}.parquet")
        print(f"{view}.parquet: {table.num_rows} rows")


if __name__ == "__main__":
    main()

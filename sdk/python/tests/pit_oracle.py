"""A brute-force oracle of featurelog's point-in-time rules, written from ../shared/ARCHITECTURE.md
("Semantics that must be exact: Point-in-time"), not from the TypeScript code:

    per entity row with keys k and timestamp t, per view with TTL: candidates have join keys = k,
    event_timestamp <= t, and, when TTL > 0, event_timestamp >= t - TTL (both bounds inclusive).
    Pick the greatest (event_timestamp, created_timestamp, log position); a missing created
    timestamp ranks lowest. No candidate: the row stays, features are null. Every entity row is
    kept, duplicates included, with all its extra columns. Naive timestamps are UTC.

Plus random data that makes those rules matter: ties on event time (broken by created time, then by
log position), rows without a created time, rows exactly at t and at t - TTL and one microsecond
beyond, null values, duplicate entity rows, entities without any row.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any, Optional

import pandas as pd

UTC = dt.timezone.utc
MICRO = dt.timedelta(microseconds=1)
#: Types the generator writes values for; other features of the view are not requested.
GENERATED_TYPES = ("bool", "int32", "int64", "float32", "float64", "string")


@dataclass
class HistoryRow:
    key: int
    event: dt.datetime
    created: Optional[dt.datetime]
    position: int  # order in the log: rows of one key are pushed in this order, in one partition
    values: dict[str, Any]
    #: When the log got it (as-served only): the test pushes well away from every entity time, so
    #: the instant it took the push is as good as the log's own append time.
    appended: Optional[dt.datetime] = None


def _value(rng: random.Random, value_type: str) -> Any:
    if rng.random() < 0.2:
        return None
    if value_type == "bool":
        return rng.random() < 0.5
    if value_type in ("int32", "int64"):
        return rng.randrange(-10_000, 10_000)
    if value_type == "float32":
        return rng.randrange(-1000, 1000) / 4  # exact in float32
    if value_type == "float64":
        return round(rng.uniform(-1000, 1000), 6)
    return rng.choice(["a", "b", "é", "long " * 5, ""])


def generate_history(
    rng: random.Random, keys: list[int], features: dict[str, str], base: dt.datetime
) -> list[HistoryRow]:
    """Rows for ``keys`` on a coarse time grid, so event times collide; created times tie too, or
    are missing; a few rows repeat another's event and created time exactly."""
    rows: list[HistoryRow] = []
    for key in keys:
        for _ in range(rng.randint(0, 10)):
            event = base + dt.timedelta(minutes=30 * rng.randint(0, 30))
            if rng.random() < 0.2:
                event += dt.timedelta(microseconds=rng.randint(1, 999_999))
            created = rng.choice([None, event, event + dt.timedelta(minutes=10 * rng.randint(0, 3))])
            rows.append(HistoryRow(key, event, created, 0, {n: _value(rng, t) for n, t in features.items()}))
        same_key = [row for row in rows if row.key == key]
        if same_key and rng.random() < 0.5:
            twin = rng.choice(same_key)  # same event and created time: only the log position decides
            rows.append(HistoryRow(key, twin.event, twin.created, 0, {n: _value(rng, t) for n, t in features.items()}))
    rng.shuffle(rows)  # log order independent of time
    for position, row in enumerate(rows):
        row.position = position
    return rows


def generate_entity_rows(
    rng: random.Random, history: list[HistoryRow], keys: list[int], absent: list[int], ttl: dt.timedelta,
    base: dt.datetime,
) -> list[tuple[int, dt.datetime]]:
    """(key, t) pairs probing the edges: t at a row's event time, one microsecond before it, at
    event + TTL (still inside) and one microsecond past it, random times, keys without rows, and
    duplicates of earlier pairs."""
    pairs: list[tuple[int, dt.datetime]] = []
    for row in history:
        probes = [row.event, row.event - MICRO]
        if ttl > dt.timedelta(0):
            probes += [row.event + ttl, row.event + ttl + MICRO]
        pairs.extend((row.key, t) for t in probes if rng.random() < 0.6)
    for _ in range(60):
        pairs.append((rng.choice(keys + absent), base + dt.timedelta(seconds=rng.randint(-3600, 20 * 3600))))
    pairs.extend(rng.sample(pairs, k=min(25, len(pairs))))  # duplicate entity rows
    rng.shuffle(pairs)
    return pairs


def point_in_time(
    history: list[HistoryRow],
    key: int,
    t: dt.datetime,
    ttl: dt.timedelta,
    features: list[str],
    as_served: bool = False,
) -> dict[str, Any]:
    """The feature values of entity row (key, t), by the rules above, by brute force. ``as_served``:
    also leave out rows not yet known at t ("created, or appended to the log, after t")."""
    candidates = [
        row
        for row in history
        if row.key == key
        and row.event <= t
        and (ttl <= dt.timedelta(0) or row.event >= t - ttl)
        and (not as_served or ((row.created is None or row.created <= t) and row.appended is not None and row.appended <= t))
    ]
    if not candidates:
        return {name: None for name in features}
    lowest = dt.datetime.min.replace(tzinfo=UTC)
    winner = max(candidates, key=lambda row: (row.event, row.created or lowest, row.position))
    return {name: winner.values[name] for name in features}


def expected_rows(
    entity_df: pd.DataFrame,
    history: list[HistoryRow],
    ttl: dt.timedelta,
    features: list[str],
    key_column: str,
    as_served: bool = False,
) -> list[dict[str, Any]]:
    """The oracle's feature values for each row of ``entity_df`` (naive event_timestamp = UTC), in its
    order; None for null."""
    out = []
    for key, t in zip(entity_df[key_column], entity_df["event_timestamp"]):
        stamp = pd.Timestamp(t)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        out.append(point_in_time(history, int(key), stamp.to_pydatetime(), ttl, features, as_served))
    return out

"""The oracle's own rules on hand-made rows (so a live mismatch points at the server, not at it)."""

from __future__ import annotations

import datetime as dt

from pit_oracle import HistoryRow, point_in_time

UTC = dt.timezone.utc
T0 = dt.datetime(2024, 5, 1, 12, tzinfo=UTC)
HOUR = dt.timedelta(hours=1)
MICRO = dt.timedelta(microseconds=1)


def row(event: dt.datetime, created: dt.datetime | None, position: int, value: object) -> HistoryRow:
    return HistoryRow(1, event, created, position, {"x": value})


HISTORY = [
    row(T0, T0 + HOUR, 0, "later created"),
    row(T0, T0, 5, "earlier created, later position"),
    row(T0, None, 9, "no created: lowest"),
    row(T0 + HOUR, T0, 1, "a"),
    row(T0 + HOUR, T0, 2, "same event and created: later position wins"),
    row(T0 + 2 * HOUR, None, 3, None),
]


def pit(t: dt.datetime, ttl: dt.timedelta = 2 * HOUR) -> object:
    return point_in_time(HISTORY, 1, t, ttl, ["x"])["x"]


def test_the_greatest_event_then_created_then_position_wins() -> None:
    assert pit(T0) == "later created"
    assert pit(T0 + HOUR) == "same event and created: later position wins"


def test_both_bounds_are_inclusive_and_a_null_winner_is_null() -> None:
    assert pit(T0 - MICRO) is None  # nothing at or before t
    assert pit(T0 + 2 * HOUR) is None  # the winner's value is null
    assert pit(T0 + 2 * HOUR - MICRO) == "same event and created: later position wins"
    assert point_in_time(HISTORY[:3], 1, T0 + 2 * HOUR, 2 * HOUR, ["x"])["x"] == "later created"  # t - TTL == event
    assert point_in_time(HISTORY[:3], 1, T0 + 2 * HOUR + MICRO, 2 * HOUR, ["x"])["x"] is None  # one µs past the TTL
    assert point_in_time(HISTORY[:3], 1, T0 + 1000 * HOUR, dt.timedelta(0), ["x"])["x"] == "later created"  # TTL 0
    assert point_in_time(HISTORY, 2, T0, HOUR, ["x"]) == {"x": None}  # another key


def test_as_served_leaves_out_rows_created_or_appended_after_t() -> None:
    rows = [
        HistoryRow(1, T0, T0 + 3 * HOUR, 0, {"x": "created later"}, appended=T0),
        HistoryRow(1, T0 - HOUR, None, 1, {"x": "known"}, appended=T0),
        HistoryRow(1, T0 - HOUR, T0 - HOUR, 2, {"x": "appended later"}, appended=T0 + 5 * HOUR),
    ]
    at = T0 + HOUR
    assert point_in_time(rows, 1, at, 2 * HOUR, ["x"])["x"] == "created later"
    assert point_in_time(rows, 1, at, 2 * HOUR, ["x"], as_served=True)["x"] == "known"
    assert point_in_time(rows, 1, T0 - MICRO, 2 * HOUR, ["x"], as_served=True)["x"] is None  # nothing appended yet
    assert point_in_time(rows, 1, T0 + 5 * HOUR, 5 * HOUR, ["x"], as_served=True)["x"] == "created later"

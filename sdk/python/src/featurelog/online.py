"""The answer of ``FeatureStore.get_online_features``."""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping, Optional, Sequence

import pandas as pd
import pyarrow as pa

from .types import arrow_type, decode_json_value, featurelog_type, parse_timestamp

__all__ = ["OnlineResponse", "STATUSES"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def _from_arrow_value(value: Any, value_type: Optional[str]) -> Any:
    if value is None or value_type is None:
        return value
    if value_type.startswith("list<"):
        return [_from_arrow_value(v, value_type[5:-1]) for v in value]
    if value_type == "float32":
        # JSON writes a float32 as its shortest decimal (4.9, not 4.900000095367432): the same here.
        import numpy as np

        return float(str(np.float32(value)))
    if value_type == "timestamp":
        return value.astimezone(dt.timezone.utc)
    return value


#: Feast's field statuses, as the serving app writes them.
STATUSES = ("PRESENT", "NULL_VALUE", "OUTSIDE_MAX_AGE", "NOT_FOUND")


class OnlineResponse:
    """Online feature values by column (join keys first, then features), with each value's status
    and event time. Values are typed: numbers, ``bool``, ``str``, ``bytes``, timestamps as aware
    UTC ``datetime``, lists as lists; null as None."""

    def __init__(
        self, body: Mapping[str, Any], types: Mapping[str, str], join_keys: Sequence[str] = ()
    ) -> None:
        """``body`` is the serving app's JSON answer; ``types`` the featurelog type of each column
        name (columns it does not name keep their JSON values); ``join_keys`` the key columns."""
        names: list[str] = list(body.get("metadata", {}).get("feature_names", []))
        results: list[Mapping[str, Any]] = list(body.get("results", []))
        if len(names) != len(results):
            raise ValueError(f"the answer names {len(names)} columns but has {len(results)}")
        self.feature_names: list[str] = names
        self.join_keys: list[str] = [name for name in names if name in set(join_keys)]
        self.types: dict[str, str] = {name: types[name] for name in names if name in types}
        self._values: dict[str, list[Any]] = {}
        self._statuses: dict[str, list[str]] = {}
        self._timestamps: dict[str, list[Optional[dt.datetime]]] = {}
        for name, column in zip(names, results):
            value_type = self.types.get(name)
            self._values[name] = [decode_json_value(v, value_type) for v in column.get("values", [])]
            self._statuses[name] = list(column.get("statuses", []))
            self._timestamps[name] = [
                parse_timestamp(t) if isinstance(t, str) else None for t in column.get("event_timestamps", [])
            ]

    @classmethod
    def from_arrow(cls, table: pa.Table) -> "OnlineResponse":
        """The serving app's Arrow answer (``Accept: application/vnd.apache.arrow.stream``): join-key
        columns, then per feature ``<name>``, ``<name>__status`` and ``<name>__event_timestamp``. Read
        into the same shape as the JSON answer: float32 values as the shortest decimal that reads back
        as the same float32 (JSON's units), the epoch as the event time of NOT_FOUND and join keys."""
        names = table.column_names
        features = [name for name in names if f"{name}__status" in names and f"{name}__event_timestamp" in names]
        derived = {suffixed for name in features for suffixed in (f"{name}__status", f"{name}__event_timestamp")}
        keys = [name for name in names if name not in derived and name not in features]
        response = cls.__new__(cls)
        response.feature_names = keys + features
        response.join_keys = keys
        response.types = {}
        response._values, response._statuses, response._timestamps = {}, {}, {}
        rows = table.num_rows
        for name in response.feature_names:
            arrow = table.schema.field(name).type
            value_type = featurelog_type(arrow)
            if value_type is not None:
                response.types[name] = value_type
            response._values[name] = [_from_arrow_value(v, value_type) for v in table.column(name).to_pylist()]
            if name in keys:
                response._statuses[name] = ["PRESENT"] * rows
                response._timestamps[name] = [_EPOCH] * rows
            else:
                response._statuses[name] = [str(v) for v in table.column(f"{name}__status").to_pylist()]
                response._timestamps[name] = [
                    _EPOCH if t is None else t.astimezone(dt.timezone.utc)
                    for t in table.column(f"{name}__event_timestamp").to_pylist()
                ]
        return response

    def __len__(self) -> int:
        return len(next(iter(self._values.values()), []))

    def __repr__(self) -> str:
        return f"OnlineResponse({len(self)} rows, columns={self.feature_names})"

    @property
    def statuses(self) -> dict[str, list[str]]:
        """Column name → one status per entity row (``PRESENT``, ``NULL_VALUE``, ``OUTSIDE_MAX_AGE``,
        ``NOT_FOUND``; join keys are ``PRESENT``)."""
        return {name: list(values) for name, values in self._statuses.items()}

    @property
    def event_timestamps(self) -> dict[str, list[Optional[dt.datetime]]]:
        """Column name → the event time of the row each value came from (the epoch for NOT_FOUND and
        join keys, as the server writes it)."""
        return {name: list(values) for name, values in self._timestamps.items()}

    def to_dict(self, include_statuses: bool = False, include_event_timestamps: bool = False) -> dict[str, list[Any]]:
        """Feast's shape: column name → list of values, one per entity row. With
        ``include_statuses`` also ``<name>__status``, with ``include_event_timestamps`` also
        ``<name>__event_timestamp``, for every feature column."""
        out: dict[str, list[Any]] = {}
        for name in self.feature_names:
            out[name] = list(self._values[name])
        for name in self._feature_columns():
            if include_statuses:
                out[f"{name}__status"] = list(self._statuses[name])
            if include_event_timestamps:
                out[f"{name}__event_timestamp"] = list(self._timestamps[name])
        return out

    def to_arrow(self, include_statuses: bool = False, include_event_timestamps: bool = False) -> pa.Table:
        """The values as an Arrow table typed as the views define them (as the Parquet export)."""
        columns: dict[str, pa.Array] = {}
        for name, values in self.to_dict(include_statuses, include_event_timestamps).items():
            value_type = self.types.get(name)
            if name.endswith("__status"):
                columns[name] = pa.array(values, pa.string())
            elif name.endswith("__event_timestamp"):
                columns[name] = pa.array(values, pa.timestamp("us", tz="UTC"))
            else:
                columns[name] = pa.array(values, arrow_type(value_type) if value_type else None)
        return pa.table(columns)

    def to_df(self, include_statuses: bool = False, include_event_timestamps: bool = False) -> pd.DataFrame:
        """The values as a pandas DataFrame, one row per entity row (converted from ``to_arrow``, so
        types match ``get_historical_features(...).to_df()``)."""
        return self.to_arrow(include_statuses, include_event_timestamps).to_pandas()

    def _feature_columns(self) -> list[str]:
        # Join keys come first, always PRESENT with the epoch as their time: no status column for them.
        return [name for name in self.feature_names if name not in self.join_keys]

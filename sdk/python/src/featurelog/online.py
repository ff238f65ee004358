"""The answer of ``FeatureStore.get_online_features``."""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping, Optional, Sequence

import pandas as pd
import pyarrow as pa

from .types import arrow_type, decode_json_value, parse_timestamp

__all__ = ["OnlineResponse", "STATUSES"]

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

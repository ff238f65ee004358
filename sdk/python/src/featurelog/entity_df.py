"""Entity rows for a training set: read, checked and typed before anything is sent."""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence, Union

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import ValidationError
from .registry import JoinKey

__all__ = ["EntityDataFrame", "to_entity_table", "EVENT_TIMESTAMP"]

EVENT_TIMESTAMP = "event_timestamp"

#: What ``get_historical_features`` takes as entity rows.
EntityDataFrame = Union[pd.DataFrame, pa.Table, "os.PathLike[str]", str]

_UTC_MICROS = pa.timestamp("us", tz="UTC")


def read_entity_rows(entity_df: Any) -> pa.Table:
    """A pandas DataFrame, a pyarrow Table / RecordBatch or the path of a Parquet file as an Arrow table."""
    if isinstance(entity_df, pa.Table):
        return entity_df
    if isinstance(entity_df, pa.RecordBatch):
        return pa.Table.from_batches([entity_df])
    if isinstance(entity_df, pd.DataFrame):
        # The index is not an entity column unless named (reset_index() makes it one).
        return pa.Table.from_pandas(entity_df, preserve_index=False)
    if isinstance(entity_df, (str, os.PathLike)):
        path = os.fspath(entity_df)
        if not path.endswith(".parquet"):
            raise ValidationError(
                "INVALID_ENTITY_DF", f"entity_df path {path!r} is not a .parquet file (read other formats with pandas)"
            )
        if not os.path.exists(path):
            raise ValidationError("ENTITY_FILE_NOT_FOUND", f"entity_df file {path!r} does not exist")
        return pq.read_table(path)
    raise ValidationError(
        "INVALID_ENTITY_DF",
        f"entity_df must be a pandas DataFrame, a pyarrow Table or a Parquet path, not {type(entity_df).__name__}",
    )


def _key_type_fits(arrow: pa.DataType, key_type: str) -> bool:
    if key_type in ("int32", "int64"):
        return pa.types.is_integer(arrow)
    if key_type == "string":
        return pa.types.is_string(arrow) or pa.types.is_large_string(arrow)
    if key_type == "bytes":
        return pa.types.is_binary(arrow) or pa.types.is_large_binary(arrow) or pa.types.is_fixed_size_binary(arrow)
    if key_type == "bool":
        return pa.types.is_boolean(arrow)
    return True


_KEY_ARROW_TYPES = {
    "int32": pa.int32(),
    "int64": pa.int64(),
    "string": pa.string(),
    "bytes": pa.binary(),
    "bool": pa.bool_(),
}


def to_entity_table(entity_df: Any, join_keys: Mapping[str, Sequence[JoinKey]]) -> pa.Table:
    """The entity rows as the jobs app takes them: ``event_timestamp`` as timestamp[us, UTC] (naive
    read as UTC), each join key in its type, every other column kept as it is.

    ``join_keys`` maps each requested view to the join keys of its entities. Raises ValidationError
    naming the column for a missing ``event_timestamp`` or join key, a column of the wrong type, or
    nulls in either.
    """
    table = read_entity_rows(entity_df)
    names = table.column_names
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValidationError("INVALID_ENTITY_DF", f"entity_df has duplicate columns: {', '.join(duplicates)}")
    if EVENT_TIMESTAMP not in names:
        raise ValidationError(
            "MISSING_EVENT_TIMESTAMP",
            f'entity_df has no "{EVENT_TIMESTAMP}" column (the time of each row, for the point-in-time join); '
            f"its columns: {', '.join(names)}",
        )
    index = names.index(EVENT_TIMESTAMP)
    column = table.column(index)
    if not pa.types.is_timestamp(column.type):
        raise ValidationError(
            "INVALID_EVENT_TIMESTAMP",
            f'entity_df column "{EVENT_TIMESTAMP}" is {column.type}, not a timestamp '
            "(convert it, e.g. df[\"event_timestamp\"] = pd.to_datetime(df[\"event_timestamp\"], utc=True))",
        )
    if column.null_count > 0:
        raise ValidationError(
            "INVALID_EVENT_TIMESTAMP", f'entity_df column "{EVENT_TIMESTAMP}" has {column.null_count} null value(s)'
        )
    # A naive timestamp is UTC: Arrow keeps naive values as UTC wall time, so the cast only labels it.
    # Finer units are truncated to the microseconds featurelog works in.
    table = table.set_column(index, EVENT_TIMESTAMP, column.cast(_UTC_MICROS, safe=False))

    seen: dict[str, tuple[str, str]] = {}
    for view, keys in join_keys.items():
        for key in keys:
            if key.name in seen:
                continue
            seen[key.name] = (view, key.type)
            if key.name not in table.column_names:
                raise ValidationError(
                    "MISSING_JOIN_KEY",
                    f'entity_df has no join key column "{key.name}" ({key.type}) that feature view "{view}" '
                    f"needs; its columns: {', '.join(table.column_names)}",
                )
            key_index = table.column_names.index(key.name)
            key_column = table.column(key_index)
            if not _key_type_fits(key_column.type, key.type):
                hint = " (a pandas int column with missing values turns float: drop or fill them)" if pa.types.is_floating(
                    key_column.type
                ) else ""
                raise ValidationError(
                    "INVALID_JOIN_KEY",
                    f'entity_df column "{key.name}" is {key_column.type}, but join key "{key.name}" of feature view '
                    f'"{view}" is {key.type}{hint}',
                )
            if key_column.null_count > 0:
                raise ValidationError(
                    "INVALID_JOIN_KEY", f'entity_df column "{key.name}" has {key_column.null_count} null value(s)'
                )
            wanted = _KEY_ARROW_TYPES.get(key.type)
            if wanted is not None and key_column.type != wanted:
                try:
                    key_column = key_column.cast(wanted)  # safe: an out-of-range value raises
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
                    raise ValidationError(
                        "INVALID_JOIN_KEY", f'entity_df column "{key.name}" does not fit {key.type}: {error}'
                    ) from None
                table = table.set_column(key_index, key.name, key_column)
    # Schema metadata written by pandas describes the DataFrame, not the upload.
    return table.replace_schema_metadata(None)

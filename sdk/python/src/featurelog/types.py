"""featurelog value types ↔ Arrow types and JSON values (the units of the HTTP APIs)."""

from __future__ import annotations

import base64
import datetime as dt
import math
from typing import Any, Optional

import pyarrow as pa

__all__ = ["arrow_type", "decode_json_value", "encode_json_value", "parse_timestamp"]

_SCALARS: dict[str, pa.DataType] = {
    "bool": pa.bool_(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "string": pa.string(),
    "bytes": pa.binary(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}

_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_MAX_SAFE_INTEGER = 2**53 - 1


def list_element_type(value_type: str) -> Optional[str]:
    """``"list<int64>"`` → ``"int64"``; a scalar type → None."""
    if value_type.startswith("list<") and value_type.endswith(">"):
        return value_type[5:-1]
    return None


def arrow_type(value_type: str) -> pa.DataType:
    """The Arrow type of a featurelog type, as the Parquet export writes it."""
    element = list_element_type(value_type)
    if element is not None:
        return pa.list_(arrow_type(element))
    try:
        return _SCALARS[value_type]
    except KeyError:
        raise ValueError(f"unknown featurelog type {value_type!r}") from None


def parse_timestamp(text: str) -> dt.datetime:
    """RFC 3339 text (``2024-05-01T12:00:00.000001Z``) → an aware datetime in UTC."""
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def decode_json_value(value: Any, value_type: Optional[str]) -> Any:
    """A value of the online JSON answer in its Python type: timestamps as aware UTC datetimes,
    bytes as bytes (from base64), ``"NaN"``/``"Infinity"`` as floats, lists element by element.
    An unknown type (None) leaves the value as JSON gave it."""
    if value is None or value_type is None:
        return value
    element = list_element_type(value_type)
    if element is not None:
        return [decode_json_value(v, element) for v in value] if isinstance(value, list) else value
    if value_type == "timestamp":
        if isinstance(value, str):
            return parse_timestamp(value)
        if isinstance(value, (int, float)):  # epoch microseconds
            return dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=int(value))
        return value
    if value_type == "bytes":
        return base64.b64decode(value) if isinstance(value, str) else value
    if value_type in ("float32", "float64"):
        if isinstance(value, str):
            return _SPECIAL_FLOATS.get(value, value)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    if value_type in ("int32", "int64"):
        # Join keys echo the request, where an int64 past 2^53 travels as decimal text.
        if isinstance(value, str) and value.lstrip("-").isdigit():
            return int(value)
        return value
    return value


def format_timestamp(value: dt.datetime) -> str:
    """An aware or naive (read as UTC) datetime as RFC 3339 UTC text with microseconds."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    value = value.astimezone(dt.timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def encode_json_value(value: Any) -> Any:
    """A Python, numpy or pandas value as the JSON the apps take: datetimes as RFC 3339 UTC text
    (naive read as UTC), bytes as base64, NaN/NaT/None as null, numpy scalars as Python ones, int
    past 2^53 as decimal text (JSON numbers lose its digits)."""
    # Imported here: numpy and pandas come with pandas, but the scalar checks are the only use.
    import numpy as np
    import pandas as pd

    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [encode_json_value(v) for v in value]
    if isinstance(value, np.ndarray):
        return [encode_json_value(v) for v in value.tolist()]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, bool) or isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        number = int(value)
        return str(number) if abs(number) > _MAX_SAFE_INTEGER else number
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return None if math.isnan(number) else number
    if value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        if value.tzinfo is None:
            value = value.tz_localize("UTC")
        value = value.tz_convert("UTC")
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, np.datetime64):
        return encode_json_value(pd.Timestamp(value))
    if isinstance(value, dt.datetime):
        return format_timestamp(value)
    if isinstance(value, dt.date):
        return format_timestamp(dt.datetime(value.year, value.month, value.day))
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value

"""``FeatureStore``: the one entry point of the SDK."""

from __future__ import annotations

import contextlib
import io
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping, Optional, Sequence, Union

import httpx
import pandas as pd
import pyarrow as pa

from .entity_df import to_entity_table
from .errors import (
    AuthenticationError,
    FeaturelogError,
    NotFoundError,
    PermissionDeniedError,
    UnknownNameError,
    ValidationError,
    error_from_response,
    transport_error,
)
from .online import OnlineResponse
from .stream import ArrowStream, announced_rows, release_unused_memory
from .registry import Entity, FeatureService, FeatureView, JoinKey, parse_feature_ref
from .training import ARROW_STREAM, TrainingSetJob
from .types import encode_json_value

__all__ = ["FeatureStore", "derive_app_urls", "PUSH_DESTINATIONS"]

#: Where ``push`` may send rows (the serving app's ``to``).
PUSH_DESTINATIONS = ("online", "offline", "online_and_offline")

#: The apps' default ports; ``featurelog dev --port-offset N`` shifts all of them by N, so the
#: registry is always serving − 4 and the jobs app serving − 1.
DEFAULT_PORTS = {"registry": 6570, "jobs": 6573, "serving": 6574}
REGISTRY_OFFSET = DEFAULT_PORTS["registry"] - DEFAULT_PORTS["serving"]
JOBS_OFFSET = DEFAULT_PORTS["jobs"] - DEFAULT_PORTS["serving"]

FeatureRefs = Sequence[str]
ServiceRef = Union[str, FeatureService]


def derive_app_urls(serving_url: str) -> tuple[str, str]:
    """The registry and jobs URLs of a deployment from its serving URL: same scheme and host, ports
    serving − 4 and serving − 1 (the apps' defaults 6570/6573/6574, which ``featurelog dev`` and
    ``--port-offset`` keep). A deployment behind other ports passes ``registry_url``/``jobs_url``."""
    url = httpx.URL(serving_url)
    if not url.scheme or not url.host:
        raise ValidationError("INVALID_URL", f"serving url {serving_url!r} is not an absolute http(s) URL")
    port = url.port or (443 if url.scheme == "https" else 80)
    host = f"[{url.host}]" if ":" in url.host else url.host
    return (
        f"{url.scheme}://{host}:{port + REGISTRY_OFFSET}",
        f"{url.scheme}://{host}:{port + JOBS_OFFSET}",
    )


@dataclass(frozen=True)
class _Resolved:
    """Feature references expanded against the registry: (view, feature) pairs in request order."""

    refs: list[tuple[str, str]]
    views: dict[str, FeatureView]
    join_keys: dict[str, list[JoinKey]]

    def column_names(self, full_feature_names: bool) -> list[str]:
        return [f"{view}__{feature}" if full_feature_names else feature for view, feature in self.refs]


@dataclass
class _Definitions:
    version: int
    entities: dict[str, Entity]
    views: dict[str, FeatureView]
    services: dict[str, FeatureService]
    read_at: float


class FeatureStore:
    """A featurelog deployment, through its HTTP APIs (serving, registry, jobs).

    >>> store = FeatureStore(url="http://127.0.0.1:6574", api_key=os.environ["FEATURELOG_API_KEY"])
    >>> job = store.get_historical_features(entity_df, features=["driver_hourly_stats:conv_rate"])
    >>> training_df = job.to_df()

    Args:
        url: the serving app's base URL.
        api_key: sent as ``Authorization: Bearer <key>``; needs scope ``read`` (registry, online),
            ``push`` for ``push`` and ``jobs`` for training sets.
        registry_url, jobs_url: default to the serving URL's scheme and host at ports serving − 4 and
            serving − 1 (see ``derive_app_urls``).
        timeout: seconds to connect and between bytes of an answer (a long result stream is fine).
        retries: how often an idempotent request (registry reads, online features, job state) is
            retried after a retriable error (connection failure, 503), with a short backoff.
        registry_cache_seconds: how long definitions read for typing online answers are reused.
    """

    def __init__(
        self,
        url: str,
        api_key: Optional[str] = None,
        registry_url: Optional[str] = None,
        jobs_url: Optional[str] = None,
        timeout: float = 30.0,
        retries: int = 2,
        registry_cache_seconds: float = 60.0,
        transport: Optional[httpx.BaseTransport] = None,
    ) -> None:
        self.url = url.rstrip("/")
        derived_registry, derived_jobs = derive_app_urls(self.url)
        self.registry_url = (registry_url or derived_registry).rstrip("/")
        self.jobs_url = (jobs_url or derived_jobs).rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.registry_cache_seconds = registry_cache_seconds
        headers = {"User-Agent": "featurelog-python"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.Client(headers=headers, timeout=timeout, transport=transport)
        self._definitions: Optional[_Definitions] = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never the key
        return f"FeatureStore(url={self.url!r}, registry_url={self.registry_url!r}, jobs_url={self.jobs_url!r})"

    def close(self) -> None:
        """Closes the HTTP connections."""
        self._client.close()

    def __enter__(self) -> "FeatureStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- construction from the environment or a repo -------------------------------------------

    @classmethod
    def from_env(cls, **kwargs: Any) -> "FeatureStore":
        """From ``FEATURELOG_SERVING_URL`` (required), ``FEATURELOG_REGISTRY_URL``,
        ``FEATURELOG_JOBS_URL`` and ``FEATURELOG_API_KEY`` (or ``FEATURELOG_API_KEY_FILE``); keyword
        arguments override them."""
        url = kwargs.pop("url", None) or os.environ.get("FEATURELOG_SERVING_URL")
        if not url:
            raise ValidationError("MISSING_URL", "FEATURELOG_SERVING_URL is not set (the serving app's base URL)")
        kwargs.setdefault("registry_url", os.environ.get("FEATURELOG_REGISTRY_URL") or None)
        kwargs.setdefault("jobs_url", os.environ.get("FEATURELOG_JOBS_URL") or None)
        if "api_key" not in kwargs:
            kwargs["api_key"] = _api_key_from_env()
        return cls(url=url, **kwargs)

    @classmethod
    def from_repo(cls, path: "str | os.PathLike[str]" = ".", **kwargs: Any) -> "FeatureStore":
        """From a feature repo: the URLs a running ``featurelog dev`` wrote to
        ``.featurelog/dev.json``, else the ``apps`` block of ``featurelog.yaml`` (host and port of
        serving, registry and jobs; ``FEATURELOG_<APP>_HOST``/``_PORT`` override, as for the apps).
        Reading an ``apps`` block needs PyYAML (``pip install 'featurelog[yaml]'``); a file without
        one means the default ports. The key comes from ``api_key=`` or ``FEATURELOG_API_KEY``."""
        from .repo import app_urls_of_repo

        urls = app_urls_of_repo(os.fspath(path))
        kwargs.setdefault("registry_url", urls["registry"])
        kwargs.setdefault("jobs_url", urls["jobs"])
        if "api_key" not in kwargs:
            kwargs["api_key"] = _api_key_from_env()
        return cls(url=urls["serving"], **kwargs)

    # -- HTTP ------------------------------------------------------------------------------------

    def _request(
        self, method: str, base: str, path: str, *, what: str, retry: bool = True, **kwargs: Any
    ) -> httpx.Response:
        attempts = 1 + (self.retries if retry else 0)
        for attempt in range(attempts):
            try:
                response = self._client.request(method, base + path, **kwargs)
            except httpx.HTTPError as error:
                failure: FeaturelogError = transport_error(error, f"{what} ({method} {base}{path})")
                failure.__cause__ = error
            else:
                if response.is_success:
                    return response
                failure = error_from_response(response)
            if not failure.retriable or attempt == attempts - 1:
                raise failure
            time.sleep(0.1 * 2**attempt)
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def _stream(self, method: str, base: str, path: str, *, what: str, **kwargs: Any) -> Iterator[httpx.Response]:
        try:
            with self._client.stream(method, base + path, **kwargs) as response:
                if not response.is_success:
                    response.read()
                    raise error_from_response(response)
                yield response
        except httpx.HTTPError as error:
            raise transport_error(error, f"{what} ({method} {base}{path})") from error

    # -- registry --------------------------------------------------------------------------------

    def _list(self, segment: str) -> list[dict[str, Any]]:
        response = self._request("GET", self.registry_url, f"/{segment}", what=f"list {segment}")
        return list(response.json().get("items", []))

    def _get(self, segment: str, name: str, code: str, label: str) -> dict[str, Any]:
        try:
            response = self._request(
                "GET", self.registry_url, f"/{segment}/{_quote(name)}", what=f"get {label} {name}"
            )
        except NotFoundError as error:
            raise UnknownNameError(code, f'{label} "{name}" is not defined ({error.message})', 404, False) from None
        return dict(response.json()["definition"])

    def list_entities(self) -> list[Entity]:
        """Every entity of the registry."""
        return [Entity.from_json(item) for item in self._list("entities")]

    def get_entity(self, name: str) -> Entity:
        """One entity; UnknownNameError (code UNKNOWN_ENTITY) when it is not defined."""
        return Entity.from_json(self._get("entities", name, "UNKNOWN_ENTITY", "entity"))

    def list_feature_views(self) -> list[FeatureView]:
        """Every feature view of the registry."""
        return [FeatureView.from_json(item) for item in self._list("feature-views")]

    def get_feature_view(self, name: str) -> FeatureView:
        """One feature view; UnknownNameError (code UNKNOWN_FEATURE_VIEW) when it is not defined."""
        return FeatureView.from_json(self._get("feature-views", name, "UNKNOWN_FEATURE_VIEW", "feature view"))

    def list_feature_services(self) -> list[FeatureService]:
        """Every feature service of the registry."""
        return [FeatureService.from_json(item) for item in self._list("feature-services")]

    def get_feature_service(self, name: str) -> FeatureService:
        """One feature service; UnknownNameError (code UNKNOWN_FEATURE_SERVICE) when not defined."""
        return FeatureService.from_json(
            self._get("feature-services", name, "UNKNOWN_FEATURE_SERVICE", "feature service")
        )

    def _read_definitions(self) -> _Definitions:
        body = self._request("GET", self.registry_url, "/definitions", what="read definitions").json()
        objects = body.get("objects", {})
        definitions = _Definitions(
            version=int(body.get("version", 0)),
            entities={e["name"]: Entity.from_json(e) for e in objects.get("entity", [])},
            views={v["name"]: FeatureView.from_json(v) for v in objects.get("feature_view", [])},
            services={s["name"]: FeatureService.from_json(s) for s in objects.get("feature_service", [])},
            read_at=time.monotonic(),
        )
        with self._lock:
            self._definitions = definitions
        return definitions

    def _cached_definitions(self, min_version: Optional[int] = None) -> _Definitions:
        cached = self._definitions
        if (
            cached is None
            or time.monotonic() - cached.read_at > self.registry_cache_seconds
            or (min_version is not None and cached.version < min_version)
        ):
            return self._read_definitions()
        return cached

    def _resolve(
        self,
        definitions: _Definitions,
        features: Optional[FeatureRefs],
        feature_service: Optional[ServiceRef],
    ) -> _Resolved:
        """Expands the requested features against the definitions, raising UnknownNameError naming the
        first unknown service, view or feature."""
        if (features is None) == (feature_service is None):
            raise ValidationError("INVALID_REQUEST", "give exactly one of features=[...] and feature_service=...")
        if feature_service is not None:
            name = feature_service.name if isinstance(feature_service, FeatureService) else feature_service
            service = definitions.services.get(name)
            if service is None:
                raise UnknownNameError("UNKNOWN_FEATURE_SERVICE", f'feature service "{name}" is not defined', None, False)
            wanted = service.features
        else:
            if isinstance(features, str):
                raise ValidationError("INVALID_REQUEST", 'features must be a list of "view:feature", not one string')
            wanted = list(features or [])
            if not wanted:
                raise ValidationError("INVALID_REQUEST", "features is empty: name at least one view:feature")
        refs: list[tuple[str, str]] = []
        views: dict[str, FeatureView] = {}
        for ref in wanted:
            try:
                view_name, feature_name = parse_feature_ref(ref)
            except ValueError as error:
                raise ValidationError("INVALID_FEATURE_REFERENCE", str(error)) from None
            view = definitions.views.get(view_name)
            if view is None:
                raise UnknownNameError(
                    "UNKNOWN_FEATURE_VIEW", f'feature view "{view_name}" (in "{ref}") is not defined', None, False
                )
            views[view_name] = view
            if feature_name == "*":
                refs.extend((view_name, f) for f in view.feature_names)
            elif view.feature(feature_name) is None:
                raise UnknownNameError(
                    "UNKNOWN_FEATURE", f'feature view "{view_name}" has no feature "{feature_name}"', None, False
                )
            else:
                refs.append((view_name, feature_name))
        join_keys: dict[str, list[JoinKey]] = {}
        for view in views.values():
            keys: list[JoinKey] = []
            for entity_name in view.entities:
                entity = definitions.entities.get(entity_name)
                if entity is None:
                    raise UnknownNameError(
                        "UNKNOWN_ENTITY", f'entity "{entity_name}" of feature view "{view.name}" is not defined', None, False
                    )
                keys.extend(entity.join_keys)
            join_keys[view.name] = keys
        return _Resolved(refs, views, join_keys)

    # -- online ----------------------------------------------------------------------------------

    def get_online_features(
        self,
        features: Union[FeatureRefs, FeatureService, None] = None,
        entity_rows: Union[Sequence[Mapping[str, Any]], Mapping[str, Sequence[Any]], pd.DataFrame, None] = None,
        feature_service: Optional[ServiceRef] = None,
        full_feature_names: bool = False,
        transport: str = "json",
    ) -> OnlineResponse:
        """The latest values of ``features`` (``view:feature`` / ``view:*``) or of a
        ``feature_service`` for ``entity_rows`` (a list of ``{join_key: value}``, a dict of columns
        or a DataFrame of join keys). Unknown names are the server's 404 (UNKNOWN_FEATURE_VIEW,
        UNKNOWN_FEATURE, ...) as NotFoundError.

        ``transport="arrow"`` asks for the serving app's Arrow IPC answer instead of Feast's JSON:
        the same response (values typed by the answer itself, no registry read), cheaper for large
        batches."""
        if transport not in ("json", "arrow"):
            raise ValidationError("INVALID_REQUEST", f'transport must be "json" or "arrow", got {transport!r}')
        if isinstance(features, FeatureService):  # Feast passes a service as features=
            features, feature_service = None, features
        if entity_rows is None:
            raise ValidationError("INVALID_REQUEST", "entity_rows is required: [{join_key: value}, ...]")
        if (features is None) == (feature_service is None):
            raise ValidationError("INVALID_REQUEST", "give exactly one of features=[...] and feature_service=...")
        body: dict[str, Any] = {"entities": _entity_columns(entity_rows), "full_feature_names": full_feature_names}
        if feature_service is not None:
            body["feature_service"] = (
                feature_service.name if isinstance(feature_service, FeatureService) else feature_service
            )
        else:
            if isinstance(features, str):
                raise ValidationError("INVALID_REQUEST", 'features must be a list of "view:feature", not one string')
            body["features"] = list(features or [])
        if transport == "arrow":
            with self._stream(
                "POST", self.url, "/get-online-features", json=body, headers={"Accept": ARROW_STREAM},
                what="get online features",
            ) as streamed:
                table = ArrowStream(streamed.iter_bytes(), "online features", announced_rows(streamed)).read_all()
            return OnlineResponse.from_arrow(table)
        response = self._request("POST", self.url, "/get-online-features", json=body, what="get online features")
        answer = response.json()
        version_header = response.headers.get("x-featurelog-registry-version")
        min_version = int(version_header) if version_header and version_header.isdigit() else None
        types, keys = self._online_types(body, full_feature_names, min_version)
        return OnlineResponse(answer, types, keys)

    def _online_types(
        self, body: Mapping[str, Any], full_feature_names: bool, min_version: Optional[int]
    ) -> tuple[dict[str, str], list[str]]:
        """Column name → featurelog type, for typing the JSON values (the server answered, so the
        names are known to a registry at least as new as ``min_version``)."""
        try:
            resolved = self._resolve(self._cached_definitions(min_version), body.get("features"), body.get("feature_service"))
        except UnknownNameError:
            # The cache may predate a definition the server already serves: read once more.
            try:
                resolved = self._resolve(self._read_definitions(), body.get("features"), body.get("feature_service"))
            except FeaturelogError:
                return {}, []  # the values stay as JSON gave them rather than failing an answered request
        except (PermissionDeniedError, AuthenticationError):
            return {}, []
        types: dict[str, str] = {}
        for keys in resolved.join_keys.values():
            for key in keys:
                types[key.name] = key.type
        key_names = list(types)
        for (view, feature), name in zip(resolved.refs, resolved.column_names(full_feature_names)):
            feature_def = resolved.views[view].feature(feature)
            if feature_def is not None:
                types[name] = feature_def.type
        return types, key_names

    # -- push ------------------------------------------------------------------------------------

    def push(
        self,
        view: str,
        df: Union[pd.DataFrame, pa.Table, Sequence[Mapping[str, Any]], Mapping[str, Sequence[Any]]],
        to: str = "online_and_offline",
    ) -> dict[str, Any]:
        """Pushes rows to a feature view (or a push source: every view reading that managed source)
        through the serving app's ``POST /push``: validated against the view, all or nothing,
        produced to the view's topic and materialized from there.

        ``df`` holds the join keys, ``event_timestamp`` (naive read as UTC), optionally
        ``created_timestamp``, and features. ``to``: ``online``, ``offline`` or
        ``online_and_offline``. Returns the server's ``{to, produced, views}``. Invalid rows raise
        InvalidRequestError (422) listing each problem; more rows than the server takes in one push
        (10,000 by default) are 413 — split them, or use ``featurelog ingest`` for files."""
        if to not in PUSH_DESTINATIONS:
            raise ValidationError("INVALID_PUSH_REQUEST", f"to must be one of {', '.join(PUSH_DESTINATIONS)}, got {to!r}")
        body = {"push_source_name": view, "df": _push_columns(df), "to": to}
        response = self._request("POST", self.url, "/push", json=body, what=f"push to {view}", retry=False)
        return dict(response.json())

    # -- training sets ---------------------------------------------------------------------------

    def get_historical_features(
        self,
        entity_df: Any,
        features: Union[FeatureRefs, FeatureService, None] = None,
        feature_service: Optional[ServiceRef] = None,
        full_feature_names: bool = False,
        as_served: bool = False,
        progress: bool = True,
    ) -> TrainingSetJob:
        """Submits a point-in-time training set to the jobs app and returns its job.

        ``entity_df``: a pandas DataFrame, a pyarrow Table or a Parquet path with the join keys of the
        requested views' entities and ``event_timestamp`` (naive timestamps are UTC); every other
        column is kept. Each row gets, per feature, the value of the newest row of its entity at or
        before its time (within the view's TTL). ``as_served`` keeps only rows the log already had
        at that time. Checked before submitting: unknown service/view/feature (UnknownNameError),
        missing or mistyped columns (ValidationError naming the column).

        ``job.to_df()`` / ``to_arrow()`` / ``to_parquet(path)`` wait for it, with a tqdm progress
        bar unless ``progress=False``.
        """
        if isinstance(features, FeatureService):  # Feast passes a service as features=
            features, feature_service = None, features
        try:
            definitions: Optional[_Definitions] = self._read_definitions()
        except PermissionDeniedError:
            # A key with the jobs scope but not read: the server checks names and join keys itself.
            definitions = None
        if definitions is None:
            if (features is None) == (feature_service is None):
                raise ValidationError("INVALID_REQUEST", "give exactly one of features=[...] and feature_service=...")
            table = to_entity_table(entity_df, {})
            job = self._submit(table, features, feature_service, full_feature_names, as_served, progress)
            del table
            release_unused_memory()
            return job
        resolved = self._resolve(definitions, features, feature_service)
        if not full_feature_names:
            names = resolved.column_names(False)
            clashes = sorted({name for name in names if names.count(name) > 1})
            if clashes:
                raise ValidationError(
                    "FEATURE_NAME_COLLISION",
                    f"feature name(s) {', '.join(clashes)} appear in several views: pass full_feature_names=True",
                )
        table = to_entity_table(entity_df, resolved.join_keys)
        if not full_feature_names:
            taken = sorted(set(resolved.column_names(False)) & set(table.column_names))
            if taken:
                raise ValidationError(
                    "FEATURE_NAME_COLLISION",
                    f"entity_df column(s) {', '.join(taken)} have the name of a requested feature: rename them "
                    "or pass full_feature_names=True",
                )
        job = self._submit(table, features, feature_service, full_feature_names, as_served, progress)
        # Reading and checking the entity rows took several times their size from Arrow's pool,
        # which keeps freed pages: give them back before the result arrives (it is read into
        # Python bytes, which cannot reuse them), else they add to the process's peak.
        del table
        release_unused_memory()
        return job

    def _submit(
        self,
        table: pa.Table,
        features: Optional[FeatureRefs],
        feature_service: Optional[ServiceRef],
        full_feature_names: bool,
        as_served: bool,
        progress: bool,
    ) -> TrainingSetJob:
        params: list[tuple[str, str]] = []
        if feature_service is not None:
            name = feature_service.name if isinstance(feature_service, FeatureService) else feature_service
            params.append(("service", name))
        else:
            params.extend(("features", ref) for ref in (features or []))
        params.append(("fullFeatureNames", "true" if full_feature_names else "false"))
        params.append(("asServed", "true" if as_served else "false"))
        response = self._request(
            "POST",
            self.jobs_url,
            "/training-sets",
            params=params,
            # Streamed batch by batch (chunked): the rows are held once, as the Arrow table, not
            # also as a whole IPC buffer and a bytes copy of it. No retry, so a one-shot body is fine.
            content=_arrow_stream_chunks(table),
            headers={"Content-Type": ARROW_STREAM},
            what="submit training set",
            retry=False,
        )
        state = dict(response.json())
        job_id = state.get("id") or state.get("jobId")
        if not isinstance(job_id, str):
            raise FeaturelogError("INVALID_ANSWER", f"the jobs app accepted the training set but named no job id: {state}")
        return TrainingSetJob(self, job_id, state, progress=progress)

    def get_training_set(self, job_id: str, progress: bool = True) -> TrainingSetJob:
        """A training set job submitted earlier (e.g. from another process), by its id."""
        job = TrainingSetJob(self, job_id, progress=progress)
        job.refresh()
        return job


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


def _api_key_from_env() -> Optional[str]:
    key = os.environ.get("FEATURELOG_API_KEY")
    if key:
        return key
    key_file = os.environ.get("FEATURELOG_API_KEY_FILE")
    if key_file:
        with open(key_file, encoding="utf-8") as handle:
            return handle.read().strip() or None
    return None


#: Rows per record batch of an uploaded entity table (a few MiB per chunk for typical entity rows).
UPLOAD_BATCH_ROWS = 65536


def _arrow_stream_chunks(table: pa.Table, max_chunksize: Optional[int] = None) -> Iterator[bytes]:
    """The table as an Arrow IPC stream, yielded a message group at a time (the schema with the
    first batch, each further batch, then the end-of-stream marker) so only one batch's bytes exist
    at once beside the table."""
    sink = _Collector()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=max_chunksize or UPLOAD_BATCH_ROWS):
            writer.write_batch(batch)
            yield sink.take()
    yield sink.take()


class _Collector(io.RawIOBase):
    """A write-only file keeping what was written until taken."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        part = bytes(data)
        self._parts.append(part)
        return len(part)

    def take(self) -> bytes:
        parts, self._parts = self._parts, []
        return b"".join(parts)


def _arrow_stream_bytes(table: pa.Table) -> bytes:
    """The whole IPC stream at once (tests compare the streamed upload with it)."""
    return b"".join(_arrow_stream_chunks(table))


def _entity_columns(
    entity_rows: Union[Sequence[Mapping[str, Any]], Mapping[str, Sequence[Any]], pd.DataFrame],
) -> dict[str, list[Any]]:
    """Entity rows as the serving app's columns ``{join_key: [values]}``."""
    if isinstance(entity_rows, pd.DataFrame):
        return {str(c): [encode_json_value(v) for v in entity_rows[c].tolist()] for c in entity_rows.columns}
    if isinstance(entity_rows, Mapping):
        return {str(k): [encode_json_value(v) for v in values] for k, values in entity_rows.items()}
    rows = list(entity_rows)
    if not rows:
        raise ValidationError("INVALID_REQUEST", "entity_rows is empty")
    keys = list(rows[0].keys())
    columns: dict[str, list[Any]] = {key: [] for key in keys}
    for index, row in enumerate(rows):
        if set(row.keys()) != set(keys):
            raise ValidationError(
                "INVALID_REQUEST",
                f"entity_rows[{index}] has keys {sorted(row.keys())}, entity_rows[0] has {sorted(keys)}",
            )
        for key in keys:
            columns[key].append(encode_json_value(row[key]))
    return columns


def _push_columns(
    df: Union[pd.DataFrame, pa.Table, Sequence[Mapping[str, Any]], Mapping[str, Sequence[Any]]],
) -> dict[str, list[Any]]:
    """Rows to push as JSON columns: datetimes as RFC 3339 UTC text (naive read as UTC), bytes as
    base64, NaN/NaT as null."""
    if isinstance(df, pa.Table):
        return {name: [encode_json_value(v) for v in df.column(name).to_pylist()] for name in df.column_names}
    if isinstance(df, pd.DataFrame):
        columns: dict[str, list[Any]] = {}
        for name in df.columns:
            series = df[name]
            values: Iterable[Any] = series.tolist()
            columns[str(name)] = [encode_json_value(v) for v in values]
        return columns
    if isinstance(df, Mapping):
        return {str(k): [encode_json_value(v) for v in values] for k, values in df.items()}
    rows = list(df)
    names: list[str] = []
    for row in rows:
        names.extend(k for k in row if k not in names)
    return {name: [encode_json_value(row.get(name)) for row in rows] for name in names}


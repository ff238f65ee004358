"""Definitions read from the registry app's API, as small typed dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

__all__ = ["JoinKey", "Entity", "Feature", "FeatureView", "FeatureService", "parse_feature_ref"]


@dataclass(frozen=True)
class JoinKey:
    """A join key of an entity: its column name and featurelog type (``int64``, ``string``, ...)."""

    name: str
    type: str


@dataclass(frozen=True)
class Entity:
    """A thing features are about (a driver), identified by its join keys."""

    name: str
    join_keys: list[JoinKey]
    description: Optional[str] = None
    tags: dict[str, str] = field(default_factory=dict)
    owner: Optional[str] = None

    @property
    def join_key_names(self) -> list[str]:
        return [key.name for key in self.join_keys]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Entity":
        return cls(
            name=data["name"],
            join_keys=[JoinKey(k["name"], k["type"]) for k in data.get("joinKeys", [])],
            **_about(data),
        )


@dataclass(frozen=True)
class Feature:
    """A feature of a view: name and featurelog type (``float64``, ``list<int64>``, ``timestamp``, ...)."""

    name: str
    type: str
    description: Optional[str] = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FeatureView:
    """A feature view: its entities, features and TTL (``ttl_seconds`` 0 = no limit)."""

    name: str
    version: int
    entities: list[str]
    features: list[Feature]
    ttl_seconds: int
    online: bool = True
    offline: bool = True
    source: Optional[str] = None
    description: Optional[str] = None
    tags: dict[str, str] = field(default_factory=dict)
    owner: Optional[str] = None

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def feature(self, name: str) -> Optional[Feature]:
        return next((f for f in self.features if f.name == name), None)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "FeatureView":
        return cls(
            name=data["name"],
            version=int(data.get("version", 1)),
            entities=list(data.get("entities", [])),
            features=[
                Feature(f["name"], f["type"], f.get("description"), dict(f.get("tags") or {}))
                for f in data.get("features", [])
            ],
            ttl_seconds=int(data.get("ttlSeconds", 0)),
            online=bool(data.get("online", True)),
            offline=bool(data.get("offline", True)),
            source=data.get("source"),
            **_about(data),
        )


@dataclass(frozen=True)
class FeatureService:
    """A named list of feature references (``view:feature`` or ``view:*``)."""

    name: str
    features: list[str]
    description: Optional[str] = None
    tags: dict[str, str] = field(default_factory=dict)
    owner: Optional[str] = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "FeatureService":
        return cls(
            name=data["name"],
            features=list(data.get("features", [])),
            **_about(data),
        )


def _about(data: Mapping[str, Any]) -> dict[str, Any]:
    """What every definition says about itself: description, tags and owner."""
    return {"description": data.get("description"), "tags": dict(data.get("tags") or {}), "owner": data.get("owner")}


def parse_feature_ref(ref: str) -> tuple[str, str]:
    """``"view:feature"`` → ``("view", "feature")``; ``"view:*"`` → ``("view", "*")``.

    Raises ValueError for text without exactly one ``:`` between two non-empty names.
    """
    parts = ref.split(":")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise ValueError(f'feature reference "{ref}" is not view:feature or view:*')
    return parts[0], parts[1]

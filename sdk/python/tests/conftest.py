"""Shared fixtures. Live tests need the apps: the harness sets FEATURELOG_SERVING_URL (and the other
FEATURELOG_* variables of CLIENTS-CONTRACT.md); without it they skip, saying so."""

from __future__ import annotations

import os
from typing import Iterator

import pytest

import featurelog

LIVE_SKIP_REASON = (
    "FEATURELOG_SERVING_URL is not set: live tests need the running apps (the harness sets FEATURELOG_SERVING_URL, "
    "FEATURELOG_REGISTRY_URL, FEATURELOG_JOBS_URL, FEATURELOG_API_KEY, FEATURELOG_CLIENT_CASES)"
)


def live_enabled() -> bool:
    return bool(os.environ.get("FEATURELOG_SERVING_URL"))


@pytest.fixture
def live_store() -> Iterator[featurelog.FeatureStore]:
    if not live_enabled():
        pytest.skip(LIVE_SKIP_REASON)
    store = featurelog.FeatureStore.from_env()
    try:
        yield store
    finally:
        store.close()

"""featurelog's Python SDK: point-in-time training sets into pandas and Arrow, online features,
push, and the registry, over the HTTP APIs of a featurelog deployment.

>>> import featurelog
>>> store = featurelog.FeatureStore(url="http://127.0.0.1:6574", api_key="...")
>>> training_df = store.get_historical_features(entity_df, feature_service="driver_activity").to_df()
"""

from .errors import (
    AuthenticationError,
    ConflictError,
    FeaturelogError,
    InvalidRequestError,
    JobCancelledError,
    JobFailedError,
    JobNotFinishedError,
    NotFoundError,
    PermissionDeniedError,
    ServerError,
    TransportError,
    TruncatedStreamError,
    UnavailableError,
    UnknownNameError,
    ValidationError,
)
from .online import OnlineResponse
from .registry import Entity, Feature, FeatureService, FeatureView, JoinKey
from .store import FeatureStore, derive_app_urls
from .training import TrainingSetJob

__version__ = "0.1.0"

__all__ = [
    "FeatureStore",
    "TrainingSetJob",
    "OnlineResponse",
    "Entity",
    "JoinKey",
    "Feature",
    "FeatureView",
    "FeatureService",
    "derive_app_urls",
    "FeaturelogError",
    "InvalidRequestError",
    "ValidationError",
    "UnknownNameError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "JobNotFinishedError",
    "JobFailedError",
    "JobCancelledError",
    "UnavailableError",
    "ServerError",
    "TransportError",
    "TruncatedStreamError",
    "__version__",
]

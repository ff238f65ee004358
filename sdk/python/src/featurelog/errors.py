"""Exceptions of the SDK: every error carries featurelog's stable code, its message, the HTTP status
(None when raised by the SDK itself, before any request) and whether retrying can help."""

from __future__ import annotations

import json
from typing import Any, Optional

import httpx

__all__ = [
    "FeaturelogError",
    "InvalidRequestError",
    "ValidationError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "UnknownNameError",
    "ConflictError",
    "JobNotFinishedError",
    "JobFailedError",
    "JobCancelledError",
    "UnavailableError",
    "ServerError",
    "TransportError",
    "TruncatedStreamError",
    "error_from_response",
]


class FeaturelogError(Exception):
    """Base of every featurelog error.

    Attributes:
        code: featurelog's stable error code (``UNKNOWN_FEATURE_VIEW``, ``MISSING_JOIN_KEY``, ...).
        message: the human-readable message (the server's own when it came from the server).
        status: the HTTP status of the answer, or None for an error found by the SDK itself.
        retriable: whether the same request may succeed later (a server or network hiccup).
    """

    def __init__(self, code: str, message: str, status: Optional[int] = None, retriable: bool = False) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.retriable = retriable

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, "
            f"status={self.status!r}, retriable={self.retriable!r})"
        )


class InvalidRequestError(FeaturelogError):
    """The request is malformed or names something wrong (HTTP 400, 413, 422)."""


class ValidationError(InvalidRequestError):
    """Found by the SDK before anything was sent (a missing column, a wrong type, an unknown feature)."""


class AuthenticationError(FeaturelogError):
    """No API key, or a wrong one (HTTP 401)."""


class PermissionDeniedError(FeaturelogError):
    """The API key lacks the scope the route needs (HTTP 403)."""


class NotFoundError(FeaturelogError):
    """An unknown feature view, feature, service, entity or job (HTTP 404)."""


class UnknownNameError(ValidationError, NotFoundError):
    """An unknown feature service, view, feature or entity, found by the SDK from the registry
    before anything was submitted (a ValidationError and a NotFoundError both)."""


class ConflictError(FeaturelogError):
    """The request conflicts with the state of the server (HTTP 409)."""


class JobNotFinishedError(ConflictError):
    """A training set's result was asked for before its job finished (``JOB_NOT_FINISHED``)."""


class JobFailedError(FeaturelogError):
    """The training set job failed; code and message are the job's own error."""


class JobCancelledError(FeaturelogError):
    """The training set job was cancelled."""


class UnavailableError(FeaturelogError):
    """A dependency of the server is unavailable (HTTP 503): retrying later may help."""


class ServerError(FeaturelogError):
    """Any other 5xx answer."""


class TransportError(FeaturelogError):
    """The server could not be reached, or the connection failed (no HTTP answer)."""


class TruncatedStreamError(TransportError):
    """A streamed result ended before its end: never returned as if it were complete."""


def _class_for(status: int, code: str) -> type[FeaturelogError]:
    if code == "JOB_NOT_FINISHED":
        return JobNotFinishedError
    if status == 401:
        return AuthenticationError
    if status == 403:
        return PermissionDeniedError
    if status == 404:
        return NotFoundError
    if status == 409:
        return ConflictError
    if status == 503:
        return UnavailableError
    if status >= 500:
        return ServerError
    if status >= 400:
        return InvalidRequestError
    return FeaturelogError


def error_from_body(status: int, body: Any, fallback_text: str = "") -> FeaturelogError:
    """The exception for an error answer: the server's ``{statusCode, code, message, retriable}``
    when it sent one, else a generic ``HTTP_<status>`` error with the body's text."""
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        code = body["code"]
        message = str(body.get("message", ""))
        problems = body.get("problems")
        if isinstance(problems, list) and problems:
            # A push's 422 lists every bad row; the message says how many, the list says which.
            message = f"{message} {json.dumps(problems[:20])}"
        retriable = body.get("retriable")
        if not isinstance(retriable, bool):
            retriable = status >= 500 or status == 429
    else:
        code = f"HTTP_{status}"
        message = fallback_text.strip()[:500] or httpx.codes.get_reason_phrase(status)
        retriable = status >= 500 or status == 429
    error = _class_for(status, code)(code, message, status, retriable)
    if isinstance(body, dict):
        error.body = body  # type: ignore[attr-defined]
    return error


def error_from_response(response: httpx.Response) -> FeaturelogError:
    """The exception for a non-2xx answer whose body has been read."""
    text = response.text
    try:
        body: Any = json.loads(text) if text else None
    except ValueError:
        body = None
    return error_from_body(response.status_code, body, text)


def transport_error(error: Exception, what: str) -> TransportError:
    """A network failure as a featurelog error (retriable: the request did not get an answer)."""
    if isinstance(error, httpx.TimeoutException):
        return TransportError("TIMEOUT", f"{what}: timed out ({type(error).__name__})", None, True)
    return TransportError("CONNECTION_FAILED", f"{what}: {type(error).__name__}: {error}", None, True)

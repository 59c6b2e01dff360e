"""One error shape for every failure, and what each failure becomes.

Every response that is not a success has this body (``application/json``)::

    {"error": {"code": "not_found", "message": "Unknown flow `billing` for tenant `acme`",
               "details": null}}

``code`` is stable and meant for programs (the table in docs/api.md), ``message`` is
for people (the store's and lint's own wording, which names what was wrong and where),
``details`` carries structure when there is some (lint findings, a JSON error's line
and column, the role a call needs). Nothing else is ever sent for an error: no
traceback, no framework page. An unexpected exception is logged with its traceback
on the server and answered ``500 internal``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    ValidationException,
)
from litestar.openapi.datastructures import ResponseSpec

from flowctl.engine.edits import EditConflict, EditError, EditNotFound
from flowctl.engine.errors import FlowError, FlowInvalidError
from flowctl.engine.findings import Finding
from flowctl.engine.lint.runner import Located
from flowctl.engine.store import StoredFinding
from flowctl.engine.store import errors as store

__all__ = [
    "ApiError",
    "ErrorBody",
    "ErrorDetail",
    "error_response",
    "handle_exception",
    "responses",
]

logger = logging.getLogger(__name__)


class ErrorDetail(msgspec.Struct, kw_only=True):
    code: str
    message: str
    details: Any = None


class ErrorBody(msgspec.Struct, kw_only=True):
    """The body of every error response."""

    error: ErrorDetail


class ApiError(Exception):
    """An error the API answers with ``status`` and the shape above."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


# What each status means here, for the OpenAPI document (docs/api.md has the codes).
_DESCRIPTIONS = {
    400: "Bad request: malformed JSON (with its line and column), a body or parameter "
    "of the wrong shape, or a change the store refuses",
    401: "Missing, unknown or revoked API key",
    403: "The key's role may not do this, the tenant's policy does not allow it (a room "
    "outside its namespace), or its quota is used up",
    404: "No such flow, version, session, callback, caller, key, knowledge base, document or "
    "tenant for this key's tenant",
    409: "Conflict: the published pointer moved (stale `expected_current`), the "
    "thing exists already, a flow to delete is published or routed to, a callback "
    "is claimed by another key or closed, or a caller to forget is on a call",
    413: "Request body over the 1 MiB limit",
    422: "The flow has error-level lint findings (in `details.findings`), or the "
    "routing document or request cannot be used, or a token's overrides are not ones "
    "the routed flow allows",
    429: "The tenant's concurrent-session limit is reached",
    503: "The store is unavailable, or LiveKit credentials are not configured",
}


def responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the error statuses an operation may answer (400 always: a
    parameter of the wrong shape; it replaces the framework's own 400 schema)."""
    return {
        status: ResponseSpec(
            data_container=ErrorBody, description=_DESCRIPTIONS[status], generate_examples=False
        )
        for status in sorted({400, *statuses})
    }


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> Response[ErrorBody]:
    body = ErrorBody(error=ErrorDetail(code=code, message=message, details=details))
    return Response(body, status_code=status, headers=headers)


def _findings(findings: Sequence[Finding | Located | StoredFinding]) -> list[Any]:
    """Lint findings as JSON: stored findings as they are, located ones as the same
    fields (code, severity, message, row, column)."""
    out: list[Any] = []
    for f in findings:
        if isinstance(f, Located):
            out.append(
                {
                    "code": f.finding.code,
                    "severity": f.rule.severity.value,
                    "message": f.finding.text,
                    "row": f.span.row,
                    "column": f.span.column,
                }
            )
        else:
            out.append(msgspec.to_builtins(f))
    return out


def _validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[ErrorBody]:
    """Litestar's parameter validation (a query or path value of the wrong type)."""
    problems = exc.extra if isinstance(exc.extra, list) else []
    parts = []
    for p in problems:
        if isinstance(p, dict):
            source = p.get("source", "")
            source = getattr(source, "value", source)  # Litestar's ParamType enum
            kind = f"{source} parameter" if source in ("query", "path", "header") else "value"
            where = f"{kind} `{p.get('key', '?')}`"
            parts.append(f"{where}: {p.get('message', 'invalid')}")
    message = "Invalid " + "; ".join(parts) if parts else "Invalid request"
    details = [
        {k: getattr(v, "value", v) for k, v in p.items()} for p in problems if isinstance(p, dict)
    ]
    return error_response(400, "invalid_request", message, details or None)


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    """Litestar's exception handler for everything: the shape above, never a traceback."""
    status: int
    match exc:
        case ApiError():
            headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
            return error_response(exc.status, exc.code, exc.message, exc.details, headers)
        case store.NotFound() | EditNotFound():
            return error_response(404, "not_found", str(exc))
        case store.StoreConflict():
            # The store's words for what was refused, with the API's advice (the
            # store's names a CLI command) and the two versions for programs.
            message = f"{exc.refused}; read the flow again and retry"
            details = {"expected_current": exc.expected, "published": exc.current}
            return error_response(409, "conflict", message, details)
        case (
            store.PointerRefused()
            | store.FlowInUse()
            | store.AlreadyExists()
            | store.CallbackRefused()
            | store.CallerInCall()
            | EditConflict()
        ):
            return error_response(409, "conflict", str(exc))
        case store.NotPublishable() | FlowInvalidError():
            return error_response(
                422, "lint_errors", str(exc), {"findings": _findings(exc.findings)}
            )
        case store.SessionLimitReached():
            return error_response(429, "session_limit", str(exc))
        case store.QuotaExceeded():
            return error_response(403, "quota_exceeded", str(exc))
        case store.StoreUnavailable():
            logger.error("store unavailable: %s", exc)
            return error_response(503, "store_unavailable", str(exc))
        case EditError() | FlowError():  # StoreError and the rest: the request was refused
            return error_response(400, "bad_request", str(exc))
        case ValidationException():
            return _validation(request, exc)
        case NotFoundException():
            return error_response(
                404, "not_found", f"No endpoint {request.method} {request.url.path}; see /docs"
            )
        case MethodNotAllowedException():
            return error_response(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed on {request.url.path}",
            )
        case HTTPException():
            status = exc.status_code
            if status == 413:
                return error_response(
                    413, "too_large", "Request body is over the 1 MiB limit (1,048,576 bytes)"
                )
            if status >= 500:
                logger.error("%s %s: %s", request.method, request.url.path, exc.detail)
                return error_response(status, "internal", "Internal error; see the server's log")
            return error_response(status, "bad_request", exc.detail)
    logger.exception("%s %s failed", request.method, request.url.path)
    return error_response(500, "internal", "Internal error; see the server's log")

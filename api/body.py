"""Request bodies: at most 1 MiB, JSON, and of the operation's declared type, checked
before the handler runs so that every refusal says where the body went wrong.

Malformed JSON is ``400 malformed_json`` with its line and column (``details``), as
``flowctl lint`` locates them; a well-formed body of the wrong shape is ``400
invalid_body`` with msgspec's path (``Expected `int`, got `str` - at `$.version```);
a body over the limit is ``413 too_large``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from flowctl.api.errors import ApiError

__all__ = ["MAX_BODY_BYTES", "check_body"]

# A flow document is tens of kilobytes (the example clinic flow: 20 KB); a megabyte is
# room for any real one and small enough that no request can make the server hold much.
MAX_BODY_BYTES = 1024 * 1024


def _where_malformed(raw: bytes) -> ApiError:
    from flowctl.engine.lint.registry import code_of
    from flowctl.engine.load import parse_json

    _, _, findings = parse_json(raw, "request body", kind="the request body")
    invalid_json = code_of("invalid-json")
    fatal = next((f for f in findings if f.code == invalid_json), None)
    if fatal is None:  # the standard library took it; msgspec did not (a lone surrogate)
        return ApiError(400, "malformed_json", "Request body is not valid JSON")
    text = fatal.text.removeprefix("Invalid JSON: ")
    if fatal.position is None:  # empty, or nested too deeply
        if text.startswith("File is empty"):
            return ApiError(400, "malformed_json", "Request body is empty: send a JSON document")
        return ApiError(400, "malformed_json", f"Request body is not valid JSON: {text}")
    row, column = fatal.position
    return ApiError(
        400,
        "malformed_json",
        f"Request body is not valid JSON: {text} at line {row}, column {column}",
        {"line": row, "column": column},
    )


def check_body(raw: bytes, kind: Any) -> None:
    """Raise the API's 400 for a body that is not JSON of type ``kind``."""
    try:
        msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as exc:
        message = str(exc)
        path = message.rpartition(" - at `")[2].rstrip("`") if " - at `" in message else "$"
        raise ApiError(
            400, "invalid_body", f"Request body is invalid: {message}", {"path": path}
        ) from None
    except msgspec.DecodeError:
        raise _where_malformed(raw) from None
    except RecursionError:
        raise ApiError(400, "malformed_json", "Request body is nested too deeply") from None

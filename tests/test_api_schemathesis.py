"""A property-based run of the whole API from its own OpenAPI document (schemathesis):
requests generated for every operation, valid and invalid, sent with a platform
admin's key (so none is refused for its role) to a real `flowctl serve`. No answer may
be a 5xx, use a status the document does not list for the operation, carry another
content type, or break the document's schema for its status."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from apikit import Server
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Per operation and mode: ~30 operations x 2 modes x this stays within seconds.
EXAMPLES = 8


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of its own: generated requests create tenants, flows and keys."""
    server = Server(tmp_path_factory.mktemp("fuzz"))
    yield server
    server.stop()


def _operations(server: Server) -> list[Any]:
    schema = schemathesis.openapi.from_url(f"{server.base}/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_api_conforms_to_its_openapi_document(fuzzed: Server, mode: GenerationMode) -> None:
    headers = {"Authorization": f"Bearer {fuzzed.keys['platform-admin']}"}
    operations = _operations(fuzzed)
    assert len(operations) >= 30
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
        except Unsatisfiable:
            # Nothing of this operation can be made invalid (no parameters, no body).
            assert mode is GenerationMode.NEGATIVE

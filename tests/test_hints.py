"""A hint naming a store command names the store the user gave (engine/hints.py)."""

from __future__ import annotations

import pytest

from flowctl.engine.hints import on_store

HINT = "create it with `flowctl tenants create acme`"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (None, HINT),
        ("sqlite:///flowctl.db", HINT),  # the default store: a pasted hint finds it
        (
            "sqlite:///team.db",
            "create it with `flowctl tenants create acme --store sqlite:///team.db`",
        ),
        (  # its password masked, as every message and log line masks it
            "postgresql://ana:s3cret@db.internal/flowctl",
            "create it with `flowctl tenants create acme --store "
            "'postgresql://ana:***@db.internal/flowctl'`",
        ),
    ],
    ids=["no-store", "default-store", "other-store", "password"],
)
def test_on_store_names_the_store_in_a_hint(url: str | None, shown: str) -> None:
    assert on_store(HINT, url) == shown


def test_on_store_leaves_a_command_that_names_a_store() -> None:
    given = "run `flowctl store init --store sqlite:///a.db`"
    assert on_store(given, "sqlite:///team.db") == given

"""Hints that name a command to run (``create it with `flowctl tenants create acme```)
act on the store the user named.

The engine writes its hints without ``--store``: it does not know which URL the user
gave, and a hint pasted as printed would act on the default store, not on theirs.
Whoever knows it (a command's ``--store``, the worker's) passes the text through
:func:`on_store`, the one place the flag is added.
"""

from __future__ import annotations

import re
import shlex

from flowctl.engine.defaults import STORE_URL

__all__ = ["on_store"]

# A backticked command of the store's (`flowctl tenants create acme`).
_STORE_COMMAND = re.compile(
    r"`(flowctl (?:store|tenants|sessions|callbacks|webhooks|keys|secrets|knowledge|serve) [^`]*)`"
)


def on_store(text: str, url: str | None) -> str:
    """``text`` with ``--store URL`` added to every backticked store command it names
    that has none, unless ``url`` is unset or the default store's. A password in the URL
    is shown as ``***``, as in every message and log line (the reader puts theirs back,
    or leaves it to libpq's ``PGPASSWORD``)."""
    if not url or url == STORE_URL:
        return text
    from flowctl.engine.store.postgres.db import redact  # no driver import: a URL parser

    flag = f" --store {shlex.quote(redact(url))}"
    return _STORE_COMMAND.sub(lambda m: m[0] if "--store" in m[1] else f"`{m[1]}{flag}`", text)

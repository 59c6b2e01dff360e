"""``flowctl``: the command line, a thin click layer over ``engine`` and ``worker``.

This module is the group and the console entry point; the commands live beside it:
``cli/check.py`` (lint, rules, graph, schema), ``route.py``, ``simulate.py``,
``store.py`` (and ``store_templates.py``, ``store_copy.py``), ``tenants.py``, ``callbacks.py``,
``policy.py``, ``keys.py``, ``knowledge.py``, ``worker.py`` and ``serve.py``. Commands
that need no LiveKit (``lint``, ``rules``, ``schema``, ``route``) import only the engine,
inside the command, so ``flowctl lint`` starts in milliseconds.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from flowctl.cli.callbacks import callbacks
from flowctl.cli.callers import callers
from flowctl.cli.check import graph, lint, rules, schema
from flowctl.cli.exits import EXIT_USAGE, Failure, fast_exit_allowed
from flowctl.cli.keys import keys
from flowctl.cli.knowledge import knowledge
from flowctl.cli.policy import policy, secrets
from flowctl.cli.route import route
from flowctl.cli.serve import serve
from flowctl.cli.simulate import simulate
from flowctl.cli.store import store
from flowctl.cli.store_common import store_hints
from flowctl.cli.store_copy import copy
from flowctl.cli.store_templates import templates
from flowctl.cli.tenants import sessions, tenants
from flowctl.cli.webhooks import webhooks
from flowctl.cli.worker import token, worker
from flowctl.engine import __version__

__all__ = ["cli", "main"]


class _Flowctl(click.Group):
    """The group that runs every command, and the one place their errors become
    messages: the engine's ``FlowError`` its message and exit code, anything else (a
    bug) an internal error, with its traceback only under ``--debug``."""

    def invoke(self, ctx: click.Context) -> Any:
        from flowctl.engine.errors import FlowError

        try:
            return super().invoke(ctx)
        except FlowError as exc:
            raise Failure(store_hints(str(exc)), exc.exit_code) from exc
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            raise Failure(
                f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)",
                EXIT_USAGE,
            ) from exc


@click.group(cls=_Flowctl, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="flowctl")
@click.option("--debug", is_flag=True, help="Show tracebacks for internal errors.")
def cli(debug: bool) -> None:
    """Conversation flows for voice agents: lint, simulate and run them."""
    import logging

    if debug:
        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
    else:  # the libraries' own chatter (LiveKit's, say) is not for people running flowctl
        logging.getLogger("livekit").setLevel(logging.ERROR)


for command in (lint, rules, graph, simulate, route, schema):  # cli/check.py, route, simulate
    cli.add_command(command)
tenants.add_command(policy)  # cli/policy.py: what the operator grants a tenant
store.add_command(templates)  # cli/store_templates.py: the templates flows extend
store.add_command(copy)  # cli/store_copy.py: a whole store into another
# the store (cli/store.py ...)
for group in (store, tenants, sessions, callbacks, callers, webhooks, keys, secrets, knowledge):
    cli.add_command(group)
for command in (worker, token):  # cli/worker.py: the voice worker
    cli.add_command(command)
cli.add_command(serve)  # cli/serve.py: the admin HTTP API


def main() -> None:
    """Console entry point: click prints every failure (``flowctl: error: ...``) and
    exits with its code; no traceback for anything but a bug, and then only with
    ``--debug``."""
    try:
        cli(standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
    else:  # pragma: no cover - standalone mode always exits
        code = 0
    if fast_exit_allowed() and isinstance(code, int | None):
        # Tearing down every imported module costs ~25 ms, a sixth of a cold
        # `flowctl lint`; these commands have nothing left to clean up.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code or 0)
    sys.exit(code)

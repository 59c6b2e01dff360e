"""``flowctl callbacks``: the callbacks a tenant's conversations promised callers (the
store books one for every ``callback`` event a session records), worked through: list
them, claim one, complete or cancel it. Each change is audited under ``--actor``."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import click

from flowctl.cli.store_common import listing, tenant_command
from flowctl.cli.timeline import format_time

if TYPE_CHECKING:
    from flowctl.engine.store import Callback, CallbackStatus, TenantStore

__all__ = ["callbacks"]

# The store's statuses (flowctl.engine.store.CallbackStatus), and `all`.
_STATUSES = ["pending", "claimed", "done", "cancelled", "all"]
_DONE = {"claim": "claimed by {actor}", "complete": "done", "cancel": "cancelled"}


def _row(c: Callback) -> list[str]:
    details = " ".join(f"{k}={v}" for k, v in c.details.items())
    who = c.closed_by or c.claimed_by or "-"
    return [
        str(c.callback_id),
        c.status,
        who,
        c.caller or "-",
        c.when or "-",
        c.reason or "-",
        details or "-",
        c.session_id,
        format_time(c.requested_at),
    ]


@click.group()
def callbacks() -> None:
    """Callbacks promised to callers: list them, claim one, complete or cancel it."""


@callbacks.command(name="list")
@click.option(
    "--status",
    type=click.Choice(_STATUSES),
    default="pending",
    show_default=True,
    help="Only callbacks with this status.",
)
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@tenant_command(fmt=True)
async def list_callbacks(t: TenantStore, status: str, limit: int, tenant: str, fmt: str) -> None:
    """The tenant's callbacks, oldest first: who claimed or closed each (BY), who to
    call (CALLER: a phone caller's number, else the job's user id), WHEN and REASON in
    the caller's words, the flow's own arguments (DETAILS) and the session."""
    wanted = cast("CallbackStatus | None", None if status == "all" else status)  # a Choice
    found = await t.callbacks(status=wanted, limit=limit)
    header = ["ID", "STATUS", "BY", "CALLER", "WHEN", "REASON", "DETAILS", "SESSION", "REQUESTED"]
    which = "" if wanted is None else f"{wanted} "
    listing(found, fmt, header, _row, empty=f"No {which}callbacks for tenant `{tenant}`")


def _move(verb: str, help_text: str) -> click.Command:
    @callbacks.command(name=verb, help=help_text)
    @click.argument("callback_id", metavar="ID", type=click.IntRange(min=1))
    @tenant_command(actor=True)
    async def move(t: TenantStore, callback_id: int, tenant: str, actor: str) -> None:
        do = {
            "claim": t.claim_callback,
            "complete": t.complete_callback,
            "cancel": t.cancel_callback,
        }[verb]
        await do(callback_id, actor=actor)
        click.echo(f"Callback {callback_id} {_DONE[verb].format(actor=actor)}")

    return move


_move(
    "claim",
    "Take callback ID: it is yours until done or cancelled, and no one else may claim or "
    "complete it. Exit 1 when someone else has, or it is closed.",
)
_move(
    "complete",
    "Mark callback ID done: a pending one, or one you claimed (exit 1 for one someone "
    "else claimed, or one closed).",
)
_move(
    "cancel",
    "Take callback ID off the list, pending or claimed by anyone (a claim left behind); "
    "exit 1 when it is closed already.",
)

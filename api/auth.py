"""Who is calling: API keys, roles, and the platform tenant.

Every request under ``/api/v1`` carries ``Authorization: Bearer <key>``. The key names
its tenant and role (``flowctl keys create``); everything the request reads or changes
is that tenant's, through the store's tenant handle, so another tenant's flows,
sessions and routing are ``404``, exactly as if they did not exist.

Roles (seed 001's RBAC), each allowing what the one below it does:

- ``viewer``: read flows, versions, diffs, sessions, callbacks, routing; dry-run routing;
- ``developer``: also push versions and edit flows, publish, roll back, unpublish,
  disable and enable flows, claim, complete and cancel callbacks, and mint LiveKit
  tokens;
- ``admin``: also replace the tenant's routing, read its audit log, manage its keys.

The **platform tenant** (``flowctl serve --platform-tenant``, default ``platform``) is
the operator's own tenant: its *admin* keys may also list, create and configure every
tenant and give a tenant its first key. Its other keys have no such power, and no key
of any other tenant has.

Every change a request makes is recorded in the store's audit log with the actor
``key:<key_id>`` (``key:fk_3f9a2c1b0d4e``), so ``flowctl keys list`` tells whose it was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from flowctl.api.errors import ApiError

if TYPE_CHECKING:
    from litestar import Request

    from flowctl.engine.store import Store, TenantStore

__all__ = ["LEVELS", "Caller", "Need", "authenticate", "authorize"]

Need = Literal["viewer", "developer", "admin", "platform"]
LEVELS = {"viewer": 1, "developer": 2, "admin": 3}


class Caller:
    """The authenticated caller of one request. (A plain class: Litestar passes it to
    handlers as a dependency without looking into it.)"""

    __slots__ = ("key_id", "platform", "role", "tenant", "tenant_id")

    def __init__(
        self, *, key_id: str, tenant_id: str, role: str, platform: bool, tenant: TenantStore
    ) -> None:
        self.key_id = key_id
        self.tenant_id = tenant_id
        self.role = role
        self.platform = platform  # an admin key of the platform tenant
        self.tenant = tenant

    @property
    def actor(self) -> str:
        """Who made a change, for the audit log."""
        return f"key:{self.key_id}"


def _presented(request: Request[Any, Any, Any]) -> str:
    header = request.headers.get("authorization")
    if header is None:
        raise ApiError(401, "unauthorized", "Missing API key: send `Authorization: Bearer <key>`")
    scheme, _, key = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(
            401,
            "unauthorized",
            "Malformed Authorization header: send `Authorization: Bearer <key>`",
        )
    return key.strip()


async def authenticate(
    request: Request[Any, Any, Any], store: Store, platform_tenant: str, need: Need
) -> Caller:
    """The caller of ``request``, allowed to do what ``need`` names; 401 or 403 else."""
    return await authorize(store, _presented(request), platform_tenant, need)


async def authorize(store: Store, key: str, platform_tenant: str, need: Need) -> Caller:
    """The caller holding ``key``, allowed to do what ``need`` names; 401 or 403 else.
    The one check of a key and its role: the API's requests (``authenticate``) and the
    console's (its signed-in key, ``flowctl.console``) both go through it."""
    record = await store.authenticate(key)
    if record is None:
        raise ApiError(401, "unauthorized", "Invalid API key")
    if record.revoked_at is not None:
        raise ApiError(401, "unauthorized", f"API key `{record.key_id}` has been revoked")
    platform = record.tenant_id == platform_tenant and record.role == "admin"
    if need == "platform":
        if not platform:
            raise ApiError(
                403,
                "forbidden",
                f"Managing tenants needs an admin key of the platform tenant "
                f"`{platform_tenant}`; key `{record.key_id}` is a {record.role} key of "
                f"tenant `{record.tenant_id}`",
                {"required": "platform admin", "role": record.role},
            )
    elif LEVELS[record.role] < LEVELS[need]:
        raise ApiError(
            403,
            "forbidden",
            f"This needs a {need} key; key `{record.key_id}` is a {record.role} key",
            {"required": need, "role": record.role},
        )
    return Caller(
        key_id=record.key_id,
        tenant_id=record.tenant_id,
        role=record.role,
        platform=platform,
        tenant=store.tenant(record.tenant_id),
    )

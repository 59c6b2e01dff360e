"""The caller, its tenant's keys and audit log (tenant admins), and every tenant (admins
of the platform tenant, see ``flowctl.api.auth``)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.params import Parameter
from msgspec import UNSET

from flowctl.api.auth import Caller
from flowctl.api.errors import responses
from flowctl.api.models import KeyCreate, NewKey, TenantCreate, TenantUpdate, WhoAmI
from flowctl.api.routing import _checked
from flowctl.engine.store import ApiKey, AuditEntry, Store, Tenant

__all__ = ["KeysController", "MiscController", "TenantsController"]

ADMIN = {"need": "admin"}
PLATFORM = {"need": "platform"}
TenantId = Annotated[str, Parameter(max_length=128)]


class MiscController(Controller):
    path = "/"
    tags = ("tenant",)

    @get("/whoami", opt={"need": "viewer"}, responses=responses(401))
    async def whoami(self, caller: Caller) -> WhoAmI:
        """The key's id, tenant and role, and whether it may manage tenants."""
        return WhoAmI(
            key_id=caller.key_id,
            tenant_id=caller.tenant_id,
            role=caller.role,
            platform=caller.platform,
        )

    @get("/audit", opt=ADMIN, responses=responses(400, 401, 403))
    async def audit(
        self, caller: Caller, limit: Annotated[int, Parameter(ge=1, le=1000)] = 100
    ) -> list[AuditEntry]:
        """The tenant's latest changes, newest first: who (`key:<key_id>` for the API),
        what, when."""
        return await caller.tenant.audit(limit=limit)


class KeysController(Controller):
    path = "/keys"
    tags = ("tenant",)
    opt = ADMIN

    @get("/", responses=responses(401, 403))
    async def list_keys(self, caller: Caller) -> list[ApiKey]:
        """The tenant's keys (ids, roles, names, revocations; never the keys)."""
        return await caller.tenant.keys()

    @post("/", responses=responses(400, 401, 403, 413))
    async def create_key(self, caller: Caller, data: KeyCreate) -> NewKey:
        """A new key for the tenant; `secret` is the key, shown this once."""
        record, secret = await caller.tenant.create_key(
            data.role, actor=caller.actor, name=data.name
        )
        return NewKey(key=record, secret=secret)

    @delete("/{key_id:str}", status_code=200, responses=responses(401, 403, 404))
    async def revoke_key(
        self, caller: Caller, key_id: Annotated[str, Parameter(max_length=64)]
    ) -> ApiKey:
        """Revoke a key: every request made with it is refused from now on."""
        return await caller.tenant.revoke_key(key_id, actor=caller.actor)


def _store(request: Request[Any, Any, Any]) -> Store:
    store: Store = request.app.state.store  # put there by create_app's startup
    return store


class TenantsController(Controller):
    path = "/tenants"
    tags = ("platform",)
    opt = PLATFORM

    @get("/", responses=responses(401, 403))
    async def list_tenants(self, request: Request[Any, Any, Any]) -> list[Tenant]:
        """Every tenant (platform admins only)."""
        return await _store(request).list_tenants()

    @post("/", responses=responses(400, 401, 403, 409, 413, 422))
    async def create_tenant(
        self, caller: Caller, request: Request[Any, Any, Any], data: TenantCreate
    ) -> Tenant:
        """Create a tenant (platform admins only); give it a key with
        `POST /api/v1/tenants/{tenant_id}/keys`."""
        return await _store(request).create_tenant(
            data.tenant_id,
            actor=caller.actor,
            name=data.name,
            routing=_checked(data.routing),
            max_concurrent_sessions=data.max_concurrent_sessions,
            policy=data.policy,
            memory_days=data.memory_days,
        )

    @get("/{tenant_id:str}", responses=responses(400, 401, 403, 404))
    async def get_tenant(self, request: Request[Any, Any, Any], tenant_id: TenantId) -> Tenant:
        """One tenant's settings (platform admins only)."""
        return await _store(request).tenant(tenant_id).info()

    @patch("/{tenant_id:str}", responses=responses(400, 401, 403, 404, 413, 422))
    async def update_tenant(
        self,
        caller: Caller,
        request: Request[Any, Any, Any],
        tenant_id: TenantId,
        data: TenantUpdate,
    ) -> Tenant:
        """Change a tenant's routing, session limit, policy (the catalog tools, egress
        hosts and transfer destinations its flows may use, and its quotas) or how long
        it keeps callers' memory (platform admins only)."""
        t = _store(request).tenant(tenant_id)
        info = await t.info()
        if data.routing is not UNSET:
            info = await t.set_routing(_checked(data.routing), actor=caller.actor)
        if data.max_concurrent_sessions is not UNSET:
            info = await t.set_limits(
                max_concurrent_sessions=data.max_concurrent_sessions,
                actor=caller.actor,
            )
        if data.policy is not UNSET:
            info = await t.set_policy(data.policy, actor=caller.actor)
        if data.memory_days is not UNSET:
            info = await t.set_retention(memory_days=data.memory_days, actor=caller.actor)
        return info

    @post("/{tenant_id:str}/keys", responses=responses(400, 401, 403, 404, 413))
    async def create_tenant_key(
        self, caller: Caller, request: Request[Any, Any, Any], tenant_id: TenantId, data: KeyCreate
    ) -> NewKey:
        """A key for any tenant (platform admins only): how a new tenant gets its first
        admin key. Audited in that tenant's log under the platform key."""
        record, secret = (
            await _store(request)
            .tenant(tenant_id)
            .create_key(data.role, actor=caller.actor, name=data.name)
        )
        return NewKey(key=record, secret=secret)

"""What a tenant's flows may use: ``/api/v1/policy`` (the grants, read-only to the
tenant; platform admins set them on ``/api/v1/tenants/{id}``), ``/api/v1/tools`` (the
catalog tools granted) and ``/api/v1/secrets`` (write-only: names are listed, values
never leave the store except to the worker that runs the tenant's calls)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, put
from litestar.params import Parameter

from flowctl.api.auth import Caller
from flowctl.api.errors import responses
from flowctl.api.models import SecretValue, ToolView
from flowctl.engine.boundary import TenantPolicy
from flowctl.engine.store import SecretInfo

__all__ = ["PolicyController", "SecretsController"]

SecretName = Annotated[
    str, Parameter(description="The secret's name, as `${NAME}` in a flow.", max_length=128)
]


class PolicyController(Controller):
    path = "/"
    tags = ("tenant",)

    @get("/policy", opt={"need": "viewer"}, responses=responses(401, 403))
    async def policy(self, caller: Caller) -> TenantPolicy:
        """What the operator grants this tenant's flows: catalog tools, egress hosts,
        transfer destinations and quotas (see docs/security.md)."""
        return (await caller.tenant.info()).policy

    @get("/tools", opt={"need": "viewer"}, responses=responses(401, 403))
    async def tools(self, caller: Caller, request: Request[Any, Any, Any]) -> list[ToolView]:
        """The operator's catalog tools granted to this tenant, to use in a flow as
        `{"kind": "catalog", "name": NAME}`."""
        catalog = request.app.state.store.catalog
        if catalog is None:
            return []
        granted = (await caller.tenant.info()).policy.tools
        return [ToolView.of(name, catalog.tools[name]) for name in granted if name in catalog.tools]


class SecretsController(Controller):
    path = "/secrets"
    tags = ("tenant",)

    @get("/", opt={"need": "developer"}, responses=responses(401, 403))
    async def list_secrets(self, caller: Caller) -> list[SecretInfo]:
        """The tenant's secrets by name, with when each changed; never a value."""
        return await caller.tenant.secrets()

    @put("/{name:str}", opt={"need": "admin"}, responses=responses(401, 403, 413))
    async def set_secret(self, caller: Caller, name: SecretName, data: SecretValue) -> SecretInfo:
        """Set or rotate a secret (what `${NAME}` and `api_key_env` mean in the tenant's
        flows). The value is never returned; the audit log records the name only."""
        return await caller.tenant.set_secret(name, data.value, actor=caller.actor)

    @delete("/{name:str}", opt={"need": "admin"}, responses=responses(401, 403, 404))
    async def delete_secret(self, caller: Caller, name: SecretName) -> None:
        """Delete a secret; flows that use it fail their calls that need it."""
        await caller.tenant.delete_secret(name, actor=caller.actor)

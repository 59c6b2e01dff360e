"""A tenant's webhooks reach only what its http tools could: hosts the operator
granted, over https, public addresses checked after DNS. A granted name that resolves
to loopback (or a private address) is refused before anything connects."""

from __future__ import annotations

from pathlib import Path

from storekit import Clock, flow_doc, opened

from flowctl.engine.boundary import TenantPolicy
from flowctl.engine.store.documents import push_document
from flowctl.worker.webhooks import Deliverer


async def test_a_granted_name_resolving_to_loopback_is_refused_at_delivery(tmp_path: Path) -> None:
    async with await opened(tmp_path / "flowctl.db", Clock()) as store:
        # The operator granted `localhost` (a mistake, or a DNS name an attacker later
        # points at 127.0.0.1): the name passes, its address does not.
        await store.create_tenant(
            "acme", actor="op", policy=TenantPolicy(egress_hosts=["localhost"])
        )
        acme = store.tenant("acme")
        await push_document(acme, flow_doc(), actor="op")
        await acme.publish("clinic", 1, actor="op")
        await acme.create_webhook("https://localhost/steal", ["*"], actor="op")
        await acme.start_session("clinic", session_id="s1")
        deliverer = Deliverer(store)  # the production path: no egress override
        try:
            assert await deliverer.run_once() == 1
        finally:
            await deliverer.aclose()
        [d] = await acme.deliveries()
        assert d.status == "pending"
        assert d.last_error == "refused: it resolves to 127.0.0.1, a loopback address"


async def test_addresses_and_plain_http_are_never_subscribed(tmp_path: Path) -> None:
    async with await opened(tmp_path / "flowctl.db", Clock()) as store:
        await store.create_tenant(
            "acme", actor="op", policy=TenantPolicy(egress_hosts=["hooks.acme.example"])
        )
        acme = store.tenant("acme")
        for url in (
            "https://127.0.0.1/x",
            "https://169.254.169.254/latest/meta-data",
            "http://hooks.acme.example/x",
            "https://user:pw@hooks.acme.example/x",
        ):
            try:
                await acme.create_webhook(url, ["*"], actor="op")
            except Exception as exc:
                assert str(exc).startswith(f"Webhook URL `{url}` cannot be reached: "), exc
            else:
                raise AssertionError(f"{url} was subscribed")
        assert await acme.webhooks() == []

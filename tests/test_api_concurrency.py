"""Two clients changing one flow at once, through a real `flowctl serve`: every update
is kept as its own version, and the published pointer moves only by a publish whose
base is current; the other gets 409."""

from __future__ import annotations

import asyncio

import httpx
from apikit import Server, error
from storekit import flow_doc


async def test_api_concurrent_updates_keep_both_versions_and_publish_once(api: Server) -> None:
    headers = {"Authorization": f"Bearer {api.keys['acme-developer']}"}
    with api.client("acme-developer") as c:
        assert c.post("/api/v1/flows", content=flow_doc("race")).status_code == 201
        assert c.post("/api/v1/flows/race/publish", json={"version": 1}).status_code == 200
    async with (
        httpx.AsyncClient(base_url=api.base, headers=headers) as ana,
        httpx.AsyncClient(base_url=api.base, headers=headers) as bo,
    ):
        # Both read v1, both edit it at once: two new versions, neither lost.
        pushed = await asyncio.gather(
            ana.put("/api/v1/flows/race", content=flow_doc("race", note="by ana")),
            bo.put("/api/v1/flows/race", content=flow_doc("race", note="by bo")),
        )
        assert [r.status_code for r in pushed] == [200, 200]
        versions = sorted(r.json()["version"] for r in pushed)
        assert versions == [2, 3]
        # Both publish their own on the base they read (v1): one wins, one is told.
        published = await asyncio.gather(
            *(
                client.post(
                    "/api/v1/flows/race/publish",
                    json={"version": r.json()["version"], "expected_current": 1},
                )
                for client, r in zip((ana, bo), pushed, strict=True)
            )
        )
        codes = sorted(r.status_code for r in published)
        assert codes == [200, 409]
        won = next(r for r in published if r.status_code == 200).json()["version"]
        lost_response = next(r for r in published if r.status_code == 409)
        lost = next(r.json()["version"] for r in pushed if r.json()["version"] != won)
        assert lost_response.json() == error(
            "conflict",
            f"Cannot publish `race` v{lost}: expected v1 to be published, but v{won} is "
            "(someone changed it in between); read the flow again and retry",
            {"expected_current": 1, "published": won},
        )
        flow = (await ana.get("/api/v1/flows/race")).json()
        assert (flow["version"], flow["published"]) == (won, won)
        listed = (await bo.get("/api/v1/flows/race/versions")).json()
        assert [v["version"] for v in listed] == [1, 2, 3]
        history = (await bo.get("/api/v1/flows/race/history")).json()
        assert [(h["version"], h["previous"]) for h in history] == [(1, None), (won, 1)]

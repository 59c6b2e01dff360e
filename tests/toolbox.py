"""Python tools used by the engine tests (referenced as `toolbox:NAME`)."""

from __future__ import annotations

import asyncio
import threading
import time

# Holds `wait_for_gate` calls until a test sets it (at most GATE_LIMIT seconds, so a
# broken test cannot hang the suite).
GATE = threading.Event()
GATE_LIMIT = 10.0


def lookup_patient(phone: str) -> dict:
    return {"patient": {"id": "P-17", "name": "Ana Ruiz"}, "phone": phone}


async def book(day: str, slot: str = "10:00") -> dict:
    await asyncio.sleep(0)
    return {"status": "booked", "slot": f"{day} {slot}"}


def explode() -> dict:
    raise RuntimeError("database is down")


def slow() -> dict:
    time.sleep(1)
    return {}


async def slow_async() -> dict:
    await asyncio.sleep(5)
    return {}


def not_data() -> object:
    return object()


def wait_for_gate() -> dict:
    return {"opened": GATE.wait(GATE_LIMIT)}

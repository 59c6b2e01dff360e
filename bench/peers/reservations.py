"""The restaurant's booking system, as both sides of ``bench/peer_bench.py`` call it:
answers at once (no network), so only the frameworks' own time is measured."""

from __future__ import annotations

from typing import Any

TIMES = ["5:00 PM", "6:00 PM", "7:00 PM", "8:00 PM", "9:00 PM", "10:00 PM"]
BOOKED = {"5:00 PM", "7:00 PM", "8:00 PM", "10:00 PM"}


async def check_availability(party_size: int, time: str) -> dict[str, Any]:
    """Whether a table for ``party_size`` is free at ``time``; when it is not, the times
    still free tonight, as they are spoken ("6:00 PM or 9:00 PM")."""
    free = [t for t in TIMES if t not in BOOKED]
    available = time in free and 1 <= party_size <= 12
    return {"available": available, "alternatives": "" if available else " or ".join(free)}

"""How stored things are named: tenants, flows, knowledge bases and their documents all
appear in URLs, file names and tool definitions, so one pattern serves every one of
them (``flowctl.engine.store.documents.ID_PATTERN`` is compiled from it). Kept in a
module of its own so the flow format can use it without loading anything else."""

from __future__ import annotations

__all__ = ["NAME_PATTERN"]

# `acme`, `clinic`, `faq-2025`, `opening-hours.md`
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"

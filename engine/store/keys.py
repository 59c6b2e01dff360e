"""API keys: how they look, how they are made, and the only form the store keeps.

A key is ``fk_`` + 12 hex digits (its id: public, in listings and the audit log) +
``_`` + 43 URL-safe characters (256 random bits)::

    fk_3f9a2c1b0d4e_Qm9vLXN1cGVyLXNlY3JldC1rZXktZm9yLWRvY3MtMTIzNDU2

The store keeps the id and the SHA-256 of the whole key, never the key: a stolen
database does not give working keys, and with 256 random bits a plain hash needs no
salt or slow KDF (those defend guessable passwords). Checking a key compares digests
in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

__all__ = ["KEY_PATTERN", "ROLES", "hash_key", "key_id_of", "matches", "new_key"]

ROLES = ("admin", "developer", "viewer")  # most powerful first
KEY_PATTERN = re.compile(r"^(fk_[0-9a-f]{12})_[A-Za-z0-9_-]{43}$")


def new_key() -> tuple[str, str]:
    """A fresh ``(key_id, key)``."""
    key_id = f"fk_{secrets.token_hex(6)}"
    return key_id, f"{key_id}_{secrets.token_urlsafe(32)}"


def key_id_of(key: str) -> str | None:
    """The id part of something that looks like a key, else None."""
    match = KEY_PATTERN.match(key)
    return match.group(1) if match else None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def matches(key: str, stored_hash: str) -> bool:
    """Whether ``key`` hashes to ``stored_hash``, compared in constant time."""
    return hmac.compare_digest(hash_key(key), stored_hash)

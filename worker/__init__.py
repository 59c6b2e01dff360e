"""LiveKit adapter (later issues)."""

"""The LiveKit adapter: the agent that mirrors a conversation's state, the voice
worker and its sessions, and the text-only simulator (scenario runs and the
interactive session). It knows LiveKit and holds no flow logic of its own."""

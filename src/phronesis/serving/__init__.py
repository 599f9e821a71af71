"""`phronesis serve`: a local model behind an OpenAI-compatible HTTP API (server) and its decoding (engine)."""

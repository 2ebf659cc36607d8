"""Synthscope HTTP API (DESIGN §4): thin FastAPI layer over the `synthscope` core."""

"""Building and caching the Python environments runs ask for (uv layers over the base interpreter)."""

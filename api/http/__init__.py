"""The HTTP API (FastAPI): routes, dependencies, problem documents, the write path."""

"""Stele's interfaces: the `stele` command line (now) and the HTTP API (issue 6)."""

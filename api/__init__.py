"""Stele's interfaces: the `stele` command line and the HTTP API."""

"""Transfers between archives: the package (formats, writer) and the transfer service."""

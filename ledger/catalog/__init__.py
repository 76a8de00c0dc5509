"""Shared catalogs: the versions a node holds, the centre's publication, consumers' sync."""

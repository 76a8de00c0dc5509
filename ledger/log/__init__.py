"""The RFC 9162 log: events into leaves, the tree, signed checkpoints, the log key, the audit."""

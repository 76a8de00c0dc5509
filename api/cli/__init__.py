"""The `stele` command: one module per command group."""

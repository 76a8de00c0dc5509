"""Events, their mapping, the log's tables, content and idempotency keys: all the ledger keeps."""

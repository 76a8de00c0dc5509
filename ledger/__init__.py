"""Everything that persists and proves: the event store, the content store, the integrator that
feeds one RFC 9162 Merkle log, checkpoints, the audit and the benchmark."""

"""Long-term proof: RFC 3161 anchoring of checkpoints, the TSA client, RFC 4998 renewal."""

"""Development trust only: a PKI and an RFC 3161 TSA made on this machine. Never in production."""

"""The witness: a C2SP tlog-witness cosigning other logs' checkpoints (service.py)."""

"""Waiting in tests for something another process or thread does: one helper for all."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def until(check: Callable[[], Any], what: str, *, timeout: float = 60.0,
          every: float = 0.1) -> Any:
    """`check()`'s first truthy answer, polled every `every` seconds; AssertionError naming
    `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")

"""Go programs as test oracles: built offline (GOPATH mode against Debian's packaged
golang.org/x/mod), run with a JSON request on stdin, answering JSON on stdout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

GoRun = Callable[[dict[str, Any]], dict[str, Any]]


def go_program(source: Path, out: Path, *, timeout: float) -> GoRun:
    """Build `source`/main.go into `out` (skip without Go, fail in CI); a function that runs
    it on one request."""
    go = shutil.which("go")
    if go is None:
        message = "`go` is not on PATH: apt-get install -y golang-go golang-golang-x-mod-dev"
        if os.environ.get("CI") or os.environ.get("STELE_REQUIRE_GO") == "1":
            pytest.fail(message)
        pytest.skip(message)
    binary = out / source.name
    env = {
        **os.environ,
        # GOPATH mode against the packaged sources; never the network.
        "GO111MODULE": "off",
        "GOPATH": os.environ.get("STELE_GOPATH", "/usr/share/gocode"),
        "GOCACHE": str(out / "cache"),
        "GOFLAGS": "",
        "GOPROXY": "off",
    }
    build = subprocess.run([go, "build", "-o", str(binary), "main.go"], cwd=source, env=env,
                           capture_output=True, text=True, timeout=300)
    if build.returncode != 0:
        pytest.fail(f"could not build {source} (is golang-golang-x-mod-dev installed?):\n"
                    + build.stderr)

    def run(request: dict[str, Any]) -> dict[str, Any]:
        done = subprocess.run([str(binary)], input=json.dumps(request), capture_output=True,
                              text=True, timeout=timeout)
        assert done.returncode == 0, done.stderr
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    return run

"""The deployment files stay valid, and the layering that keeps verifiers trustworthy holds."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Who may import whom: api -> ledger -> domain -> verifiers. verifiers/ runs offline on a
# bundle, so it imports nothing of ours and no database or web code.
FORBIDDEN = {
    "verifiers": {"domain", "ledger", "api", "eventsourcing", "psycopg", "fastapi", "sqlite3"},
    "domain": {"ledger", "api", "psycopg", "fastapi", "sqlite3"},
    "ledger": {"api", "fastapi"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layering(package: str) -> None:
    broken = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
    }
    assert not {k: v for k, v in broken.items() if v}


@pytest.mark.parametrize("compose", ["docker-compose.yml", "docker-compose.federation.yml"])
def test_docker_compose_file_is_valid(compose: str) -> None:
    if shutil.which("docker-compose") is None:
        if os.environ.get("STELE_REQUIRE_COMPOSE") == "1":
            pytest.fail("docker-compose is required here (STELE_REQUIRE_COMPOSE=1)")
        pytest.skip("docker-compose (v1) not installed")
    done = subprocess.run(["docker-compose", "-f", compose, "config", "-q"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr

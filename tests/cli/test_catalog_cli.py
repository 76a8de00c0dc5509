"""`stele catalog` end to end, as a centre's operator and a consumer's run it: seed and publish
from CSV, the trust file, a sync from the centre's published directory, the look-ups, and a
refused sync (exit 1, its code on stderr, nothing taken)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.cli.test_cli import Stele

pytestmark = pytest.mark.slow


def node(root: Path, name: str) -> Stele:
    stele = Stele(root / name, None)
    (root / name).mkdir()
    stele.env.update(STELE_LOG_ORIGIN=f"{name}.test/log",
                     STELE_DATABASE_URL=f"sqlite:///{root / name / 'ledger.sqlite3'}",
                     STELE_DATA_DIR=str(root / name / "data"), STELE_AGENCY="000.00.00.H00")
    return stele


def test_seed_publish_sync_and_look_up(tmp_path: Path) -> None:
    centre, north = node(tmp_path, "centre"), node(tmp_path, "north")
    seeded = centre.json("catalog", "seed")
    assert seeded["published"] == {"access_levels": 1, "agencies": 1, "doc_types": 1,
                                   "fonds": 1, "retention": 1}
    assert seeded["index"]["versions"]["agencies"] == 1
    assert centre.json("catalog", "seed")["published"] == {}  # nothing twice
    trust = tmp_path / "trust.txt"
    trust.write_text(centre.run("catalog", "trust").stdout)
    assert [line.split()[0] for line in trust.read_text().splitlines()] == ["log", "index"]
    tiles = tmp_path / "centre" / "data" / "tiles"
    old = tmp_path / "old-tiles"
    shutil.copytree(tiles, old)

    synced = north.json("catalog", "sync", "--from", str(tiles), "--trust", str(trust))
    assert synced["taken"]["doc_types"] == 1

    csv = tmp_path / "doc_types.csv"
    csv.write_text("code,name,abbreviation,valid_from,valid_to\n01,Công văn,,,\n"
                   "02,Quyết định,QĐ,,\n", encoding="utf-8")
    published = centre.json("catalog", "publish", "doc_types", str(csv))
    assert published["version"] == 2 and published["index"]["versions"]["doc_types"] == 2
    again = centre.run("catalog", "publish", "doc_types", str(csv), ok=False)
    assert again.returncode == 1 and "catalog_unchanged" in again.stderr
    assert north.json("catalog", "sync", "--from", str(tiles), "--trust",
                      str(trust))["taken"] == {"doc_types": 2}

    shown = north.json("catalog", "show", "doc_types")
    assert shown["version"] == 2 and [e["name"] for e in shown["entries"]] == [
        "Công văn", "Quyết định"]
    assert len(north.json("catalog", "show", "doc_types", "--version", "1")["entries"]) == 29
    assert [h["version"] for h in north.json("catalog", "code", "doc_types", "03")[
        "history"]] == [1, 2]  # in version 1, gone in 2
    listed = {c["catalog"]: c["version"] for c in north.json("catalog", "list")["catalogs"]}
    assert listed["doc_types"] == 2

    refused = north.run("catalog", "sync", "--from", str(old), "--trust", str(trust), ok=False)
    assert refused.returncode == 1 and "error: catalog_rollback:" in refused.stderr
    status = north.json("catalog", "status")
    assert status["last_refused"]["code"] == "catalog_rollback"
    assert status["versions"]["doc_types"] == 2
    assert north.json("log", "status")["catalogs"]["stale"] is False
    keys = centre.json("catalog", "key", "--add")["keys"]
    assert len(keys) == 2
    assert os.path.exists(tmp_path / "centre" / "data" / "catalog-keys" / "2.pem")
    assert json.loads(centre.run("catalog", "index", "--force").stdout)["published"]

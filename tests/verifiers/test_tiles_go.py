"""Tiled logs written with verifiers.tiles, read by Go's golang.org/x/mod/sumdb/tlog.

For each tree size, the directory (checkpoint, every tile, every entry bundle) is written with
verifiers.tiles' paths and framing from a list of entries; the Go program
(tests/verifiers/go/tiles/main.go, built once per session, offline, in GOPATH mode against
Debian's packaged sources) recomputes the tree from the entries itself, compares every tile
Go says the tree has with its own, reads the root through tlog.TileHashReader, and checks the
inclusion and consistency proofs verifiers.tiles.TileReader built from the tiles (and that
Go's own proofs from the tiles are the same hashes).

Needs: apt packages golang-go and golang-golang-x-mod-dev (sources under /usr/share/gocode;
STELE_GOPATH overrides). Without `go` on PATH the tests skip, unless CI is set or
STELE_REQUIRE_GO=1, when they fail.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.verifiers import tilelog
from tests.verifiers.goprogram import GoRun, go_program
from tests.verifiers.tilelog import VKEY
from verifiers.merkle import leaf_hash, root_of
from verifiers.tiles import TileReader, directory_fetch, tiles_for

GO_SOURCE = Path(__file__).resolve().parent / "go" / "tiles"



@pytest.fixture(scope="session")
def go_tiles(tmp_path_factory: pytest.TempPathFactory) -> GoRun:
    return go_program(GO_SOURCE, tmp_path_factory.mktemp("gotiles"), timeout=120)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _indexes(size: int) -> list[int]:
    return sorted({0, 1 % size, 255 % size, 256 % size, size // 3, size // 2, size - 1})


def _old_sizes(size: int) -> list[int]:
    return sorted({s for s in (1, 2, 255, 256, 257, 65535, 65536, size // 2, size - 1)
                   if 0 < s < size})


@pytest.mark.parametrize("size", [
    1, 2, 255, 256, 257, 511, 1000,
    pytest.param(65535, marks=pytest.mark.slow),
    pytest.param(65536, marks=pytest.mark.slow),
    pytest.param(70000, marks=pytest.mark.slow),
])
def test_go_reads_our_tiles_and_accepts_our_proofs(
    go_tiles: GoRun, tmp_path: Path, size: int
) -> None:
    entries = tilelog.leaves(size)
    tilelog.write(tmp_path, tilelog.files(entries))
    reader = TileReader(directory_fetch(tmp_path), VKEY)
    root = _b64(root_of([leaf_hash(e) for e in entries]))
    inclusion = [{"index": i, "size": s, "proof": [_b64(h) for h in reader.inclusion_proof(i, s)]}
                 for s in sorted({size, *_old_sizes(size)}) for i in _indexes(s)]
    consistency = [{"size1": s, "proof": [_b64(h) for h in reader.consistency_proof(s)]}
                   for s in _old_sizes(size)]
    got = go_tiles({"dir": str(tmp_path), "verifier_key": VKEY, "inclusion": inclusion,
                    "consistency": consistency})
    assert got["note_error"] == ""
    assert (got["origin"], got["size"], got["root"]) == (tilelog.ORIGIN, size, root)
    assert got["entries_root"] == root
    assert got["tiles_root_error"] == ""
    assert got["tiles_root"] == root
    assert got["tiles"] == [t.path for t in tiles_for(size)]
    assert got["tile_errors"] == []
    assert got["inclusion_errors"] == [""] * len(inclusion)
    assert got["inclusion_go_equal"] == [True] * len(inclusion)
    assert got["consistency_errors"] == [""] * len(consistency)
    assert got["consistency_go_equal"] == [True] * len(consistency)


def test_go_refuses_a_checkpoint_of_another_key(go_tiles: GoRun, tmp_path: Path) -> None:
    tilelog.write(tmp_path, tilelog.files(tilelog.leaves(300), key=tilelog.OTHER_KEY))
    got = go_tiles({"dir": str(tmp_path), "verifier_key": VKEY, "inclusion": [],
                    "consistency": []})
    assert got["note_error"] != ""


def test_go_finds_a_changed_tile(go_tiles: GoRun, tmp_path: Path) -> None:
    tilelog.write(tmp_path, tilelog.files(tilelog.leaves(1000)))
    path = tmp_path / "tile/0/001"
    data = bytearray(path.read_bytes())
    data[7] ^= 1
    path.write_bytes(bytes(data))
    got = go_tiles({"dir": str(tmp_path), "verifier_key": VKEY, "inclusion": [],
                    "consistency": []})
    assert got["tile_errors"] == ["tile/0/001: differs from Go's tile"]

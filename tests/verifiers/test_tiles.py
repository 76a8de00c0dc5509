"""verifiers.tiles: C2SP tlog-tiles paths, contents, the checked reader and the audit.

Logs are written by tests/verifiers/tilelog.py from a list of entries, every level's hashes
computed with verifiers.merkle.root_of (the plain RFC 9162 definition), so the reader and the
audit are checked against an independent writer; roots and proofs against root_of and
verify_inclusion / verify_consistency.
"""

from __future__ import annotations

import gzip
import http.server
import io
import threading
import zipfile
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.verifiers import tilelog
from tests.verifiers.tilelog import KEY, OTHER_KEY, OTHER_VKEY, VKEY, GrowingLog
from verifiers.canonical import canonical_bytes, parse_canonical
from verifiers.errors import MalformedError, ProofError, VerificationError
from verifiers.merkle import (
    EMPTY_ROOT,
    leaf_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from verifiers.note import format_checkpoint, sign_note
from verifiers.report import Report, Verdict
from verifiers.tiles import (
    CHECKPOINT,
    ENTRIES,
    MAX_ENTRY_SIZE,
    TILE_BYTES,
    WIDTH,
    EntriesMalformedError,
    EntryBundleMismatchError,
    EntryTooLargeError,
    LogKeyNotPinnedError,
    Tile,
    TileMismatchError,
    TileMissingError,
    TileReader,
    audit_tiles,
    directory_fetch,
    entries_path,
    entry_bundles_for,
    frame_entries,
    http_fetch,
    parse_entries,
    parse_tile,
    parse_tile_path,
    tile_bytes,
    tile_hash,
    tile_leaf_range,
    tile_node_range,
    tile_path,
    tile_width,
    tiles_for,
    zip_fetch,
)

PROPERTY = settings(max_examples=120, deadline=None)
Files = dict[str, bytes]


def memory_fetch(files: Files) -> Callable[[str], bytes]:
    def fetch(path: str) -> bytes:
        try:
            return files[path]
        except KeyError:
            raise TileMissingError("no such file", path=path) from None

    return fetch


def flip(data: bytes, at: int = 0) -> bytes:
    changed = bytearray(data)
    changed[at] ^= 0x01
    return bytes(changed)


def findings(report: Report) -> list[tuple[str, str | None]]:
    """(code, the file named) of every check not PASSED."""
    return [(c.code or "", c.evidence.get("path", c.evidence.get("tile")))
            for c in report.failures]


# --- Paths --------------------------------------------------------------------------------


def test_paths_as_the_spec_writes_them() -> None:
    assert tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tile_path(0, 5) == "tile/0/005"
    assert tile_path(3, 1234067, 1) == "tile/3/x001/x234/067.p/1"
    assert tile_path(1, 1000) == "tile/1/x001/000"
    assert tile_path(63, 0, 255) == "tile/63/000.p/255"
    assert tile_path(0, 999) == "tile/0/999"
    assert entries_path(5) == "tile/entries/005"
    assert entries_path(1024, 17) == "tile/entries/x001/024.p/17"
    assert Tile(0, 273, 112).path == "tile/0/273.p/112"
    assert Tile(ENTRIES, 273, 112).path == "tile/entries/273.p/112"
    for bad in [(-1, 0, 256), (64, 0, 256), (0, -1, 256), (0, 0, 0), (0, 0, 257), (True, 0, 256)]:
        with pytest.raises(MalformedError):
            tile_path(*bad)


def test_parse_tile_path_round_trips() -> None:
    assert parse_tile_path("tile/0/x001/x234/067") == (0, 1234067, 256)
    assert parse_tile_path("tile/12/000.p/1") == (12, 0, 1)
    assert parse_tile_path("tile/entries/x001/024.p/17") == ("entries", 1024, 17)
    assert Tile.from_path("tile/entries/005") == Tile(ENTRIES, 5, 256)


@pytest.mark.parametrize("path", [
    "tile/00/000", "tile/01/000", "tile/64/000", "tile/-1/000", "tile/data/000",
    "tile/0/5", "tile/0/0005", "tile/0/x000/005", "tile/0/x1/005", "tile/0/x001",
    "tile/0/001/002", "tile/0/005.p/0", "tile/0/005.p/256", "tile/0/005.p/300",
    "tile/0/005.p/012", "tile/0/005.p/", "tile/0/005.p", "tile/0/005/", "/tile/0/005",
    "tile/0/005.p/1\n", "tile/0/\uff10\uff10\uff15", "tile/8/0/000", "tile/entries/5",
    "tiles/0/000", "", "tile/0/+05",
])
def test_parse_tile_path_refuses_what_the_spec_does_not_write(path: str) -> None:
    with pytest.raises(MalformedError):
        parse_tile_path(path)


@given(st.integers(-1, 63), st.integers(0, 2**56), st.integers(1, 256))
@PROPERTY
def test_every_path_parses_back(level: int, index: int, width: int) -> None:
    tile = Tile(level, index, width)
    assert Tile.from_path(tile.path) == tile


# --- Which tiles a tree has ---------------------------------------------------------------


def _level0(full: int, width: int = 0) -> list[str]:
    return [tile_path(0, n) for n in range(full)] + ([tile_path(0, full, width)] if width else [])


GOLDEN = {
    0: [],
    1: ["tile/0/000.p/1"],
    255: ["tile/0/000.p/255"],
    256: ["tile/0/000", "tile/1/000.p/1"],
    257: ["tile/0/000", "tile/0/001.p/1", "tile/1/000.p/1"],
    65535: [*_level0(255, 255), "tile/1/000.p/255"],
    65536: [*_level0(256), "tile/1/000", "tile/2/000.p/1"],
    # The spec's example: 273 full level 0 tiles and one of width 112, one full level 1 tile
    # and one of width 17, one level 2 tile of width 1.
    70000: [*_level0(273, 112), "tile/1/000", "tile/1/001.p/17", "tile/2/000.p/1"],
}


@pytest.mark.parametrize("size", sorted(GOLDEN))
def test_tiles_for_is_exactly_the_spec(size: int) -> None:
    assert [t.path for t in tiles_for(size)] == GOLDEN[size]
    level0 = [p for p in GOLDEN[size] if p.startswith("tile/0/")]
    assert [b.path for b in entry_bundles_for(size)] == [
        p.replace("tile/0/", "tile/entries/") for p in level0]
    # The spec's rule: the partial tile of level l has floor(s / 256**l) mod 256 hashes.
    for tile in tiles_for(size):
        if tile.is_partial:
            assert tile.width == (size // 256**tile.level) % 256
        assert tile_width(tile.level, tile.index, size) == tile.width


def test_tiles_for_70000_counts() -> None:
    tiles = tiles_for(70000)
    assert sum(1 for t in tiles if t.level == 0 and not t.is_partial) == 273
    assert [t.path for t in tiles if t.is_partial] == [
        "tile/0/273.p/112", "tile/1/001.p/17", "tile/2/000.p/1"]
    assert tile_width(0, 274, 70000) == 0
    assert tile_width(3, 0, 70000) == 0


def test_node_and_leaf_ranges() -> None:
    assert tile_node_range(Tile(0, 273, 112)) == (0, 69888, 70000)
    assert tile_node_range(Tile(1, 1, 17)) == (8, 256, 273)
    assert tile_node_range(Tile(2, 0, 1)) == (16, 0, 1)
    assert tile_node_range(Tile(ENTRIES, 3)) == (0, 768, 1024)
    assert tile_leaf_range(Tile(1, 1, 17)) == (65536, 65536 + 17 * 256)
    assert tile_leaf_range(Tile(2, 0, 1)) == (0, 65536)


# --- Tile bytes and entry bundles ---------------------------------------------------------


@pytest.mark.parametrize("size", [1, 255, 256, 257, 600])
def test_tile_bytes_for_small_trees(size: int) -> None:
    leaves = tilelog.leaves(size)
    hashes = [leaf_hash(x) for x in leaves]
    files = tilelog.files(leaves)
    for tile in tiles_for(size):
        data = files[tile.path]
        if tile.level == 0:
            assert data == b"".join(hashes[tile.index * 256 : tile.index * 256 + tile.width])
        else:
            assert tile.level == 1
            assert data == b"".join(root_of(hashes[n * 256 : (n + 1) * 256])
                                    for n in range(tile.width))
        assert parse_tile(data, tile.width) == [data[i : i + 32] for i in range(0, len(data), 32)]
        if not tile.is_partial:
            assert tile_hash(data) == root_of(parse_tile(data, 256))
    for bundle in entry_bundles_for(size):
        first = bundle.index * 256
        assert parse_entries(files[bundle.path], bundle.width) == leaves[first:first + bundle.width]
    reader = TileReader(memory_fetch(files), VKEY)
    assert reader.root == root_of(hashes)
    assert reader.size == size


def test_frame_entries_and_back() -> None:
    entries = [b"", b"a", b"x" * 300, b"y" * MAX_ENTRY_SIZE]
    framed = frame_entries(entries)
    assert framed[:3] == b"\x00\x00\x00"
    assert framed[2:5] == b"\x00\x01a"
    assert framed[5:7] == (300).to_bytes(2, "big")
    assert parse_entries(framed, 4) == entries
    with pytest.raises(EntryTooLargeError) as info:
        frame_entries([b"z" * (MAX_ENTRY_SIZE + 1)])
    assert info.value.code == "entry_too_large"
    for bad in ([], [b"a"] * 257, b"abc", [b"a", "b"]):
        with pytest.raises(MalformedError):
            frame_entries(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(("data", "width"), [
    (b"", 1),                          # no entry at all
    (b"\x00", 1),                      # ends inside a length
    (b"\x00\x05abc", 1),               # ends inside an entry
    (b"\x00\x01a\x00", 1),             # trailing byte
    (b"\x00\x01a\x00\x01b", 1),        # more entries than the width
    (b"\x00\x01a", 2),                 # fewer entries than the width
])
def test_parse_entries_refuses(data: bytes, width: int) -> None:
    with pytest.raises(EntriesMalformedError) as info:
        parse_entries(data, width)
    assert info.value.code == "entries_malformed"


@given(st.lists(st.binary(max_size=600), min_size=1, max_size=256))
@PROPERTY
def test_framing_round_trips(entries: list[bytes]) -> None:
    assert parse_entries(frame_entries(entries), len(entries)) == entries


def test_tile_bytes_refuses() -> None:
    for bad in ([], [b"\x00" * 32] * 257, [b"\x00" * 31], b"\x00" * 32):
        with pytest.raises(MalformedError):
            tile_bytes(bad)  # type: ignore[arg-type]
    with pytest.raises(MalformedError):
        parse_tile(b"\x00" * 33, 1)


# --- The reader ---------------------------------------------------------------------------

SMALL = 3000


@cache
def small_log() -> GrowingLog:
    return GrowingLog(tilelog.leaves(SMALL))


@cache
def big_log() -> GrowingLog:
    return GrowingLog(tilelog.leaves(70000))


@cache
def root_at(log: GrowingLog, size: int) -> bytes:
    return log.root(size)


@given(st.data())
@PROPERTY
def test_proofs_from_tiles_verify(data: st.DataObject) -> None:
    log = small_log()
    size = data.draw(st.integers(1, SMALL), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    size1 = data.draw(st.integers(0, size), label="size1")
    reader = TileReader(log.fetch_at(size), VKEY)
    root = root_at(log, size)
    assert reader.root == root
    proof = reader.inclusion_proof(index)
    verify_inclusion(index, size, leaf_hash(log.entries[index]), proof, root)
    proof = reader.consistency_proof(size1)
    verify_consistency(size1, size, proof, root_at(log, size1), root)
    assert reader.root_at(size1) == root_at(log, size1)
    # An inclusion proof in an earlier tree, from the later tree's tiles.
    if index < size1:
        proof = reader.inclusion_proof(index, size1)
        verify_inclusion(index, size1, leaf_hash(log.entries[index]), proof, root_at(log, size1))
    assert reader.entry(index) == log.entries[index]
    assert reader.leaf_hash(index) == leaf_hash(log.entries[index])


@pytest.mark.parametrize("size", [65535, 65536, 65537, 70000])
def test_proofs_from_three_levels_of_tiles(size: int) -> None:
    log = big_log()
    reader = TileReader(log.fetch_at(size), VKEY)
    root = root_at(log, size)
    assert reader.root == root
    for index in (0, 255, 256, 65535 % size, size // 2, size - 1):
        verify_inclusion(index, size, leaf_hash(log.entries[index]),
                         reader.inclusion_proof(index), root)
    for size1 in (1, 256, 65535, 65536, size - 1):
        if size1 <= size:
            verify_consistency(size1, size, reader.consistency_proof(size1),
                               root_at(log, size1), root)
    assert list(reader.entries(size - 300, size)) == log.entries[size - 300 : size]


def test_reader_streams_all_entries() -> None:
    log = small_log()
    reader = TileReader(log.fetch_at(1000), VKEY)
    assert list(reader.entries()) == log.entries[:1000]
    assert list(reader.entries(255, 257)) == log.entries[255:257]
    assert list(reader.entries(5, 5)) == []


@pytest.mark.parametrize("size", [1000, 40000, 65000])
def test_missing_partial_tiles_are_read_from_full_ones(size: int) -> None:
    # The spec lets a log delete a partial tile once its full tile exists.
    log = big_log()
    reader = TileReader(log.fetch_at(size, partials=False), VKEY)
    assert reader.root == root_at(log, size)
    partials = [t for t in tiles_for(size) if t.is_partial]
    assert sorted(reader.fallbacks) == sorted(t.path for t in partials)
    verify_inclusion(size - 1, size, leaf_hash(log.entries[size - 1]),
                     reader.inclusion_proof(size - 1), reader.root)
    assert list(reader.entries(size - 3, size)) == log.entries[size - 3 : size]
    report = audit_tiles(log.fetch_at(size, partials=False), VKEY) if size == 1000 else None
    if report is not None:  # leaves are not events: only the tile checks are of interest
        assert {c.code for c in report.failures} == {"envelope_invalid"}


def test_reader_trusts_only_the_pinned_key() -> None:
    log = small_log()
    with pytest.raises(LogKeyNotPinnedError):
        TileReader(log.fetch_at(10), None)
    with pytest.raises(VerificationError) as info:
        TileReader(log.fetch_at(10), OTHER_VKEY)
    assert info.value.code == "checkpoint_key_mismatch"
    note = log.note(10)
    tampered = note.replace("\n10\n", "\n11\n")
    with pytest.raises(VerificationError) as info:
        TileReader(log.fetch_at(10), VKEY, checkpoint=tampered)
    assert info.value.code == "checkpoint_signature_invalid"
    with pytest.raises(VerificationError) as info:
        TileReader(log.fetch_at(10), VKEY, origin="another.example/log")
    assert info.value.code == "checkpoint_origin_mismatch"
    # A checkpoint for another size can be given; the tiles are read for that size.
    reader = TileReader(log.fetch_at(10), VKEY, checkpoint=log.note(9))
    assert reader.size == 9


def _tampered(fetch: Callable[[str], bytes], path: str, at: int = 0) -> Callable[[str], bytes]:
    def wrapped(asked: str) -> bytes:
        data = fetch(asked)
        return flip(data, at) if asked == path else data

    return wrapped


def test_reader_checks_full_tiles_the_root_does_not_read() -> None:
    # At 70,000 the root is computed from the partial tiles only. A tampered full tile, of
    # level 0 or 1, must still be refused the moment it is used (x/mod 0.7.0's TileHashReader
    # leaves such tiles unchecked when several subtree roots share a partial tile).
    log = big_log()
    for path, index in [("tile/1/000", 5), ("tile/0/000", 5), ("tile/0/100", 25700)]:
        reader = TileReader(_tampered(log.fetch_at(70000), path, 100), VKEY)
        with pytest.raises(TileMismatchError) as info:
            reader.inclusion_proof(index)
        assert info.value.evidence["path"] == path
        with pytest.raises(TileMismatchError):
            reader.entry(index)
    for path in ["tile/1/001.p/17", "tile/2/000.p/1", "tile/0/273.p/112"]:
        with pytest.raises(TileMismatchError) as info:
            TileReader(_tampered(log.fetch_at(70000), path), VKEY)
        assert path in info.value.evidence["paths"]


def test_reader_checks_entries_and_sizes() -> None:
    log = small_log()
    fetch = log.fetch_at(600)
    reader = TileReader(_tampered(fetch, "tile/entries/001", 5), VKEY)
    with pytest.raises(EntryBundleMismatchError) as info:
        list(reader.entries())
    assert info.value.evidence["path"] == "tile/entries/001"
    assert info.value.code == "entry_bundle_mismatch"

    def short(path: str) -> bytes:
        return fetch(path)[:-1] if path == "tile/0/001" else fetch(path)

    with pytest.raises(VerificationError) as malformed:
        TileReader(short, VKEY).leaf_hash(300)
    assert malformed.value.code == "tile_malformed"

    def missing(path: str) -> bytes:
        if path == "tile/0/000":
            raise OSError("gone")
        return fetch(path)

    with pytest.raises(TileMissingError) as gone:
        TileReader(missing, VKEY).leaf_hash(3)
    assert gone.value.evidence["path"] == "tile/0/000"
    with pytest.raises(ProofError):
        reader.inclusion_proof(600)
    with pytest.raises(ProofError):
        reader.consistency_proof(601)


def test_empty_tree() -> None:
    note = sign_note(format_checkpoint(tilelog.ORIGIN, 0, EMPTY_ROOT), tilelog.ORIGIN, KEY)
    files = {CHECKPOINT: note.encode()}
    reader = TileReader(memory_fetch(files), VKEY)
    assert (reader.size, reader.root, reader.consistency_proof(0)) == (0, EMPTY_ROOT, [])
    assert audit_tiles(memory_fetch(files), VKEY).bottom_line is Verdict.PASSED
    bad = sign_note(format_checkpoint(tilelog.ORIGIN, 0, b"\x01" * 32), tilelog.ORIGIN, KEY)
    report = audit_tiles(memory_fetch({CHECKPOINT: bad.encode()}), VKEY)
    assert findings(report) == [("checkpoint_root_mismatch", None)]


# --- Sources ------------------------------------------------------------------------------


def test_directory_zip_and_http_sources(tmp_path: Path) -> None:
    events = tilelog.events(700, records=50)
    files = tilelog.files(events)
    tilelog.write(tmp_path, files)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in files.items():
            archive.writestr("log/" + path, data)
    with zipfile.ZipFile(buffer) as archive:
        for fetch in (directory_fetch(tmp_path), zip_fetch(archive, "log/")):
            report = audit_tiles(fetch, VKEY)
            assert report.bottom_line is Verdict.PASSED, report.failures
            assert list(TileReader(fetch, VKEY).entries()) == events
            with pytest.raises(TileMissingError):
                fetch("tile/0/999")
            with pytest.raises(MalformedError):
                fetch("../checkpoint")
    with _serve(tmp_path) as base:
        fetch = http_fetch(base)
        assert audit_tiles(fetch, VKEY).bottom_line is Verdict.PASSED
        with pytest.raises(TileMissingError) as info:
            fetch("tile/0/999")
        assert info.value.evidence["status"] == 404
    with pytest.raises(MalformedError):
        http_fetch("file:///etc/")


class _Handler(http.server.SimpleHTTPRequestHandler):
    # Entry bundles gzipped with no negotiation, as tlog-tiles allows.
    def send_head(self):  # type: ignore[no-untyped-def]
        if "/entries/" not in self.path:
            return super().send_head()
        target = Path(self.translate_path(self.path))
        if not target.is_file():
            self.send_error(404)
            return None
        body = gzip.compress(target.read_bytes())
        self.send_response(200)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _serve:
    def __init__(self, root: Path) -> None:
        def handler(*args: Any) -> _Handler:
            return _Handler(*args, directory=str(root))

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)

    def __enter__(self) -> str:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- The audit ----------------------------------------------------------------------------

# 1,100 events of 100 records: level 0 tiles 000 to 003 full and 004.p/76, level 1 .p/4; the
# last event of each record is among the last 100 (so changing one breaks no later `prev`).
FAST = 1100
LAST_OF_ITS_RECORD = 1010  # in bundle 003, a full one


@cache
def fast_events() -> tuple[bytes, ...]:
    return tuple(tilelog.events(FAST, records=100))


def fast_files() -> Files:
    return tilelog.files(list(fast_events()))


def _rewritten_event(event: bytes) -> bytes:
    # Another canonical event of the same record and version: a changed note.
    value = parse_canonical(event)
    value["data"] = {**value["data"], "note": "rewritten"}
    return canonical_bytes(value)


def test_audit_of_a_sound_log() -> None:
    report = audit_tiles(memory_fetch(fast_files()), VKEY)
    assert report.bottom_line is Verdict.PASSED, report.failures
    assert {c.name for c in report.checks} == {"checkpoint", "entries", "events", "tiles", "root"}
    assert report.summary["entries"] == FAST
    assert report.summary["records"] == 100
    assert report.summary["tiles"] == len(tiles_for(FAST))


@pytest.mark.parametrize("size", [1, 255, 256, 257])
def test_audit_at_the_edges(size: int) -> None:
    report = audit_tiles(memory_fetch(tilelog.files(tilelog.events(size, records=40))), VKEY)
    assert report.bottom_line is Verdict.PASSED, report.failures


def _flip_in(files: Files, path: str, at: int = 0) -> Files:
    return {**files, path: flip(files[path], at)}


@pytest.mark.parametrize(("path", "at"), [
    ("tile/0/000", 0),        # full, level 0, not read by the root computation
    ("tile/0/001", 4000),     # full, level 0
    ("tile/0/003", 8191),     # full, level 0, the last byte
    ("tile/0/004.p/76", 31),  # partial, level 0
    ("tile/1/000.p/4", 100),  # partial, level 1
])
def test_a_changed_byte_in_any_tile_is_named(path: str, at: int) -> None:
    report = audit_tiles(memory_fetch(_flip_in(fast_files(), path, at)), VKEY)
    assert report.bottom_line is Verdict.FAILED
    assert findings(report) == [("tile_mismatch", path)]


def test_a_changed_entry_is_named_by_its_bundle() -> None:
    files = fast_files()
    events = list(fast_events())
    events[LAST_OF_ITS_RECORD] = _rewritten_event(events[LAST_OF_ITS_RECORD])
    files["tile/entries/003"] = frame_entries(events[768:1024])
    report = audit_tiles(memory_fetch(files), VKEY)
    assert findings(report) == [("entry_bundle_mismatch", "tile/entries/003")]
    assert report.failures[0].evidence["leaves"] == [LAST_OF_ITS_RECORD]
    assert report.failures[0].evidence["tile"] == "tile/0/003"


def test_a_changed_byte_in_a_bundle() -> None:
    files = fast_files()
    # A byte of an entry's text (the last event of its record): only the bundle is named.
    bundle = files["tile/entries/003"]
    event = fast_events()[LAST_OF_ITS_RECORD]
    at = bundle.index(event) + event.index(b'"note":"step') + 9
    report = audit_tiles(memory_fetch(_flip_in(files, "tile/entries/003", at)), VKEY)
    assert findings(report) == [("entry_bundle_mismatch", "tile/entries/003")]
    # A length prefix: the bundle no longer frames 256 entries.
    report = audit_tiles(memory_fetch(_flip_in(files, "tile/entries/001", 1)), VKEY)
    assert findings(report)[0] == ("entries_malformed", "tile/entries/001")
    report = audit_tiles(memory_fetch({**files, "tile/entries/004.p/76":
                                       files["tile/entries/004.p/76"] + b"\x00"}), VKEY)
    assert findings(report) == [("entries_malformed", "tile/entries/004.p/76")]


def test_a_consistent_forgery_of_a_bundle_and_its_tile() -> None:
    # The forger rewrote an entry and recomputed its level 0 tile, not the level above.
    files = fast_files()
    events = list(fast_events())
    events[LAST_OF_ITS_RECORD] = _rewritten_event(events[LAST_OF_ITS_RECORD])
    files["tile/entries/003"] = frame_entries(events[768:1024])
    files["tile/0/003"] = tile_bytes([leaf_hash(e) for e in events[768:1024]])
    report = audit_tiles(memory_fetch(files), VKEY)
    assert sorted(findings(report)) == [("entry_bundle_mismatch", "tile/entries/003"),
                                        ("tile_mismatch", "tile/0/003")]


def test_a_forged_chain_is_found_by_the_log_audit_rules() -> None:
    # A log whose tiles and checkpoint are all sound, over an event whose `prev` is wrong,
    # and one that is not canonical JSON.
    events = list(fast_events())
    value = parse_canonical(events[500])
    assert value["prev"] is not None
    value["prev"] = "A" * 43 + "="
    events[500] = canonical_bytes(value)
    events[600] = events[600].replace(b'{"actor"', b'{ "actor"', 1)
    report = audit_tiles(memory_fetch(tilelog.files(events)), VKEY)
    got = [(c.code, c.evidence["index"], c.evidence["path"]) for c in report.failures]
    assert ("chain_broken", 500, "tile/entries/001") in got
    assert ("envelope_invalid", 600, "tile/entries/002") in got
    assert {c.name for c in report.failures} == {"events"}


def test_the_checkpoint() -> None:
    files = fast_files()
    note = files[CHECKPOINT].decode()
    tampered = {**files, CHECKPOINT: note.replace(f"\n{FAST}\n", f"\n{FAST + 1}\n").encode()}
    assert findings(audit_tiles(memory_fetch(tampered), VKEY)) == [
        ("checkpoint_signature_invalid", CHECKPOINT)]
    other = tilelog.files(list(fast_events()), key=OTHER_KEY)
    assert findings(audit_tiles(memory_fetch(other), VKEY)) == [
        ("checkpoint_key_mismatch", CHECKPOINT)]
    broken = {**files, CHECKPOINT: note.replace("\n\n", "\n").encode()}
    assert findings(audit_tiles(memory_fetch(broken), VKEY)) == [
        ("checkpoint_malformed", CHECKPOINT)]
    gone = {k: v for k, v in files.items() if k != CHECKPOINT}
    assert findings(audit_tiles(memory_fetch(gone), VKEY)) == [("checkpoint_missing", CHECKPOINT)]
    report = audit_tiles(memory_fetch(files), VKEY, origin="another.example/log")
    assert findings(report) == [("checkpoint_origin_mismatch", CHECKPOINT)]


def test_no_pinned_key_is_never_passed() -> None:
    report = audit_tiles(memory_fetch(fast_files()), None)
    assert report.bottom_line is Verdict.INDETERMINATE
    assert findings(report) == [("log_key_not_pinned", CHECKPOINT)]
    # The rest still runs.
    report = audit_tiles(memory_fetch(_flip_in(fast_files(), "tile/0/001")), None)
    assert report.bottom_line is Verdict.FAILED
    assert ("tile_mismatch", "tile/0/001") in findings(report)


def test_missing_files() -> None:
    files = fast_files()
    for path in ["tile/0/002", "tile/1/000.p/4", "tile/0/004.p/76"]:
        report = audit_tiles(memory_fetch({k: v for k, v in files.items() if k != path}), VKEY)
        assert findings(report) == [("tile_missing", path)]
    report = audit_tiles(memory_fetch({k: v for k, v in files.items()
                                       if k != "tile/entries/002"}), VKEY)
    assert findings(report)[0] == ("tile_missing", "tile/entries/002")
    assert report.bottom_line is Verdict.FAILED


def test_a_vast_size_over_missing_files_stops() -> None:
    # Without a pinned key anyone can write the checkpoint: a claimed size of 2**40 over no
    # files must not keep the audit busy.
    note = sign_note(format_checkpoint(tilelog.ORIGIN, 2**40, b"\x01" * 32), tilelog.ORIGIN,
                     OTHER_KEY)
    report = audit_tiles(memory_fetch({CHECKPOINT: note.encode()}), None, max_failures=50)
    assert report.bottom_line is Verdict.FAILED
    assert report.failures[-1].code == "audit_stopped"
    assert report.summary["failures"]["tile_missing"] == 50


def test_partial_files_replaced_by_full_ones() -> None:
    # A checkpoint at 700 of a log now 1,100 long, whose level 0 partial tile and bundle of
    # size 700 were deleted once full: the audit reads the full ones.
    events = list(fast_events())
    files = {**fast_files(), **tilelog.files(events[:700])}
    for path in ["tile/0/002.p/188", "tile/entries/002.p/188"]:
        del files[path]
    report = audit_tiles(memory_fetch(files), VKEY)
    assert report.bottom_line is Verdict.PASSED, report.failures
    assert sorted(report.summary["fallbacks"]) == ["tile/0/002.p/188", "tile/entries/002.p/188"]


def test_consistency_with_a_saved_checkpoint() -> None:
    events = list(fast_events())
    files = fast_files()
    earlier = tilelog.files(events[:500])[CHECKPOINT]
    report = audit_tiles(memory_fetch(files), VKEY, from_checkpoint=earlier)
    assert report.bottom_line is Verdict.PASSED, report.failures
    assert "consistency" in {c.name for c in report.checks}
    # Consistent even when an unrelated tile was changed: the audit proves from what it
    # authenticated.
    report = audit_tiles(memory_fetch(_flip_in(files, "tile/0/001")), VKEY,
                         from_checkpoint=earlier)
    assert findings(report) == [("tile_mismatch", "tile/0/001")]
    # A fork: the log showed someone else another history at 500.
    forked = [*events[:499], _rewritten_event(events[499])]
    fork = tilelog.files(forked)[CHECKPOINT]
    report = audit_tiles(memory_fetch(files), VKEY, from_checkpoint=fork)
    assert [c.code for c in report.failures] == ["split_view"]
    # A log that shrank.
    longer = tilelog.files([*events, *tilelog.events(1200)[1100:]])[CHECKPOINT]
    report = audit_tiles(memory_fetch(files), VKEY, from_checkpoint=longer)
    assert [c.code for c in report.failures] == ["split_view"]
    # A saved checkpoint of another key says nothing about this log.
    foreign = tilelog.files(events[:500], key=OTHER_KEY)[CHECKPOINT]
    report = audit_tiles(memory_fetch(files), VKEY, from_checkpoint=foreign)
    assert report.bottom_line is Verdict.INDETERMINATE
    assert [c.code for c in report.failures] == ["saved_checkpoint_invalid"]


def test_progress_counts_every_entry() -> None:
    seen: list[int] = []
    audit_tiles(memory_fetch(fast_files()), VKEY, progress=seen.append)
    assert sum(seen) == FAST


# --- Three levels (70,000 entries) --------------------------------------------------------


@pytest.fixture(scope="module")
def big_events() -> list[bytes]:
    return tilelog.events(70000)


@pytest.fixture(scope="module")
def big_files(big_events: list[bytes]) -> Files:
    return tilelog.files(big_events)


@pytest.fixture(scope="module")
def big_dir(big_files: Files, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tilelog.write(tmp_path_factory.mktemp("tiles70000"), big_files)


@pytest.mark.slow
def test_audit_of_70000_entries_from_a_directory(big_dir: Path) -> None:
    report = audit_tiles(directory_fetch(big_dir), VKEY)
    assert report.bottom_line is Verdict.PASSED, report.failures
    assert report.summary["entries"] == 70000
    assert report.summary["tiles"] == 277


@pytest.mark.slow
@pytest.mark.parametrize(("path", "at"), [
    ("tile/0/000", 5),          # full, level 0: no root computation reads it
    ("tile/0/272", 8000),       # the last full level 0 tile
    ("tile/0/273.p/112", 0),    # partial, level 0
    ("tile/1/000", 1234),       # full, level 1: no root computation reads it
    ("tile/1/001.p/17", 543),   # partial, level 1
    ("tile/2/000.p/1", 31),     # partial, level 2
])
def test_a_changed_byte_in_each_level_of_70000(big_files: Files, path: str, at: int) -> None:
    report = audit_tiles(memory_fetch(_flip_in(big_files, path, at)), VKEY)
    assert findings(report) == [("tile_mismatch", path)]


@pytest.mark.slow
def test_a_changed_bundle_of_70000(big_files: Files, big_events: list[bytes]) -> None:
    index = 69500  # among the last 1,000 (the last event of its record), in full bundle 271
    events = list(big_events)
    events[index] = _rewritten_event(events[index])
    bundle = entries_path(index // WIDTH)
    first = index // WIDTH * WIDTH
    files = {**big_files, bundle: frame_entries(events[first : first + WIDTH])}
    report = audit_tiles(memory_fetch(files), VKEY)
    assert findings(report) == [("entry_bundle_mismatch", bundle)]
    assert report.failures[0].evidence["leaves"] == [index]


def _iter_paths(files: Files) -> Iterator[str]:
    return (p for p in files if p != CHECKPOINT)


def test_files_written_are_exactly_the_tree() -> None:
    files = fast_files()
    assert sorted(_iter_paths(files)) == sorted(
        [t.path for t in tiles_for(FAST)] + [b.path for b in entry_bundles_for(FAST)])
    assert all(len(files[t.path]) == t.width * 32 for t in tiles_for(FAST))
    assert len(files["tile/0/000"]) == TILE_BYTES


@cache
def _fast_paths() -> tuple[str, ...]:
    return tuple(sorted(fast_files()))


@given(st.data())
@settings(max_examples=60, deadline=None)
def test_any_changed_byte_fails_and_names_its_file(data: st.DataObject) -> None:
    files = fast_files()
    path = data.draw(st.sampled_from(_fast_paths()), label="path")
    at = data.draw(st.integers(0, len(files[path]) - 1), label="at")
    bit = data.draw(st.integers(0, 7), label="bit")
    changed = bytearray(files[path])
    changed[at] ^= 1 << bit
    report = audit_tiles(memory_fetch({**files, path: bytes(changed)}), VKEY)
    assert report.bottom_line is Verdict.FAILED
    assert path in {p for _, p in findings(report)}, findings(report)


@given(st.data())
@settings(max_examples=40, deadline=None)
def test_several_changes_never_pass(data: st.DataObject) -> None:
    files = dict(fast_files())
    paths = st.lists(st.sampled_from(_fast_paths()), min_size=2, max_size=5, unique=True)
    for path in data.draw(paths, label="paths"):
        if data.draw(st.booleans(), label="drop"):
            files.pop(path, None)
        elif files.get(path):
            at = data.draw(st.integers(0, len(files[path]) - 1), label="at")
            files[path] = flip(files[path], at)
    report = audit_tiles(memory_fetch(files), VKEY, from_checkpoint=fast_files()[CHECKPOINT])
    assert report.bottom_line is Verdict.FAILED

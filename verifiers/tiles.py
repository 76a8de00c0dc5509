"""C2SP tlog-tiles: the log published as static files, and everything needed to check them.

Format: https://c2sp.org/tlog-tiles, the layout Go's golang.org/x/mod/sumdb/tlog reads at tile
height 8. A log of `size` entries is published as

- `checkpoint`: the signed checkpoint note (verifiers.note);
- `tile/<L>/<N>[.p/<W>]`: hash tiles. Tile (L, N, W) holds, concatenated, the W hashes of the
  tree nodes at tree height 8*L with indexes N*256 .. N*256+W-1 (level 0: the leaf hashes);
  each hash of a level L+1 tile is the Merkle tree hash of one full level L tile;
- `tile/entries/<N>[.p/<W>]`: entry bundles, the leaves of level 0 tile N, each prefixed by
  its length as a big-endian uint16.

Full tiles have W = 256; a tree holds at most one partial tile (1 <= W < 256) per level, the
rightmost. <N> is written in 3-digit groups, all but the last prefixed "x" (1234067 ->
x001/x234/067).

Checking. The partial tiles hold the right edge of the tree: the roots of the perfect subtrees
that decompose [0, size) are all inside them, so together they give the root, which must be
the signed one. Every full tile hashes to its entry in its parent tile (one level up), which is
checked the same way, up to a partial tile. `TileReader` checks every tile it reads so, before
using a single hash of it (unlike golang.org/x/mod 0.7.0's TileHashReader, which leaves some
tiles unchecked when several subtree roots of the tree size fall in one tile). `audit_tiles`
reads every entry and every published tile, recomputes the whole tree from the entries and
names each file that differs from what the entries and the signed root imply.

Everything here raises only `verifiers.errors.VerificationError` subclasses, each with a
stable `code`.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any, Literal, NamedTuple

from verifiers.canonical import b64
from verifiers.chain import ChainFollower
from verifiers.errors import (
    MalformedError,
    NoteError,
    ProofError,
    VerificationError,
    require_bytes,
)
from verifiers.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    consistency_ranges,
    hash_range,
    inclusion_ranges,
    range_nodes,
    verify_consistency,
)
from verifiers.note import (
    Checkpoint,
    VerifierKey,
    open_note,
    parse_checkpoint,
    parse_verifier_key,
)
from verifiers.report import Check, Report, Verdict

__all__ = [
    "CHECKPOINT",
    "ENTRIES",
    "HEIGHT",
    "MAX_ENTRY_SIZE",
    "TILE_BYTES",
    "WIDTH",
    "CheckpointKeyMismatchError",
    "CheckpointMalformedError",
    "CheckpointMissingError",
    "CheckpointOriginError",
    "CheckpointSignatureError",
    "EntriesMalformedError",
    "EntryBundleMismatchError",
    "EntryTooLargeError",
    "Fetch",
    "LogKeyNotPinnedError",
    "Tile",
    "TileMalformedError",
    "TileMismatchError",
    "TileMissingError",
    "TileReader",
    "audit_tiles",
    "directory_fetch",
    "entries_path",
    "entry_bundles_for",
    "frame_entries",
    "http_fetch",
    "parse_entries",
    "parse_tile",
    "parse_tile_path",
    "tile_bytes",
    "tile_hash",
    "tile_leaf_range",
    "tile_node_range",
    "tile_path",
    "tile_width",
    "tiles_for",
    "zip_fetch",
]

HEIGHT = 8  # tree levels per tile
WIDTH = 1 << HEIGHT  # hashes in a full tile
TILE_BYTES = WIDTH * HASH_SIZE  # 8,192
MAX_ENTRY_SIZE = 0xFFFF  # an entry's length is a big-endian uint16
ENTRIES = -1  # the level of entry bundles, in `Tile`
CHECKPOINT = "checkpoint"  # the checkpoint's path
MAX_LEVEL = 63  # tlog-tiles: <L> is 0 to 63
MAX_FETCH = WIDTH * (MAX_ENTRY_SIZE + 2)  # the largest file a tiled log can hold: a full bundle
_MAX_SIZE = 2**64 - 1

# A source of the log's files: path (e.g. "tile/0/000") -> bytes. Raise TileMissingError (or
# anything else) when there is no such file.
Fetch = Callable[[str], bytes]

_sha256 = hashlib.sha256
_NODE = b"\x01"
_LEAF = b"\x00"


# --- Errors -------------------------------------------------------------------------------


class TileMissingError(VerificationError):
    """A file of the log (tile, entry bundle) that its source does not have."""

    code = "tile_missing"


class CheckpointMissingError(TileMissingError):
    code = "checkpoint_missing"


class TileMalformedError(MalformedError):
    """A tile whose length is not 32 bytes per hash of its width."""

    code = "tile_malformed"


class TileMismatchError(VerificationError):
    """A tile that does not hash to its entry in its parent tile, or partial tiles that do not
    lead to the signed root."""

    code = "tile_mismatch"


class EntryTooLargeError(MalformedError):
    """An entry longer than 65,535 bytes, which an entry bundle cannot frame."""

    code = "entry_too_large"


class EntriesMalformedError(MalformedError):
    """An entry bundle that is not exactly its width's uint16-framed entries."""

    code = "entries_malformed"


class EntryBundleMismatchError(VerificationError):
    """An entry whose leaf hash is not the one its (authenticated) level 0 tile holds."""

    code = "entry_bundle_mismatch"


class LogKeyNotPinnedError(VerificationError):
    """No verifier key was given: a log's own key proves only that it agrees with itself."""

    code = "log_key_not_pinned"


class CheckpointKeyMismatchError(NoteError):
    """The checkpoint carries no signature by the pinned key."""

    code = "checkpoint_key_mismatch"


class CheckpointSignatureError(NoteError):
    """The pinned key's signature on the checkpoint does not verify."""

    code = "checkpoint_signature_invalid"


class CheckpointMalformedError(MalformedError):
    code = "checkpoint_malformed"


class CheckpointOriginError(NoteError):
    code = "checkpoint_origin_mismatch"


# --- Paths --------------------------------------------------------------------------------


def _check_int(what: str, value: object, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise MalformedError(f"{what} must be an integer", type=type(value).__name__)
    if not low <= value <= high:
        raise MalformedError(f"{what} is outside [{low}, {high}]", value=value)
    return value


def _index_path(index: int) -> str:
    groups = [f"{index % 1000:03d}"]
    while index >= 1000:
        index //= 1000
        groups.append(f"x{index % 1000:03d}")
    return "/".join(reversed(groups))


def _suffix(width: int) -> str:
    return "" if width == WIDTH else f".p/{width}"


def tile_path(level: int, index: int, width: int = WIDTH) -> str:
    """`tile/<L>/<N>[.p/<W>]` for the hash tile at `level` (0 to 63), `index`, `width`."""
    _check_int("level", level, 0, MAX_LEVEL)
    _check_int("index", index, 0, _MAX_SIZE)
    _check_int("width", width, 1, WIDTH)
    return f"tile/{level}/{_index_path(index)}{_suffix(width)}"


def entries_path(index: int, width: int = WIDTH) -> str:
    """`tile/entries/<N>[.p/<W>]` for entry bundle `index` of `width` entries."""
    _check_int("index", index, 0, _MAX_SIZE)
    _check_int("width", width, 1, WIDTH)
    return f"tile/entries/{_index_path(index)}{_suffix(width)}"


_PATH = re.compile(
    r"tile/(entries|0|[1-9][0-9]?)/((?:x[0-9]{3}/)*[0-9]{3})(?:\.p/([1-9][0-9]{0,2}))?"
)


def parse_tile_path(path: str) -> tuple[int | Literal["entries"], int, int]:
    """(level or "entries", index, width) of a tile or entry bundle path.

    Refuses (MalformedError) anything `tile_path` / `entries_path` would not write: a level
    above 63 or with a leading zero, an index group not of 3 digits, a leading "x000" group,
    a width of 0, 256 or more, or with a leading zero.
    """
    if not isinstance(path, str):
        raise MalformedError("tile path must be a string", type=type(path).__name__)
    match = _PATH.fullmatch(path)
    if match is None:
        raise MalformedError("not a tile path", path=path)
    level_text, index_text, width_text = match.groups()
    index = int(index_text.replace("x", "").replace("/", ""))
    width = WIDTH if width_text is None else int(width_text)
    if width_text is not None and width >= WIDTH:
        raise MalformedError("partial tile width is not between 1 and 255", path=path)
    level: int | Literal["entries"]
    if level_text == "entries":
        level = "entries"
        canonical = entries_path(index, width)
    else:
        level = int(level_text)
        if level > MAX_LEVEL:
            raise MalformedError("tile level is above 63", path=path)
        canonical = tile_path(level, index, width)
    if canonical != path:
        raise MalformedError("tile index is not in its shortest form", path=path)
    return level, index, width


@dataclass(frozen=True, order=True, slots=True)
class Tile:
    """A hash tile (level >= 0) or an entry bundle (level ENTRIES, -1): index and width."""

    level: int
    index: int
    width: int = WIDTH

    def __post_init__(self) -> None:
        _check_int("level", self.level, ENTRIES, MAX_LEVEL)
        _check_int("index", self.index, 0, _MAX_SIZE)
        _check_int("width", self.width, 1, WIDTH)

    @property
    def path(self) -> str:
        if self.level == ENTRIES:
            return entries_path(self.index, self.width)
        return tile_path(self.level, self.index, self.width)

    @property
    def is_partial(self) -> bool:
        return self.width < WIDTH

    @property
    def full(self) -> Tile:
        """The full tile at the same place (self when full): where a log that has grown
        keeps this partial tile's hashes, as the first `width` of its 256."""
        return Tile(self.level, self.index)

    @classmethod
    def from_path(cls, path: str) -> Tile:
        level, index, width = parse_tile_path(path)
        return cls(ENTRIES if level == "entries" else level, index, width)


def _level_count(level: int, size: int) -> int:
    # Hashes a tree of `size` leaves has at tree height 8 * level (entries: the leaves).
    return size >> (HEIGHT * max(level, 0))


def tile_width(level: int, index: int, size: int) -> int:
    """The width tile (`level`, `index`) has in a tree of `size` leaves; 0 when it has none.
    `level` ENTRIES (-1) is the entry bundle of level 0 tile `index`."""
    _check_int("level", level, ENTRIES, MAX_LEVEL)
    _check_int("index", index, 0, _MAX_SIZE)
    _check_int("size", size, 0, _MAX_SIZE)
    count = _level_count(level, size) if level < 8 else 0
    full = count >> HEIGHT
    if index < full:
        return WIDTH
    return count & (WIDTH - 1) if index == full else 0


def _tiles_at(level: int, size: int, *, tile_level: int | None = None) -> list[Tile]:
    count = _level_count(level, size)
    full, width = divmod(count, WIDTH)
    at = level if tile_level is None else tile_level
    tiles = [Tile(at, n) for n in range(full)]
    if width:
        tiles.append(Tile(at, full, width))
    return tiles


def tiles_for(size: int) -> list[Tile]:
    """Exactly the hash tiles a tree of `size` leaves has, level by level, left to right: at
    level L, floor(size / 256**L) hashes make the full tiles and at most one partial tile
    (none when that count is a multiple of 256). A tree of size 0 has none."""
    _check_int("size", size, 0, _MAX_SIZE)
    tiles: list[Tile] = []
    level = 0
    while _level_count(level, size):
        tiles.extend(_tiles_at(level, size))
        level += 1
    return tiles


def entry_bundles_for(size: int) -> list[Tile]:
    """The entry bundles of a tree of `size` leaves: one per level 0 tile, same index and
    width, with level ENTRIES."""
    _check_int("size", size, 0, _MAX_SIZE)
    return _tiles_at(0, size, tile_level=ENTRIES)


def _partial_tiles(size: int) -> list[Tile]:
    # The rightmost partial tile of each level, bottom up (those whose width is not 0).
    tiles = []
    level = 0
    while count := _level_count(level, size):
        if count & (WIDTH - 1):
            tiles.append(Tile(level, count >> HEIGHT, count & (WIDTH - 1)))
        level += 1
    return tiles


def tile_node_range(tile: Tile) -> tuple[int, int, int]:
    """(tree height, first node index, end node index) of the nodes whose hashes `tile` holds:
    height 8 * level, indexes index*256 .. index*256 + width - 1 (end exclusive). For an entry
    bundle: height 0, the leaves whose hashes its level 0 tile holds."""
    level, index, width = _check_tile(tile)
    first = index * WIDTH
    return HEIGHT * max(level, 0), first, first + width


def tile_leaf_range(tile: Tile) -> tuple[int, int]:
    """[start, end) of the leaves (entries) a tile's hashes span."""
    height, first, end = tile_node_range(tile)
    return first << height, end << height


def _check_tile(tile: object) -> tuple[int, int, int]:
    if not isinstance(tile, Tile):
        raise MalformedError("not a Tile", type=type(tile).__name__)
    return tile.level, tile.index, tile.width


# --- Tile contents ------------------------------------------------------------------------


def tile_bytes(hashes: Sequence[bytes]) -> bytes:
    """A tile's bytes: its 1 to 256 hashes (32 bytes each) concatenated."""
    if isinstance(hashes, bytes | str) or not isinstance(hashes, Sequence):
        raise MalformedError("hashes must be a sequence of 32-byte hashes")
    if not 1 <= len(hashes) <= WIDTH:
        raise MalformedError("a tile holds 1 to 256 hashes", count=len(hashes))
    for i, h in enumerate(hashes):
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            raise MalformedError("not a 32-byte hash", position=i)
    return b"".join(hashes)


def parse_tile(data: bytes, width: int) -> list[bytes]:
    """The `width` hashes of a tile's bytes; TileMalformedError unless exactly 32 * width."""
    data = require_bytes(data, "tile")
    _check_int("width", width, 1, WIDTH)
    if len(data) != width * HASH_SIZE:
        raise TileMalformedError("tile length is not 32 bytes per hash", length=len(data),
                                 want=width * HASH_SIZE)
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def _perfect(data: bytes, first: int, count: int) -> bytes:
    # MTH of the `count` (a power of two) hashes at positions first.. of tile bytes `data`.
    level = [data[i : i + HASH_SIZE]
             for i in range(first * HASH_SIZE, (first + count) * HASH_SIZE, HASH_SIZE)]
    while len(level) > 1:
        level = [_sha256(_NODE + level[i] + level[i + 1]).digest()
                 for i in range(0, len(level), 2)]
    return level[0]


def tile_hash(data: bytes) -> bytes:
    """The Merkle tree hash of a full tile's 256 hashes: its hash in the tile one level up."""
    parse_tile(data, WIDTH)
    return _perfect(data, 0, WIDTH)


# --- Entry bundles ------------------------------------------------------------------------


def frame_entries(entries: Sequence[bytes]) -> bytes:
    """An entry bundle: each of 1 to 256 entries prefixed by its big-endian uint16 length.
    An entry over 65,535 bytes raises EntryTooLargeError (`entry_too_large`)."""
    if isinstance(entries, bytes | str) or not isinstance(entries, Sequence):
        raise MalformedError("entries must be a sequence of bytes")
    if not 1 <= len(entries) <= WIDTH:
        raise MalformedError("an entry bundle holds 1 to 256 entries", count=len(entries))
    out = bytearray()
    for i, entry in enumerate(entries):
        data = require_bytes(entry, "entry")
        if len(data) > MAX_ENTRY_SIZE:
            raise EntryTooLargeError("entry is longer than an entry bundle can frame",
                                     position=i, length=len(data), limit=MAX_ENTRY_SIZE)
        out += len(data).to_bytes(2, "big")
        out += data
    return bytes(out)


def parse_entries(data: bytes, width: int) -> list[bytes]:
    """The `width` entries of an entry bundle. EntriesMalformedError (`entries_malformed`) for
    data that ends inside a length or an entry (fewer entries) or goes on after the last one
    (trailing bytes, or more entries)."""
    data = require_bytes(data, "entry bundle")
    _check_int("width", width, 1, WIDTH)
    entries: list[bytes] = []
    append = entries.append
    pos, total = 0, len(data)
    for i in range(width):
        if pos + 2 > total:
            raise EntriesMalformedError("entry bundle ends before its last entry",
                                        entries=i, width=width, offset=pos)
        end = pos + 2 + (data[pos] << 8 | data[pos + 1])
        if end > total:
            raise EntriesMalformedError("entry bundle ends inside an entry", position=i,
                                        offset=pos)
        append(data[pos + 2 : end])
        pos = end
    if pos != total:
        raise EntriesMalformedError("entry bundle goes on after its last entry", width=width,
                                    trailing=total - pos)
    return entries


# --- Sources ------------------------------------------------------------------------------

_SAFE_PATH = re.compile(r"[A-Za-z0-9_-]+(?:/[A-Za-z0-9_.-]+)*")


def _check_relative(path: str) -> str:
    if not isinstance(path, str) or not _SAFE_PATH.fullmatch(path) or any(
        part in (".", "..") for part in path.split("/")
    ):
        raise MalformedError("not a log path", path=repr(path))
    return path


def directory_fetch(root: str | os.PathLike[str]) -> Fetch:
    """Read the log's files from a directory (`<root>/checkpoint`, `<root>/tile/...`)."""
    base = Path(root)

    def fetch(path: str) -> bytes:
        try:
            return (base / _check_relative(path)).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise TileMissingError("no such file", path=path) from None
        except OSError as exc:
            raise TileMissingError("the file cannot be read", path=path,
                                   reason=f"{type(exc).__name__}: {exc}") from None

    return fetch


def zip_fetch(archive: zipfile.ZipFile, prefix: str = "") -> Fetch:
    """Read the log's files from an open ZIP archive, optionally under `prefix` ("log/")."""
    if not isinstance(archive, zipfile.ZipFile):
        raise MalformedError("zip_fetch needs an open zipfile.ZipFile")

    def fetch(path: str) -> bytes:
        name = prefix + _check_relative(path)
        try:
            info = archive.getinfo(name)
        except KeyError:
            raise TileMissingError("no such file in the archive", path=path) from None
        if info.file_size > MAX_FETCH:
            raise TileMalformedError("file is larger than any file of a tiled log", path=path)
        try:
            return archive.read(info)
        except Exception as exc:  # zipfile reports damage with assorted exceptions
            raise TileMissingError("the file cannot be read from the archive", path=path,
                                   reason=f"{type(exc).__name__}: {exc}") from None

    return fetch


def http_fetch(base_url: str, *, timeout: float = 30.0) -> Fetch:
    """Read the log's files over HTTP(S) from `base_url` (the log's prefix), accepting
    gzip Content-Encoding as tlog-tiles allows. Only http and https URLs."""
    if not isinstance(base_url, str) or urllib.parse.urlsplit(base_url).scheme not in (
        "http", "https"
    ):
        raise MalformedError("base URL must be http or https", url=repr(base_url))
    base = base_url.rstrip("/") + "/"

    def fetch(path: str) -> bytes:
        request = urllib.request.Request(  # noqa: S310 (the scheme is checked above)
            base + _check_relative(path),
            headers={"Accept-Encoding": "gzip, identity", "User-Agent": "stele-verifiers"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                body: bytes = response.read(MAX_FETCH + 1)
                encoding = (response.headers.get("Content-Encoding") or "identity").lower()
        except urllib.error.HTTPError as exc:
            exc.close()
            raise TileMissingError("the server did not serve the file", path=path,
                                   status=exc.code) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            raise TileMissingError("the file cannot be fetched", path=path,
                                   reason=f"{type(exc).__name__}: {exc}") from None
        if len(body) > MAX_FETCH:
            raise TileMalformedError("file is larger than any file of a tiled log", path=path)
        if encoding == "gzip":
            inflate = zlib.decompressobj(wbits=31)
            try:
                body = inflate.decompress(body, MAX_FETCH + 1)
            except zlib.error as exc:
                raise TileMalformedError("gzip body does not inflate", path=path,
                                         reason=str(exc)) from None
            if len(body) > MAX_FETCH or not inflate.eof:
                raise TileMalformedError("gzip body is truncated or too large", path=path)
        elif encoding != "identity":
            raise TileMalformedError("unsupported Content-Encoding", path=path,
                                     encoding=encoding)
        return body

    return fetch


def _call(fetch: Fetch, path: str) -> bytes:
    # Every failure of the source becomes TileMissingError naming the path, except the
    # coded errors a source raises on purpose (a malformed response).
    try:
        data = fetch(path)
    except TileMissingError as exc:
        raise type(exc)(exc.message, **{**exc.evidence, "path": path}) from None
    except VerificationError:
        raise
    except Exception as exc:
        raise TileMissingError("the source failed to fetch the file", path=path,
                               reason=f"{type(exc).__name__}: {exc}") from None
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TileMissingError("the source returned no bytes", path=path,
                               type=type(data).__name__)
    return bytes(data)


def _read_or_full(fetch: Fetch, tile: Tile) -> tuple[Tile, bytes]:
    """The file of `tile` or, for a missing partial one, of its full tile (as tlog-tiles
    allows once the full tile exists): which one was read, and its bytes."""
    try:
        return tile, _call(fetch, tile.path)
    except TileMissingError as missing:
        if not tile.is_partial:
            raise
        try:
            return tile.full, _call(fetch, tile.full.path)
        except TileMissingError:
            raise missing from None


def _fetch_tile(fetch: Fetch, tile: Tile, fallbacks: list[str] | None = None) -> bytes:
    """A hash tile's bytes, its length checked; a missing partial tile is read as the first
    `width` hashes of the full tile."""
    read, data = _read_or_full(fetch, tile)
    want = read.width * HASH_SIZE
    if len(data) != want:
        raise TileMalformedError("tile length is not 32 bytes per hash of its width",
                                 path=read.path, length=len(data), want=want)
    if read is not tile and fallbacks is not None:
        fallbacks.append(tile.path)
    return data[: tile.width * HASH_SIZE]


def _fetch_bundle(fetch: Fetch, tile: Tile, fallbacks: list[str] | None = None) -> list[bytes]:
    """An entry bundle's entries; a missing partial bundle is read from the full one."""
    read, data = _read_or_full(fetch, tile)
    try:
        entries = parse_entries(data, read.width)
    except EntriesMalformedError as exc:
        raise EntriesMalformedError(exc.message, **exc.evidence, path=read.path) from None
    if read is not tile and fallbacks is not None:
        fallbacks.append(tile.path)
    return entries[: tile.width]


# --- Checkpoints --------------------------------------------------------------------------


def _pin(key: VerifierKey | str | None) -> VerifierKey | None:
    if key is None or isinstance(key, VerifierKey):
        return key
    return parse_verifier_key(key)


def _open_checkpoint(note: str | bytes, key: VerifierKey) -> Checkpoint:
    try:
        opened = open_note(note, [key])
    except NoteError as exc:
        # open_note names the signers when none is the key's, the key when its signature
        # does not verify: a note of another log, or an altered note.
        if "signers" in exc.evidence:
            raise CheckpointKeyMismatchError("the checkpoint is not signed by the pinned key",
                                             key=str(key), **exc.evidence) from None
        raise CheckpointSignatureError("the pinned key's signature on the checkpoint does "
                                       "not verify", **exc.evidence) from None
    except MalformedError as exc:
        raise CheckpointMalformedError(exc.message, **exc.evidence) from None
    try:
        return parse_checkpoint(opened.text)
    except MalformedError as exc:
        raise CheckpointMalformedError(exc.message, **exc.evidence) from None


def _unverified_checkpoint(note: str | bytes) -> Checkpoint:
    # The checkpoint's text without checking any signature: for an audit with no pinned key,
    # which then says so and is never PASSED.
    try:
        msg = note.decode("utf-8") if isinstance(note, bytes) else note
        split = msg.rfind("\n\n")
        if split < 0:
            raise MalformedError("note has no blank line before its signatures")
        return parse_checkpoint(msg[: split + 1])
    except UnicodeDecodeError:
        raise CheckpointMalformedError("note is not valid UTF-8") from None
    except MalformedError as exc:
        raise CheckpointMalformedError(exc.message, **exc.evidence) from None


# --- Reading a tiled tree -----------------------------------------------------------------


def _edge_root(size: int, partials: dict[int, bytes]) -> bytes:
    # The root of the tree of `size` from its partial tiles (level -> bytes): each perfect
    # subtree of the decomposition of [0, size) lies in the partial tile of its level.
    if size == 0:
        return EMPTY_ROOT
    hashes = []
    for height, index in range_nodes(0, size):
        level, below = divmod(height, HEIGHT)
        first = (index << below) - ((size >> (HEIGHT * level)) >> HEIGHT << HEIGHT)
        hashes.append(_perfect(partials[level], first, 1 << below))
    return hash_range(hashes)


class _TreeTiles:
    """The tree of `size` leaves with `root`, read from tiles, each checked before use."""

    _LEVEL0_CACHE = 64

    def __init__(self, fetch: Fetch, size: int, root: bytes) -> None:
        self._fetch = fetch
        self.size = size
        self.root = root
        self.fallbacks: list[str] = []  # partial files read from their full tile
        self._checked: dict[tuple[int, int], bytes] = {}
        self._level0: dict[int, bytes] = {}
        partials = {t.level: _fetch_tile(fetch, t, self.fallbacks) for t in _partial_tiles(size)}
        if _edge_root(size, partials) != root:
            raise TileMismatchError(
                "the partial tiles do not lead to the signed root",
                paths=[t.path for t in _partial_tiles(size)], size=size, root=b64(root))
        for t in _partial_tiles(size):
            self._checked[(t.level, t.index)] = partials[t.level]

    def tile(self, level: int, index: int) -> bytes:
        """Tile (`level`, `index`) at its width in this tree, checked against its parent
        tiles up to the signed root (TileMismatchError naming it when it does not match)."""
        key = (level, index)
        data = self._checked.get(key)
        if data is None and level == 0:
            data = self._level0.get(index)
        if data is not None:
            return data
        width = tile_width(level, index, self.size)
        if width == 0:
            raise ProofError("the tree has no such tile", level=level, index=index,
                             size=self.size)
        if width < WIDTH:  # partial tiles are all checked on construction
            raise ProofError("partial tile is not the tree's", level=level, index=index)
        tile = Tile(level, index)
        data = _fetch_tile(self._fetch, tile)
        parent = self.tile(level + 1, index >> HEIGHT)
        slot = (index & (WIDTH - 1)) * HASH_SIZE
        if _perfect(data, 0, WIDTH) != parent[slot : slot + HASH_SIZE]:
            raise TileMismatchError("tile does not hash to its entry in its parent tile",
                                    path=tile.path, parent=Tile(
                                        level + 1, index >> HEIGHT,
                                        tile_width(level + 1, index >> HEIGHT, self.size)).path)
        if level:
            self._checked[key] = data
        else:
            if len(self._level0) >= self._LEVEL0_CACHE:
                self._level0.clear()
            self._level0[index] = data
        return data

    def node_hash(self, height: int, index: int) -> bytes:
        """The hash of complete tree node (`height`, `index`): the root of leaves
        [index * 2**height, (index + 1) * 2**height), read from checked tiles."""
        _check_int("height", height, 0, 63)
        _check_int("index", index, 0, _MAX_SIZE)
        if (index + 1) << height > self.size:
            raise ProofError("the node is not complete in this tree", height=height,
                             index=index, size=self.size)
        level, below = divmod(height, HEIGHT)
        first = index << below
        data = self.tile(level, first >> HEIGHT)
        return _perfect(data, first & (WIDTH - 1), 1 << below)

    def leaf_hash(self, index: int) -> bytes:
        return self.node_hash(0, index)

    def _range_hash(self, start: int, end: int) -> bytes:
        return hash_range([self.node_hash(h, i) for h, i in range_nodes(start, end)])

    def _size(self, size: int | None) -> int:
        if size is None:
            return self.size
        _check_int("size", size, 0, _MAX_SIZE)
        if size > self.size:
            raise ProofError("size is larger than the tree", size=size, tree=self.size)
        return size

    def root_at(self, size: int) -> bytes:
        """The root of the tree's first `size` leaves (size <= the tree's size)."""
        return self._range_hash(0, self._size(size))

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 9162 §2.1.3.1 inclusion proof of leaf `index` in the tree of `size` leaves
        (default: the whole tree), from checked tiles."""
        size = self._size(size)
        return [self._range_hash(s, e) for s, e in inclusion_ranges(index, size)]

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """RFC 9162 §2.1.4.1 consistency proof from `size1` to `size2` (default: the tree)."""
        size2 = self._size(size2)
        return [self._range_hash(s, e) for s, e in consistency_ranges(size1, size2)]

    def bundle(self, index: int) -> list[bytes]:
        """Entry bundle `index` at its width in this tree, every entry checked against the
        leaf hash its level 0 tile holds (EntryBundleMismatchError naming the bundle)."""
        width = tile_width(ENTRIES, index, self.size)
        if width == 0:
            raise ProofError("the tree has no such entry bundle", index=index, size=self.size)
        tile = Tile(ENTRIES, index, width)
        entries = _fetch_bundle(self._fetch, tile, self.fallbacks)
        hashes = self.tile(0, index)
        for i, entry in enumerate(entries):
            if _sha256(_LEAF + entry).digest() != hashes[i * HASH_SIZE : (i + 1) * HASH_SIZE]:
                raise EntryBundleMismatchError(
                    "entry does not hash to its leaf hash in the level 0 tile",
                    path=tile.path, index=index * WIDTH + i)
        return entries

    def entries(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The entries (leaf bytes) start .. end - 1 (default: all), each checked."""
        end = self._size(end)
        _check_int("start", start, 0, end)
        position = start
        while position < end:
            index = position >> HEIGHT
            entries = self.bundle(index)
            offset = position - index * WIDTH
            stop = min(len(entries), end - index * WIDTH)
            yield from entries[offset:stop]
            position = index * WIDTH + stop

    def entry(self, index: int) -> bytes:
        _check_int("index", index, 0, _MAX_SIZE)
        if index >= self.size:
            raise ProofError("leaf index is not below the tree size", index=index,
                             size=self.size)
        return self.bundle(index >> HEIGHT)[index & (WIDTH - 1)]


class TileReader(_TreeTiles):
    """A tiled log read through `fetch`, trusting only the verifier `key` the caller pinned.

    On construction: fetches `checkpoint` (or takes the note given), verifies it under `key`
    (never a key the source brings), and checks the partial tiles against its root. Every
    other tile is checked against its parent, up to the root, before any hash of it is used;
    entries against their level 0 tile's leaf hashes. Raises the coded errors of this module:
    log_key_not_pinned, checkpoint_missing, checkpoint_key_mismatch,
    checkpoint_signature_invalid, checkpoint_malformed, checkpoint_origin_mismatch,
    tile_missing, tile_malformed, tile_mismatch, entries_malformed, entry_bundle_mismatch.
    """

    def __init__(self, fetch: Fetch, key: VerifierKey | str | None, *,
                 checkpoint: str | bytes | None = None, origin: str | None = None) -> None:
        pinned = _pin(key)
        if pinned is None:
            raise LogKeyNotPinnedError("a tiled log is read only against a pinned log key")
        if checkpoint is None:
            try:
                checkpoint = _call(fetch, CHECKPOINT)
            except TileMissingError as exc:
                raise CheckpointMissingError(exc.message, **exc.evidence) from None
        body = _open_checkpoint(checkpoint, pinned)
        if origin is not None and body.origin != origin:
            raise CheckpointOriginError("the checkpoint names another log", origin=body.origin,
                                        expected=origin)
        self.checkpoint: Checkpoint = body
        self.note = checkpoint.decode("utf-8") if isinstance(checkpoint, bytes) else checkpoint
        super().__init__(fetch, body.size, body.root)


# --- The audit ----------------------------------------------------------------------------


class _Findings:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.checks: list[Check] = []
        self.counts: Counter[str] = Counter()

    def add(self, name: str, verdict: Verdict, code: str, message: str, /,
            **evidence: Any) -> None:
        self.counts[code] += 1
        if len(self.checks) < self.limit:
            self.checks.append(Check(name, verdict, code, message, evidence))

    def fail(self, name: str, code: str, message: str, /, **evidence: Any) -> None:
        self.add(name, Verdict.FAILED, code, message, **evidence)

    def error(self, name: str, exc: VerificationError, /, **evidence: Any) -> None:
        # The error's own evidence wins: after a fallback it names the file actually read.
        self.fail(name, exc.code, exc.message, **{**evidence, **exc.evidence})

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def named(self, name: str) -> bool:
        return any(c.name == name for c in self.checks)


class _Level0(NamedTuple):
    # One full level 0 tile as the audit saw it: the tile hash of the published tile and of
    # the one recomputed from its bundle (None when unread), and whether they are equal.
    published: bytes | None
    recomputed: bytes | None


def _slot(data: bytes | None, position: int) -> bytes | None:
    if data is None:
        return None
    return data[position * HASH_SIZE : (position + 1) * HASH_SIZE]


def _differing(published: bytes, recomputed: bytes, first: int, limit: int = 8) -> list[int]:
    out = []
    for i in range(0, min(len(published), len(recomputed)), HASH_SIZE):
        if published[i : i + HASH_SIZE] != recomputed[i : i + HASH_SIZE]:
            out.append(first + i // HASH_SIZE)
            if len(out) == limit:
                break
    return out


def audit_tiles(
    fetch: Fetch,
    key: VerifierKey | str | None,
    *,
    from_checkpoint: str | bytes | None = None,
    origin: str | None = None,
    progress: Callable[[int], None] | None = None,
    max_failures: int = 1000,
) -> Report:
    """Audit a tiled log from its files alone, against the verifier `key` the caller pinned.

    Checks: the checkpoint's signature under `key` (without a key, nothing is PASSED:
    `log_key_not_pinned`); every entry bundle, its framing (`entries_malformed`) and each
    entry's leaf hash against the level 0 tile (`entry_bundle_mismatch`); each entry's
    canonical envelope and its record's `prev` chain (`envelope_invalid`, `chain_broken`,
    as the log audit has them); every published tile, full and partial, of every level,
    against its parent tile, the signed root and the hashes recomputed from the entries
    (`tile_mismatch`, `tile_malformed`, `tile_missing`), so a changed byte anywhere is named
    by its file; the root (`checkpoint_root_mismatch` when neither the tiles nor the entries
    lead to it); and, given `from_checkpoint` (a checkpoint saved earlier), an RFC 9162
    consistency proof from it to this one (`split_view`). After `max_failures` findings it
    stops reading (`audit_stopped`: a checkpoint claiming a vast size over missing files
    cannot keep it busy). Never raises for what it finds;
    a malformed `key` text raises MalformedError (bad input).
    """
    started = time.perf_counter()
    found = _Findings(max_failures)
    pinned = _pin(key)
    summary: dict[str, Any] = {"key": str(pinned) if pinned else None}

    def report() -> Report:
        elapsed = time.perf_counter() - started
        checks = list(found.checks)
        for name in names:
            if not any(c.name == name for c in checks):
                checks.append(Check(name, Verdict.PASSED))
        entries = summary.get("entries", 0)
        summary.update(failures=dict(found.counts), seconds=round(elapsed, 3),
                       entries_per_second=round(entries / elapsed) if elapsed > 0 else None)
        return Report(checks=tuple(checks), summary=summary)

    names: list[str] = []
    # (1) The checkpoint, under the pinned key only.
    try:
        note = _call(fetch, CHECKPOINT)
    except TileMissingError as exc:
        found.fail("checkpoint", "checkpoint_missing", exc.message, **exc.evidence)
        return report()
    try:
        if pinned is None:
            body = _unverified_checkpoint(note)
            found.add("checkpoint", Verdict.INDETERMINATE, "log_key_not_pinned",
                      "no log key was pinned: the checkpoint's signature was not checked, "
                      "and a log that brings its own key proves only that it agrees with "
                      "itself", path=CHECKPOINT)
        else:
            body = _open_checkpoint(note, pinned)
    except VerificationError as exc:
        found.error("checkpoint", exc, path=CHECKPOINT)
        return report()
    if origin is not None and body.origin != origin:
        found.fail("checkpoint", "checkpoint_origin_mismatch", "the checkpoint names another log",
                   path=CHECKPOINT, origin=body.origin, expected=origin)
        return report()
    size, root = body.size, body.root
    summary.update(origin=body.origin, size=size, root=b64(root))
    names += ["checkpoint", "entries", "events", "tiles", "root"]
    fallbacks: list[str] = []
    corrected: dict[str, bytes] = {}  # tiles' authenticated bytes where the published differ

    # (2) Every entry bundle in order, with its level 0 tile: the events' rules, the leaf
    # hashes, and the level 0 tiles recomputed from them.
    chains = ChainFollower()
    follow = chains.follow
    level0: list[_Level0] = []
    partial0: tuple[bytes | None, bytes | None] = (None, None)  # (published, recomputed)
    kept: dict[int, tuple[bytes | None, bytes | None]] = {}  # level 0 tiles that differ
    tiles_read = 0
    for index in range(-(-size // WIDTH)):
        if found.total >= max_failures:
            found.checks.append(Check(
                "entries", Verdict.FAILED, "audit_stopped",
                "too many findings: the audit stopped reading the log",
                {"at": index * WIDTH, "size": size, "limit": max_failures}))
            return report()
        width = tile_width(ENTRIES, index, size)
        bundle = Tile(ENTRIES, index, width)
        first = index * WIDTH
        entries: list[bytes] | None
        try:
            entries = _fetch_bundle(fetch, bundle, fallbacks)
        except VerificationError as exc:
            found.error("entries", exc, path=bundle.path)
            entries = None
        recomputed: bytes | None = None
        if entries is not None:
            hashes = []
            for i, event in enumerate(entries):
                try:
                    follow(event)
                except VerificationError as exc:
                    code = "chain_broken" if exc.code == "chain_broken" else "envelope_invalid"
                    found.fail("events", code, exc.message,
                               **{**exc.evidence, "index": first + i, "path": bundle.path})
                hashes.append(_sha256(_LEAF + event).digest())
            recomputed = b"".join(hashes)
        tile = Tile(0, index, width)
        published: bytes | None
        try:
            published = _fetch_tile(fetch, tile, fallbacks)
            tiles_read += 1
        except VerificationError as exc:
            found.error("tiles", exc, path=tile.path)
            published = None
        if width < WIDTH:
            partial0 = (published, recomputed)
        else:
            r_hash = None if recomputed is None else _perfect(recomputed, 0, WIDTH)
            if published == recomputed:
                p_hash = r_hash
            else:
                p_hash = None if published is None else _perfect(published, 0, WIDTH)
                if len(kept) < max_failures:
                    kept[index] = (published, recomputed)
            level0.append(_Level0(p_hash, r_hash))
        if progress is not None:
            progress(width)
    summary["entries"] = size
    summary["records"] = len(chains.heads)

    # (3) The levels above: published, and recomputed from the level below.
    top = 0
    while _level_count(top + 1, size):
        top += 1
    recomputed_hashes: dict[int, list[bytes | None]] = {1: [t.recomputed for t in level0]}
    for level in range(1, top):
        below = recomputed_hashes[level]
        recomputed_hashes[level + 1] = [
            None if any(h is None for h in group)
            else _perfect(b"".join(group), 0, WIDTH)  # type: ignore[arg-type]
            for group in (below[n * WIDTH : (n + 1) * WIDTH] for n in range(len(below) // WIDTH))
        ]

    def recomputed_tile(level: int, index: int, width: int) -> bytes | None:
        group = recomputed_hashes[level][index * WIDTH : index * WIDTH + width]
        if any(h is None for h in group):
            return None
        return b"".join(group)  # type: ignore[arg-type]

    published_tiles: dict[tuple[int, int], bytes | None] = {}
    for level in range(1, top + 1):
        for tile in _tiles_at(level, size):
            try:
                published_tiles[(level, tile.index)] = _fetch_tile(fetch, tile, fallbacks)
                tiles_read += 1
            except VerificationError as exc:
                found.error("tiles", exc, path=tile.path)
                published_tiles[(level, tile.index)] = None

    # (4) The root, from the partial tiles: published or recomputed, whichever leads to the
    # signed root (each level independently: a changed partial tile is named, not blamed on
    # the others).
    partials = _partial_tiles(size)
    candidates: dict[int, tuple[bytes | None, bytes | None]] = {}
    for tile in partials:
        if tile.level == 0:
            candidates[0] = partial0
        else:
            candidates[tile.level] = (published_tiles[(tile.level, tile.index)],
                                      recomputed_tile(tile.level, tile.index, tile.width))
    authentic: dict[tuple[int, int], bytes | None] = {}
    choices = [[c for c in dict.fromkeys(candidates[t.level]) if c is not None]
               for t in partials]
    for combination in product(*choices):
        if _edge_root(size, {t.level: d for t, d in zip(partials, combination, strict=True)}) \
                == root:
            for tile, data in zip(partials, combination, strict=True):
                authentic[(tile.level, tile.index)] = data
            break
    else:
        if partials or root != EMPTY_ROOT:
            found.fail("root", "checkpoint_root_mismatch",
                       "neither the published tiles nor the entries lead to the signed root",
                       size=size, root=b64(root), paths=[t.path for t in partials])
    entries_root: bytes | None = None
    if all(candidates[t.level][1] is not None for t in partials):
        entries_root = _edge_root(size, {t.level: candidates[t.level][1]  # type: ignore[misc]
                                         for t in partials})

    # (5) Top down: each tile's authentic bytes are the published or the recomputed ones,
    # whichever hashes to its entry in its (authentic) parent, or leads to the signed root;
    # every file that differs from them is named.
    def verdict(tile: Tile, *, has_p: bool, has_r: bool, p_ok: bool, r_ok: bool, known: bool,
                differ: bool, leaves: list[int] | None = None) -> None:
        path = tile.path
        if not known:
            if has_p and has_r and differ:
                found.fail("tiles", "tile_mismatch", "tile differs from the hashes recomputed "
                           "from the entries, and its parent could not be authenticated",
                           path=path)
            return
        if has_p and not p_ok:
            message = ("tile differs from the hashes recomputed from the entries" if r_ok
                       else "tile does not lead to the signed root" if tile.is_partial
                       else "tile does not hash to its entry in its parent tile")
            found.fail("tiles", "tile_mismatch", message, path=path)
        if has_r and not r_ok:
            if tile.level == 0:
                evidence: dict[str, Any] = {"tile": path}
                if p_ok and leaves:
                    evidence["leaves"] = leaves
                found.fail("entries", "entry_bundle_mismatch",
                           "entries do not hash to the leaf hashes of their level 0 tile",
                           path=Tile(ENTRIES, tile.index, tile.width).path, **evidence)
            elif not p_ok:
                start, end = tile_leaf_range(tile)
                found.fail("entries", "entries_mismatch", "the entries under this tile do not "
                           "lead to its authenticated hash", tile=path, first=start, end=end)

    def full_hash(data: bytes | None) -> bytes | None:
        return None if data is None else _perfect(data, 0, WIDTH)

    for level in range(top, -1, -1):
        for tile in _tiles_at(level, size):
            key_ = (level, tile.index)
            if level == 0 and tile.is_partial:
                published, recomputed = partial0
            elif level == 0:
                published, recomputed = kept.get(tile.index, (None, None))
            else:
                published = published_tiles[key_]
                recomputed = recomputed_tile(level, tile.index, tile.width)
            if tile.is_partial:
                auth = authentic.get(key_)
                known = auth is not None
                has_p, has_r = published is not None, recomputed is not None
                p_ok = known and published == auth
                r_ok = known and recomputed == auth
                differ = published != recomputed
            else:
                expected = _slot(authentic.get((level + 1, tile.index >> HEIGHT)),
                                 tile.index & (WIDTH - 1))
                known = expected is not None
                if level == 0:
                    seen = level0[tile.index]
                    p_hash, r_hash = seen.published, seen.recomputed
                    if known and p_hash == r_hash == expected:
                        continue  # the usual case: nothing to say, nothing to keep
                else:
                    p_hash = full_hash(published)
                    r_hash = p_hash if recomputed == published else full_hash(recomputed)
                has_p, has_r = p_hash is not None, r_hash is not None
                p_ok = known and p_hash == expected
                r_ok = known and r_hash == expected
                differ = p_hash != r_hash
                if level:
                    authentic[key_] = published if p_ok else recomputed if r_ok else None
            leaves = (_differing(published, recomputed, tile.index * WIDTH)
                      if published is not None and recomputed is not None else None)
            verdict(tile, has_p=has_p, has_r=has_r, p_ok=p_ok, r_ok=r_ok, known=known,
                    differ=differ, leaves=leaves)
            if r_ok and not p_ok and recomputed is not None:
                corrected[tile.path] = recomputed
    if entries_root is not None and entries_root != root and not found.named("entries") \
            and not found.named("root"):
        found.fail("root", "checkpoint_root_mismatch", "the entries do not lead to the signed "
                   "root", size=size, root=b64(root), recomputed=b64(entries_root))
    summary.update(tiles=tiles_read, bundles=len(level0) + (1 if size % WIDTH else 0),
                   fallbacks=fallbacks[:100])

    # (6) The checkpoint saved earlier: this log must extend it.
    if from_checkpoint is not None:
        names.append("consistency")
        _consistency(found, fetch, corrected, from_checkpoint, pinned, body)
    return report()


def _consistency(found: _Findings, fetch: Fetch, corrected: dict[str, bytes],
                 saved_note: str | bytes, pinned: VerifierKey | None, now: Checkpoint) -> None:
    try:
        saved = (_unverified_checkpoint(saved_note) if pinned is None
                 else _open_checkpoint(saved_note, pinned))
    except VerificationError as exc:
        found.add("consistency", Verdict.INDETERMINATE, "saved_checkpoint_invalid",
                  f"the saved checkpoint cannot be used: {exc.message}", reason=exc.code)
        return
    evidence = {"saved_size": saved.size, "saved_root": b64(saved.root), "size": now.size,
                "root": b64(now.root)}
    if saved.origin != now.origin:
        found.add("consistency", Verdict.INDETERMINATE, "saved_checkpoint_other_log",
                  "the saved checkpoint is of another log", saved_origin=saved.origin,
                  origin=now.origin)
        return
    if saved.size > now.size:
        found.fail("consistency", "split_view", "the log is smaller than a checkpoint it "
                   "signed before", **evidence)
        return

    def repaired(path: str) -> bytes:
        data = corrected.get(path)
        return data if data is not None else fetch(path)

    try:
        tree = _TreeTiles(repaired, now.size, now.root)
        proof = tree.consistency_proof(saved.size)
    except VerificationError as exc:
        found.add("consistency", Verdict.INDETERMINATE, "consistency_unprovable",
                  "the tiles are too damaged to prove consistency", reason=exc.code,
                  **evidence)
        return
    try:
        verify_consistency(saved.size, now.size, proof, saved.root, now.root)
    except VerificationError as exc:
        found.fail("consistency", "split_view", "the log does not extend the saved checkpoint: "
                   + exc.message, **evidence)

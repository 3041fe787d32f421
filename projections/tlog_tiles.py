"""The trail's Merkle tree as C2SP tlog-tiles (c2sp.org/tlog-tiles): which tiles a tree has, their paths and bytes. Pure.

A tile is 256 consecutive hashes of one tree level: the hash tile ``tile/<L>/<N>[.p/<W>]`` holds
the roots of the subtrees of ``256**L`` leaves numbered ``N*256 .. N*256+W-1`` (level 0: the leaf
hashes), i.e. nodes ``(8L, N*256+i)`` of the stored tree (``audit_tree``); the entry bundle
``tile/entries/<N>[.p/<W>]`` holds the same leaves' bytes (``audit_log.leaf_bytes``), each with a
2-byte big-endian length before it. ``<N>`` is written in 3-digit groups, all but the last with
an ``x`` (1234067 -> ``x001/x234/067``); ``.p/<W>`` marks a partial tile (1 to 255 wide).

A full tile never changes once written; a tree that grows only adds full tiles and grows the
partial ones (:func:`new_tiles` lists what a publication from ``old`` to ``new`` leaves must
write). The leaves are what the trail already hashes: no content, only who did what to which
aggregate when and the digest of the stored bytes, so a tile reveals nothing sealed and an
erased subject's leaves still verify.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from engagement_tracker.domain.errors import StoreError
from engagement_tracker.projections.audit_log import leaf_bytes
from engagement_tracker.projections.audit_proofs import Entries, entries_in_order
from engagement_tracker.projections.audit_tree import TreeNodes
from engagement_tracker.projections.merkle import leaf_hash

HEIGHT = 8
WIDTH = 1 << HEIGHT
ENTRIES = -1  # the level of entry bundles (as Go's tlog names data tiles)
MAX_ENTRY = 0xFFFF


class Tile(NamedTuple):
    level: int  # ENTRIES for an entry bundle
    n: int  # the tile's index within its level
    width: int  # 1..256; 256 is a full tile

    @property
    def full(self) -> bool:
        return self.width == WIDTH

    @property
    def path(self) -> str:
        return tile_path(self.level, self.n, self.width)


def tile_path(level: int, index: int, width: int = WIDTH) -> str:
    """``tile/<L>/<N>[.p/<W>]`` (``tile/entries/...`` for ``level == ENTRIES``)."""
    if index < 0 or not 1 <= width <= WIDTH or not ENTRIES <= level <= 63:
        raise ValueError(f"no tile at level {level}, index {index}, width {width}")
    groups = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        groups.append(f"x{index % 1000:03d}")
        index //= 1000
    n = "/".join(reversed(groups))
    name = "entries" if level == ENTRIES else str(level)
    return f"tile/{name}/{n}" + ("" if width == WIDTH else f".p/{width}")


def _level_tiles(level: int, count: int) -> tuple[int, int]:
    """(full tiles, width of the partial one or 0) of a level holding ``count`` hashes."""
    return count // WIDTH, count % WIDTH


def tiles_of(size: int) -> list[Tile]:
    """Every tile of the tree of ``size`` leaves: hash tiles level by level, then the entry bundles."""
    return new_tiles(0, size)


def new_tiles(old: int, new: int) -> list[Tile]:
    """The tiles of the tree of ``new`` leaves that the tree of ``old`` leaves has not (new full tiles,
    grown partial ones): what a publication that had ``old`` writes to reach ``new``. Full tiles of the
    old tree are never listed again."""
    if not 0 <= old <= new:
        raise ValueError(f"expected 0 <= old ({old}) <= new ({new})")
    out: list[Tile] = []
    level = 0
    while new >> (HEIGHT * level):
        out.extend(_grown(level, old >> (HEIGHT * level), new >> (HEIGHT * level)))
        level += 1
    out.extend(_grown(ENTRIES, old, new))
    return out


def _grown(level: int, old_count: int, new_count: int) -> list[Tile]:
    old_full, old_partial = _level_tiles(level, old_count)
    new_full, new_partial = _level_tiles(level, new_count)
    tiles = [Tile(level, n, WIDTH) for n in range(old_full, new_full)]
    if new_partial and (new_full, new_partial) != (old_full, old_partial):
        tiles.append(Tile(level, new_full, new_partial))
    return tiles


def hash_tile(tree: TreeNodes, tile: Tile) -> bytes:
    """The bytes of a hash tile, read from the stored tree's nodes (``(8L, N*256+i)``)."""
    keys = [(HEIGHT * tile.level, tile.n * WIDTH + i) for i in range(tile.width)]
    found = tree.nodes(keys)
    missing = [k for k in keys if k not in found]
    if missing:
        raise StoreError(f"the stored Merkle tree lacks nodes {missing[:3]} of {tile.path}: "
                         "run `etrack projections rebuild`")
    return b"".join(found[k] for k in keys)


def entry_bundle(leaves: Iterable[bytes]) -> bytes:
    """An entry bundle: each leaf's bytes after their big-endian uint16 length."""
    parts = []
    for data in leaves:
        if len(data) > MAX_ENTRY:
            raise StoreError(f"a leaf of {len(data)} bytes does not fit an entry bundle (at most {MAX_ENTRY})")
        parts.append(struct.pack(">H", len(data)) + data)
    return b"".join(parts)


def split_bundle(data: bytes) -> list[bytes]:
    """The leaves of an entry bundle (ValueError when it is not one)."""
    out, at = [], 0
    while at < len(data):
        if at + 2 > len(data):
            raise ValueError("a truncated length prefix")
        (n,) = struct.unpack(">H", data[at:at + 2])
        if at + 2 + n > len(data):
            raise ValueError("a truncated entry")
        out.append(data[at + 2:at + 2 + n])
        at += 2 + n
    return out


def tile_contents(view: Entries, tree: TreeNodes, tiles: Iterable[Tile]) -> Iterator[tuple[Tile, bytes]]:
    """Each tile with its bytes. Hash tiles come from the stored tree; entry bundles from the trail's
    entries, read once, in order (only the bundles asked for are assembled), and each bundle's leaves
    must hash to the stored tree's leaf hashes, else nothing more is published (StoreError)."""
    bundles = sorted((t for t in tiles if t.level == ENTRIES), key=lambda t: t.n)
    for tile in tiles:
        if tile.level != ENTRIES:
            yield tile, hash_tile(tree, tile)
    if not bundles:
        return
    wanted = iter(bundles)
    current = next(wanted)
    start = current.n * WIDTH
    leaves: list[bytes] = []
    for index, e in enumerate(entries_in_order(view)):
        if index < start:
            continue
        leaves.append(leaf_bytes(e.position, e.aggregate_id, e.version, e.topic, e.state_sha256, e.actor, e.role,
                                 e.recorded_at))
        if len(leaves) == current.width:
            yield current, _checked_bundle(tree, current, leaves)
            nxt = next(wanted, None)
            if nxt is None:
                return
            current, start, leaves = nxt, nxt.n * WIDTH, []
    raise StoreError(f"the trail has fewer entries than {current.path} needs: run `etrack projections rebuild`")


def _checked_bundle(tree: TreeNodes, tile: Tile, leaves: list[bytes]) -> bytes:
    hashes = hash_tile(tree, Tile(0, tile.n, tile.width))
    for i, data in enumerate(leaves):
        if leaf_hash(data) != hashes[32 * i:32 * i + 32]:
            raise StoreError(f"leaf {tile.n * WIDTH + i} of the trail does not hash to the stored tree's leaf: "
                             "run `etrack audit verify` (then `etrack projections rebuild`)")
    return entry_bundle(leaves)

"""Which tiles a tree of n leaves has (c2sp.org/tlog-tiles), their paths, and what a publication adds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engagement_tracker.projections.tlog_tiles import (
    ENTRIES,
    WIDTH,
    Tile,
    entry_bundle,
    new_tiles,
    split_bundle,
    tile_path,
    tiles_of,
)


def test_paths_as_the_spec_writes_them() -> None:
    assert tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tile_path(2, 0, 1) == "tile/2/000.p/1"
    assert tile_path(ENTRIES, 1000, 17) == "tile/entries/x001/000.p/17"
    for bad in ((0, -1, 256), (0, 0, 0), (0, 0, 257), (64, 0, 256)):
        with pytest.raises(ValueError):
            tile_path(*bad)


def test_the_spec_examples() -> None:
    """"A tree of size 70,000: 273 full level 0 tiles, one partial level 0 tile of width 112, one full level 1
    tile, one partial level 1 tile of width 17, and one partial level 2 tile of width 1"; "a tree of size 256:
    a full level 0 tile and a partial level 1 tile of width 1"."""
    tiles = [t for t in tiles_of(70_000) if t.level != ENTRIES]
    assert sum(1 for t in tiles if t.level == 0 and t.full) == 273
    assert [t for t in tiles if not t.full] == [Tile(0, 273, 112), Tile(1, 1, 17), Tile(2, 0, 1)]
    assert [t for t in tiles if t.level == 1 and t.full] == [Tile(1, 0, 256)]
    assert [t for t in tiles_of(256) if t.level != ENTRIES] == [Tile(0, 0, 256), Tile(1, 0, 1)]
    assert tiles_of(0) == []


@given(st.integers(0, 300_000), st.integers(0, 300_000))
def test_a_publication_adds_exactly_the_tiles_the_old_tree_lacks_and_never_a_full_one_it_has(a: int, b: int) -> None:
    old, new = min(a, b), max(a, b)
    before, after, added = set(tiles_of(old)), set(tiles_of(new)), new_tiles(old, new)
    assert set(added) == after - before
    assert len(added) == len(set(added))
    assert not any(t.full and t in before for t in added)
    for level in {t.level for t in after}:  # every level's tiles cover its hashes once, left to right
        widths = sorted((t.n, t.width) for t in after if t.level == level)
        count = new >> (8 * max(level, 0))
        assert sum(w for _, w in widths) == count
        assert [n for n, _ in widths] == list(range(len(widths)))
        assert all(w == WIDTH for _, w in widths[:-1])


@given(st.lists(st.binary(max_size=300), max_size=20))
def test_an_entry_bundle_splits_back_into_its_leaves(leaves: list[bytes]) -> None:
    assert split_bundle(entry_bundle(leaves)) == leaves


def test_a_truncated_bundle_is_refused() -> None:
    data = entry_bundle([b"abc", b"de"])
    for cut in (1, 4, len(data) - 1):
        with pytest.raises(ValueError):
            split_bundle(data[:cut])

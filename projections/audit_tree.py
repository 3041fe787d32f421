"""The trail's Merkle tree kept as stored levels: every complete subtree's root, written with its entries.

Node ``(level, idx)`` is the root of leaves ``idx * 2**level .. (idx + 1) * 2**level - 1``
(level 0: the leaf hashes). Appending leaves reads the O(log n) nodes of the current right
edge (:func:`frontier_keys`) and writes the nodes the new leaves complete (:func:`grow`), in the
transaction that appends the entries. A proof then reads O(log n) nodes (:class:`StoredTree`)
instead of rehashing the log. The stored nodes are a cache: verification recomputes the tree
from the entries in its streaming pass and reports stored nodes that disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Protocol

from engagement_tracker.projections.merkle import EMPTY_ROOT, node_hash

Key = tuple[int, int]
Node = tuple[int, int, bytes]


class TreeNodes(Protocol):
    def nodes(self, keys: Iterable[Key]) -> dict[Key, bytes]: ...

    def leaf_count(self) -> int: ...


def frontier_keys(size: int) -> list[Key]:
    """The complete subtrees that make up a tree of ``size`` leaves, largest (leftmost) first."""
    keys, start = [], 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            keys.append((level, start >> level))
            start += 1 << level
    return keys


def grow(frontier: Mapping[Key, bytes], size: int, leaves: Iterable[bytes]) -> Iterator[Node]:
    """Every node completed by appending ``leaves`` to a tree of ``size`` leaves whose right edge is
    ``frontier`` (the nodes of :func:`frontier_keys`); leaves included (level 0)."""
    edge = {level: frontier[(level, idx)] for level, idx in frontier_keys(size)}
    for leaf in leaves:
        yield (0, size, leaf)
        h, level, idx = leaf, 0, size
        while idx & 1:  # a right child: its parent is complete now
            h = node_hash(edge.pop(level), h)
            level, idx = level + 1, idx >> 1
            yield (level, idx, h)
        edge[level] = h
        size += 1


def decompose(lo: int, hi: int) -> list[Key]:
    """The aligned complete subtrees that cover leaves lo..hi-1, left to right (lo aligned as proofs ask)."""
    keys = []
    while lo < hi:
        level = (lo & -lo).bit_length() - 1 if lo else (hi - lo).bit_length() - 1
        while lo + (1 << level) > hi:
            level -= 1
        keys.append((level, lo >> level))
        lo += 1 << level
    return keys


class StoredTree:
    """``subtree(lo, hi)`` for ``merkle``'s proofs, answered from stored nodes (one read per call)."""

    def __init__(self, view: TreeNodes) -> None:
        self.view = view
        self.size = view.leaf_count()
        self.reads = 0

    def __call__(self, lo: int, hi: int) -> bytes:
        if not 0 <= lo < hi <= self.size:
            raise ValueError(f"no subtree {lo}..{hi} in a stored tree of {self.size} leaves")
        keys = decompose(lo, hi)
        found = self.view.nodes(keys)
        self.reads += 1
        missing = [k for k in keys if k not in found]
        if missing:
            raise LookupError(f"the stored tree lacks nodes {missing[:3]}")
        h = found[keys[-1]]
        for key in reversed(keys[:-1]):
            h = node_hash(found[key], h)
        return h

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        return self(0, size) if size else EMPTY_ROOT

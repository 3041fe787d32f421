"""RFC 9162 §2.1 Merkle trees over a log: hashes, inclusion and consistency proofs. Pure, no I/O.

- leaf hash ``SHA-256(0x00 || leaf bytes)``, node hash ``SHA-256(0x01 || left || right)``, the
  empty tree's root ``SHA-256("")``; a tree of n > 1 leaves splits at k, the largest power of two
  below n (§2.1.1);
- proofs are built from ``subtree(lo, hi)``, a callable that answers the root of leaves
  ``lo..hi-1``: a reader of stored tree levels answers it in O(log n) reads, a list of leaf
  hashes by hashing (:class:`LeafHashes`). Only roots of complete subtrees aligned on their size
  and of right edges are ever asked for;
- verification follows §2.1.3.2 (inclusion) and §2.1.4.2 (consistency) step by step, and agrees
  with the published test vectors of transparency-dev/merkle (``tests/fixtures/merkle``);
- :class:`CompactRange` folds leaf hashes into a root in one pass, keeping O(log n) hashes: the
  streaming verification's memory stays flat.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()
HASH_SIZE = 32

#: The root of leaves lo..hi-1 (lo < hi).
Subtree = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """k, the largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(hashes: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes (§2.1.1), iteratively: the same tree as the recursive definition."""
    if not hashes:
        return EMPTY_ROOT
    r = CompactRange()
    for h in hashes:
        r.append(h)
    return r.root()


class CompactRange:
    """The perfect subtrees covering leaves 0..size-1, largest first: append a leaf hash in O(1)
    amortised time, read the root in O(log n). Its :meth:`frontier` is what a checkpoint keeps to
    say later where two trees diverge."""

    __slots__ = ("_nodes", "size")

    def __init__(self) -> None:
        self.size = 0
        self._nodes: list[tuple[int, bytes]] = []  # (height, hash), heights strictly decreasing

    def append(self, h: bytes) -> None:
        nodes = self._nodes
        height = 0
        while nodes and nodes[-1][0] == height:
            h = node_hash(nodes.pop()[1], h)
            height += 1
        nodes.append((height, h))
        self.size += 1

    def root(self) -> bytes:
        if not self._nodes:
            return EMPTY_ROOT
        h = self._nodes[-1][1]
        for _, left in reversed(self._nodes[:-1]):
            h = node_hash(left, h)
        return h

    def copy(self) -> CompactRange:
        other = CompactRange()
        other.size, other._nodes = self.size, list(self._nodes)
        return other

    def frontier(self) -> list[tuple[int, int, bytes]]:
        """(first leaf, leaf count, hash) of each perfect subtree, left to right."""
        out, start = [], 0
        for height, h in self._nodes:
            out.append((start, 1 << height, h))
            start += 1 << height
        return out


def root_of_frontier(frontier: Sequence[tuple[int, int, bytes]]) -> bytes:
    """The root a frontier (as :meth:`CompactRange.frontier` gives it) folds into."""
    if not frontier:
        return EMPTY_ROOT
    h = frontier[-1][2]
    for _, _, left in reversed(frontier[:-1]):
        h = node_hash(left, h)
    return h


class LeafHashes:
    """``subtree(lo, hi)`` over leaf hashes held in memory (tests, small bundles)."""

    def __init__(self, hashes: Sequence[bytes]) -> None:
        self.hashes = hashes

    def __call__(self, lo: int, hi: int) -> bytes:
        return root_of(self.hashes[lo:hi])


class TreeLevels:
    """Every complete subtree's root, level by level, built in one pass over the leaf hashes.

    ``subtree(lo, hi)`` then costs O(log n) lookups and hashes: a complete aligned subtree is one
    lookup, a right edge the fold of the O(log n) complete subtrees it splits into. (Proofs only
    ask for ranges whose start is aligned on their length's highest power of two, where that fold
    is MTH of the range.)
    """

    def __init__(self, hashes: Iterable[bytes]) -> None:
        self.levels: list[list[bytes]] = [list(hashes)]
        while len(self.levels[-1]) > 1:
            below = self.levels[-1]
            self.levels.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def __call__(self, lo: int, hi: int) -> bytes:
        if not 0 <= lo < hi <= self.size:
            raise ValueError(f"no subtree {lo}..{hi} in a tree of {self.size} leaves")
        parts: list[bytes] = []
        while lo < hi:  # the largest aligned complete subtree starting at lo that fits, left to right
            height = (lo & -lo).bit_length() - 1 if lo else (hi - lo).bit_length() - 1
            while lo + (1 << height) > hi:
                height -= 1
            parts.append(self.levels[height][lo >> height])
            lo += 1 << height
        h = parts[-1]
        for left in reversed(parts[:-1]):
            h = node_hash(left, h)
        return h

    def root(self) -> bytes:
        return self(0, self.size) if self.size else EMPTY_ROOT


# --- proofs ------------------------------------------------------------------------------------


def inclusion_proof(index: int, size: int, subtree: Subtree) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 §2.1.3.1, leaves first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not below the tree size {size}")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:  # top down, then reversed: the path lists the sibling nearest the leaf first
        k = split(hi - lo)
        if index - lo < k:
            path.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            path.append(subtree(lo, lo + k))
            lo += k
    path.reverse()
    return path


def consistency_proof(old_size: int, new_size: int, subtree: Subtree) -> list[bytes]:
    """PROOF(m, D[0:n]) of RFC 9162 §2.1.4.1 (empty when m == n or m == 0)."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"old size {old_size} is not between 0 and the new size {new_size}")
    if old_size in (0, new_size):
        return []
    proof: list[bytes] = []
    m, lo, hi, complete = old_size, 0, new_size, True
    while True:
        n = hi - lo
        if m == n:
            if not complete:
                proof.append(subtree(lo, hi))
            break
        k = split(n)
        if m <= k:
            proof.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            proof.append(subtree(lo, lo + k))
            m, lo, complete = m - k, lo + k, False
    proof.reverse()
    return proof


def _is_hash(h: object) -> bool:
    return isinstance(h, bytes) and len(h) == HASH_SIZE


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes | None:
    """The root an inclusion proof leads to (RFC 9162 §2.1.3.2), or None when it cannot hold."""
    if not 0 <= index < size or not _is_hash(leaf) or not all(_is_hash(p) for p in proof):
        return None
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    """Whether ``leaf`` (a leaf hash) is leaf ``index`` of the tree of ``size`` whose root is ``root``."""
    return root_from_inclusion(index, size, leaf, proof) == root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """Whether the tree (new_size, new_root) extends (old_size, old_root) (RFC 9162 §2.1.4.2).

    As transparency-dev/merkle: equal sizes need an empty proof and equal roots; a proof from the
    empty tree proves nothing and is refused.
    """
    if not (0 < old_size <= new_size) or not all(_is_hash(p) for p in proof):
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


def first_difference(frontier: Sequence[tuple[int, int, bytes]], subtree: Subtree) -> tuple[int, int] | None:
    """The first perfect subtree (first leaf, leaf count) of an old tree's frontier whose root the
    current tree no longer has, or None when every one matches (the current tree extends it)."""
    for start, count, h in frontier:
        if subtree(start, start + count) != h:
            return (start, count)
    return None


def stream_root(hashes: Iterable[bytes]) -> tuple[int, bytes]:
    """(size, root) of leaf hashes read once, in O(log n) memory."""
    r = CompactRange()
    for h in hashes:
        r.append(h)
    return r.size, r.root()

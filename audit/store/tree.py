"""The signed checkpoints, the Merkle tree's stored nodes and the witnesses' cosignatures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from audit.store.connection import StoreConnection
from audit.tree_head import SignedTreeHead


def _tree_head(rows: list[tuple[Any, ...]]) -> SignedTreeHead | None:
    if not rows:
        return None
    size, root, issued_at, key_id, signature = rows[0]
    return SignedTreeHead(int(size), bytes(root), str(issued_at), str(key_id), bytes(signature))


class TreeTables(StoreConnection):
    """Checkpoints, tree nodes and cosignatures (append-only tables beside the log). Its reads go
    to the store's readers, never waiting for a commit under way (a proof or the latest checkpoint
    asked while 2,000 events commit)."""

    def add_checkpoint(self, checkpoint: SignedTreeHead) -> None:
        with self._lock:
            self._execute(
                "INSERT INTO checkpoints (tree_size, root_hash, issued_at, key_id, signature)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (tree_size) DO NOTHING",
                (
                    checkpoint.tree_size,
                    checkpoint.root_hash,
                    checkpoint.issued_at,
                    checkpoint.key_id,
                    checkpoint.signature,
                ),
            )
            self._commit()

    # -- the stored Merkle tree and witnesses' cosignatures (audit/tree.py, audit/witnessing.py) --
    # Nodes are a cache of perfect subtree roots that proofs read instead of the leaves; nothing
    # trusts them: every proof made from them is checked against a signed root.
    def add_nodes(self, nodes: Sequence[tuple[int, int, bytes]]) -> None:
        """Store perfect subtree roots ``(level, index, hash)``; ones already stored are kept."""
        with self._transaction():
            self._executemany(
                "INSERT INTO merkle_nodes (level, idx, hash) VALUES (?, ?, ?)"
                " ON CONFLICT (level, idx) DO NOTHING",
                list(nodes),
            )

    def nodes(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        found: dict[tuple[int, int], bytes] = {}
        for level, idx in keys:
            for (node,) in self._read(
                "SELECT hash FROM merkle_nodes WHERE level = ? AND idx = ?", (level, idx)
            ):
                found[(level, idx)] = bytes(node)
        return found

    def nodes_cover(self, level: int) -> int:
        """How many leaves the stored nodes of ``level`` cover from the start (their count times 2**level)."""
        [(highest,)] = self._read("SELECT MAX(idx) FROM merkle_nodes WHERE level = ?", (level,))
        return 0 if highest is None else (int(highest) + 1) << level

    def leaf_hash_range(self, lo: int, hi: int) -> list[bytes]:
        """The leaf hashes of leaf indices ``lo..hi-1`` (positions ``lo+1..hi``), a short range."""
        rows = self._read(
            "SELECT leaf_hash FROM events WHERE seq > ? AND seq <= ? ORDER BY seq", (lo, hi)
        )
        return [bytes(r[0]) for r in rows]

    def latest_checkpoint(self) -> SignedTreeHead | None:
        rows = self._read(
            "SELECT tree_size, root_hash, issued_at, key_id, signature FROM checkpoints"
            " ORDER BY tree_size DESC LIMIT 1"
        )
        return _tree_head(rows)

    def checkpoint_at(self, tree_size: int) -> SignedTreeHead | None:
        rows = self._read(
            "SELECT tree_size, root_hash, issued_at, key_id, signature FROM checkpoints"
            " WHERE tree_size = ?",
            (tree_size,),
        )
        return _tree_head(rows)

    def add_cosignature(self, tree_size: int, witness: str, line: str, received_at: str) -> None:
        with self._transaction():
            self._execute(
                "INSERT INTO cosignatures (tree_size, witness, line, received_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (tree_size, witness) DO NOTHING",
                (tree_size, witness, line, received_at),
            )

    def cosignatures(self, tree_size: int) -> dict[str, str]:
        """The cosignature line of each witness that cosigned the checkpoint of ``tree_size``."""
        rows = self._read(
            "SELECT witness, line FROM cosignatures WHERE tree_size = ?", (tree_size,)
        )
        return {str(w): str(line) for w, line in rows}

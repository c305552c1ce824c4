"""The signed checkpoints, the Merkle tree's stored nodes and the witnesses' cosignatures."""

from __future__ import annotations

from collections.abc import Sequence

from audit.store.connection import StoreConnection
from audit.tree_head import SignedTreeHead


class TreeTables(StoreConnection):
    """Checkpoints, tree nodes and cosignatures (append-only tables beside the log)."""

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
        with self._lock:
            for level, idx in keys:
                row = self._execute(
                    "SELECT hash FROM merkle_nodes WHERE level = ? AND idx = ?", (level, idx)
                ).fetchone()
                if row is not None:
                    found[(level, idx)] = bytes(row[0])
            self._commit()
        return found

    def nodes_cover(self, level: int) -> int:
        """How many leaves the stored nodes of ``level`` cover from the start (their count times 2**level)."""
        with self._lock:
            row = self._execute(
                "SELECT MAX(idx) FROM merkle_nodes WHERE level = ?", (level,)
            ).fetchone()
            self._commit()
        return 0 if row is None or row[0] is None else (int(row[0]) + 1) << level

    def leaf_hash_range(self, lo: int, hi: int) -> list[bytes]:
        """The leaf hashes of leaf indices ``lo..hi-1`` (positions ``lo+1..hi``), a short range."""
        with self._lock:
            rows = self._execute(
                "SELECT leaf_hash FROM events WHERE seq > ? AND seq <= ? ORDER BY seq", (lo, hi)
            ).fetchall()
            self._commit()
        return [bytes(r[0]) for r in rows]

    def latest_checkpoint(self) -> SignedTreeHead | None:
        with self._lock:
            row = self._execute(
                "SELECT tree_size, root_hash, issued_at, key_id, signature FROM checkpoints"
                " ORDER BY tree_size DESC LIMIT 1"
            ).fetchone()
            self._commit()
        if row is None:
            return None
        return SignedTreeHead(int(row[0]), bytes(row[1]), str(row[2]), str(row[3]), bytes(row[4]))

    def checkpoint_at(self, tree_size: int) -> SignedTreeHead | None:
        with self._lock:
            row = self._execute(
                "SELECT tree_size, root_hash, issued_at, key_id, signature FROM checkpoints"
                " WHERE tree_size = ?",
                (tree_size,),
            ).fetchone()
            self._commit()
        if row is None:
            return None
        return SignedTreeHead(int(row[0]), bytes(row[1]), str(row[2]), str(row[3]), bytes(row[4]))

    def add_cosignature(self, tree_size: int, witness: str, line: str, received_at: str) -> None:
        with self._transaction():
            self._execute(
                "INSERT INTO cosignatures (tree_size, witness, line, received_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (tree_size, witness) DO NOTHING",
                (tree_size, witness, line, received_at),
            )

    def cosignatures(self, tree_size: int) -> dict[str, str]:
        """The cosignature line of each witness that cosigned the checkpoint of ``tree_size``."""
        with self._lock:
            rows = self._execute(
                "SELECT witness, line FROM cosignatures WHERE tree_size = ?", (tree_size,)
            ).fetchall()
            self._commit()
        return {str(w): str(line) for w, line in rows}

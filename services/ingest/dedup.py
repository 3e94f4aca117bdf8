"""Article identity and near-duplicate detection (pure; the caller persists signatures).

Exact duplicates (the same story with different whitespace, quote style or case) share one id.
Near duplicates (a wire story lightly edited by each outlet) are found with MinHash over word
shingles and an LSH index, so each lookup costs a few bucket probes rather than a scan of all articles.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

import numpy as np
from datasketch import MinHash, MinHashLSH

__all__ = ["NearDuplicateIndex", "article_id_for", "normalise_for_identity"]

_DASHES = str.maketrans({"–": "-", "—": "-", "‒": "-", "−": "-", "‐": "-", "‑": "-"})
_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "‘": "'", "’": "'", "‚": "'", "`": "'"})
_TOKEN = re.compile(r"\w+")
_SHINGLE_WORDS = 3
# Seed and hashing scheme are pinned so that signatures persisted by one process or release stay
# comparable with those computed by the next.
_SEED = 1
_SCHEME = "affine32"
_PREFILTER_FACTOR = 0.75


def normalise_for_identity(text: str) -> str:
    """NFKC, casefold, unified quotes and dashes, whitespace collapsed to single spaces."""
    normalised = unicodedata.normalize("NFKC", text).translate(_DASHES).translate(_QUOTES).casefold()
    return " ".join(normalised.split())


def article_id_for(text: str) -> str:
    """Stable id of an article body: the first 32 hex digits of SHA-256 of the normalised text."""
    return hashlib.sha256(normalise_for_identity(text).encode("utf-8")).hexdigest()[:32]


def _shingles(text: str) -> set[bytes]:
    words = _TOKEN.findall(normalise_for_identity(text))
    if len(words) < _SHINGLE_WORDS:
        return {" ".join(words).encode("utf-8")} if words else set()
    return {" ".join(words[i : i + _SHINGLE_WORDS]).encode("utf-8") for i in range(len(words) - _SHINGLE_WORDS + 1)}


class NearDuplicateIndex:
    """Streaming near-duplicate index: add articles as they arrive, ask for an earlier near copy.

    ``find`` returns the earliest-added article whose estimated Jaccard similarity of word 3-gram
    shingles is at least ``threshold``. LSH buckets only propose candidates; each is confirmed against
    its stored MinHash so a bucket collision never produces a false match below the threshold.
    """

    def __init__(self, threshold: float = 0.8, num_perm: int = 128, capacity: int = 20_000) -> None:
        """``capacity``: the most recently added articles kept for comparison; the oldest is forgotten
        beyond it. Each costs about 4 KiB (its MinHash and its LSH bands), so an index of every article
        ever seen grew ingest by 100 MB over a 25,000-file burst; near copies arrive close together."""
        self._threshold = threshold
        self._num_perm = num_perm
        self._capacity = capacity
        self._added = 0  # insertion counter: positions stay comparable after evictions
        # LSH banding is a probabilistic prefilter: tuned at the threshold itself it misses a good share
        # of pairs just above it. Band for a lower similarity and weight false negatives heavily; the
        # candidates are then confirmed against the real threshold, so precision does not suffer.
        self._lsh = MinHashLSH(threshold=threshold * _PREFILTER_FACTOR, num_perm=num_perm, weights=(0.2, 0.8))
        self._hashes: dict[str, MinHash] = {}
        self._order: dict[str, int] = {}

    def signature(self, text: str) -> bytes:
        """The MinHash of ``text`` as bytes (little-endian uint64 per permutation), for persistence."""
        minhash = MinHash(num_perm=self._num_perm, seed=_SEED, scheme=_SCHEME)
        minhash.update_batch(sorted(_shingles(text)))
        return bytes(np.asarray(minhash.hashvalues, dtype="<u8").tobytes())

    def _load(self, signature: bytes) -> MinHash:
        expected = self._num_perm * 8
        if len(signature) != expected:
            raise ValueError(f"signature has {len(signature)} bytes, expected {expected} for num_perm={self._num_perm}")
        values = np.frombuffer(signature, dtype="<u8").astype(np.uint64)
        return MinHash(num_perm=self._num_perm, seed=_SEED, hashvalues=values, scheme=_SCHEME)

    def add(self, article_id: str, signature: bytes) -> None:
        """Index an article. Adding an id again is a no-op: the first signature and position stand."""
        if article_id in self._hashes:
            return
        minhash = self._load(signature)
        self._lsh.insert(article_id, minhash)
        self._hashes[article_id] = minhash
        self._order[article_id] = self._added
        self._added += 1
        if len(self._order) > self._capacity:
            oldest = next(iter(self._order))  # dicts keep insertion order
            self._lsh.remove(oldest)
            del self._hashes[oldest], self._order[oldest]

    def find(self, signature: bytes) -> str | None:
        """Earliest-added article id at or above the similarity threshold, else None."""
        minhash = self._load(signature)
        matches: list[str] = [
            str(candidate)
            for candidate in self._lsh.query(minhash)
            if self._hashes[candidate].jaccard(minhash) >= self._threshold
        ]
        if not matches:
            return None
        earliest: str = min(matches, key=self._order.__getitem__)
        return earliest

    def __len__(self) -> int:
        return len(self._hashes)

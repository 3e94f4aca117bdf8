"""Article identity and near-duplicate detection (the index's storage is a ``SignatureStore``: the ledger).

Exact duplicates (the same story with different whitespace, quote style or case) share one id.
Near duplicates (a wire story lightly edited by each outlet) are found with MinHash over word
shingles and LSH band keys, so each lookup costs a few index probes rather than a scan of all articles.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
from datasketch import MinHash, MinHashLSH

__all__ = [
    "NearDuplicateIndex",
    "SignatureStore",
    "StoredSignature",
    "article_id_for",
    "minhash_signature",
    "normalise_for_identity",
]

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


def minhash_signature(text: str, num_perm: int = 128) -> bytes:
    """The MinHash of ``text``'s word shingles as bytes (little-endian uint64 per permutation), for persistence."""
    minhash = MinHash(num_perm=num_perm, seed=_SEED, scheme=_SCHEME)
    minhash.update_batch(sorted(_shingles(text)))
    return bytes(np.asarray(minhash.hashvalues, dtype="<u8").tobytes())


@dataclass(frozen=True)
class StoredSignature:
    """An earlier article's MinHash, as the signature store keeps it."""

    article_id: str
    signature: bytes
    position: int  # increases with each signature added: "earlier" means a smaller position


# Candidates read per query. Near copies of a story flood in together (a wire story, a feed republishing),
# and the earliest copy is nearly always the match: a few of the earliest candidates first, then pages.
FIRST_CANDIDATES = 4
CANDIDATE_PAGE = 64


class SignatureStore(Protocol):
    """Where the near-duplicate index lives: ingest's ledger (SQLite, or Postgres shared by replicas).

    The store keeps every signature and its LSH band keys on disk, so ingest's memory does not grow with
    the number of articles it has seen (an in-memory index cost about 4 KiB an article: +100 MB over a
    25,000-file burst)."""

    def add_signature(self, article_id: str, signature: bytes, band_keys: Sequence[int]) -> None:
        """Keep a signature and its band keys; adding an article id again is a no-op."""
        ...

    def signatures_sharing(self, band_keys: Sequence[int], after: int, limit: int) -> list[StoredSignature]:
        """Up to ``limit`` stored signatures with at least one of ``band_keys`` and a position after
        ``after``, in the order they were added."""
        ...

    def band_scheme(self) -> str | None:
        """The banding the stored keys were computed with (None: never recorded)."""
        ...

    def rebuild_bands(self, scheme: str, band_keys: Callable[[bytes], list[int]]) -> int:
        """Recompute every stored signature's band keys under ``scheme``; return how many signatures."""
        ...


class NearDuplicateIndex:
    """Near-duplicate lookup over a signature store: add articles as they arrive, ask for an earlier near copy.

    ``find`` returns the earliest-added article whose estimated Jaccard similarity of word 3-gram
    shingles is at least ``threshold``. LSH band keys only propose candidates; each is confirmed against
    its stored MinHash so a band collision never produces a false match below the threshold.
    """

    def __init__(self, store: SignatureStore, threshold: float = 0.8, num_perm: int = 128) -> None:
        self._store = store
        self._threshold = threshold
        self._num_perm = num_perm
        # LSH banding is a probabilistic prefilter: tuned at the threshold itself it misses a good share
        # of pairs just above it. Band for a lower similarity and weight false negatives heavily; the
        # candidates are then confirmed against the real threshold, so precision does not suffer.
        # datasketch chooses the bands and rows; its in-memory tables are not used.
        banding = MinHashLSH(threshold=threshold * _PREFILTER_FACTOR, num_perm=num_perm, weights=(0.2, 0.8))
        self._rows = banding.r
        self._bands = banding.b
        self.scheme = f"minhash-{_SCHEME}-seed{_SEED}-perm{num_perm}-bands{self._bands}x{self._rows}-positions"
        if store.band_scheme() != self.scheme:
            # A first start, or another threshold or permutation count: keys of the old banding never match.
            store.rebuild_bands(self.scheme, self.band_keys)

    def signature(self, text: str) -> bytes:
        return minhash_signature(text, self._num_perm)

    def _values(self, signature: bytes) -> npt.NDArray[np.uint64]:
        expected = self._num_perm * 8
        if len(signature) != expected:
            raise ValueError(f"signature has {len(signature)} bytes, expected {expected} for num_perm={self._num_perm}")
        return np.frombuffer(signature, dtype="<u8")

    def band_keys(self, signature: bytes) -> list[int]:
        """One signed 64-bit key per LSH band: the band's index and its rows, hashed (fits SQL bigint)."""
        values = self._values(signature)
        row_bytes = self._rows * 8
        raw = values.tobytes()
        keys: list[int] = []
        for band in range(self._bands):
            rows = raw[band * row_bytes : (band + 1) * row_bytes]
            digest = hashlib.blake2b(rows, digest_size=8, salt=band.to_bytes(16, "big")).digest()
            keys.append(int.from_bytes(digest, "little", signed=True))
        return keys

    def add(self, article_id: str, signature: bytes) -> None:
        """Index an article. Adding an id again is a no-op: the first signature and position stand."""
        self._store.add_signature(article_id, signature, self.band_keys(signature))

    def find(self, signature: bytes) -> str | None:
        """Earliest-added article id at or above the similarity threshold, else None."""
        values = self._values(signature)
        keys = self.band_keys(signature)
        after, limit = 0, FIRST_CANDIDATES
        while True:
            page = self._store.signatures_sharing(keys, after, limit)
            for candidate in page:
                # The share of equal permutation minima estimates Jaccard similarity (MinHash.jaccard).
                similarity = float(np.count_nonzero(self._values(candidate.signature) == values)) / self._num_perm
                if similarity >= self._threshold:
                    return candidate.article_id
            if len(page) < limit:
                return None
            after, limit = page[-1].position, CANDIDATE_PAGE

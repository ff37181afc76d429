"""Near-duplicate narratives: character shingles, MinHash signatures and LSH bands.
Pure: no session, no I/O.

Template complaints (one text filed many times by a "rights-defence" middleman, with the
names, numbers, dates and amounts changed) differ from each other in a few places only.
So a narrative is first reduced to its structure: personal data masked, digits folded,
punctuation and spaces dropped; then cut into overlapping 3-character shingles (Chinese
has no spaces, so characters rather than words) and summarised by a 128-value MinHash
signature, whose share of equal values estimates the Jaccard similarity of two shingle
sets. Thirty-two bands of four values find the candidates without comparing every pair:
two texts with similarity 0.6 share at least one band with probability 0.99, with 0.3
only 0.23 (and candidates are then checked against the threshold).

The threshold, 0.6, comes from the texts in ``tests/complaints/texts.py``: the same
template with the personal details and amounts changed scores 0.87 to 0.92, and 0.72
with two phrases reworded and a clause added; two people describing the same kind of
harassment in their own words score below 0.02. 0.6 sits well below the edited template
and far above independent accounts, and leaves room for the estimate's error (about
0.04 at these values with 128 permutations).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fairdun.complaints.masking import mask

SHINGLE = 3
PERMUTATIONS = 128
BANDS = 32
ROWS = PERMUTATIONS // BANDS
THRESHOLD = 0.6
# Below this many shingles (about 20 characters of text) a narrative is too short to say
# that two of them came from one template.
MIN_SHINGLES = 20

# Universal hashing (a*x + b) mod p with the Mersenne prime 2^31 - 1: a*x stays below 2^62,
# so the arithmetic never overflows 64 bits.
_PRIME = np.uint64((1 << 31) - 1)
_rng = np.random.default_rng(20261129)  # fixed: stored signatures must stay comparable
_A = _rng.integers(1, _PRIME, size=PERMUTATIONS, dtype=np.uint64)
_B = _rng.integers(0, _PRIME, size=PERMUTATIONS, dtype=np.uint64)

_NOISE = re.compile(r"[\W_]+", re.UNICODE)
_DIGITS = re.compile(r"[0-9]+")


def normalise(text: str) -> str:
    """The structure of a narrative: personal data masked, NFKC, lower case, every run of
    digits one '#', no spaces or punctuation."""
    masked = mask(text, names=False).text
    folded = unicodedata.normalize("NFKC", masked).casefold()
    folded = _DIGITS.sub("#", folded)
    return _NOISE.sub("", folded)


def shingles(text: str) -> set[str]:
    norm = normalise(text)
    if len(norm) < SHINGLE:
        return {norm} if norm else set()
    return {norm[i : i + SHINGLE] for i in range(len(norm) - SHINGLE + 1)}


def _hash(shingle: str) -> int:
    return int.from_bytes(hashlib.blake2b(shingle.encode(), digest_size=4).digest(), "big")


def signature_of(items: set[str]) -> npt.NDArray[np.uint32]:
    """The MinHash signature of a shingle set (all 0xFFFFFFFF for an empty set)."""
    if not items:
        return np.full(PERMUTATIONS, 0xFFFFFFFF, dtype=np.uint32)
    x = np.fromiter((_hash(s) for s in items), dtype=np.uint64, count=len(items)) % _PRIME
    values = (np.outer(_A, x) + _B[:, None]) % _PRIME
    result: npt.NDArray[np.uint32] = values.min(axis=1).astype(np.uint32)
    return result


@dataclass(frozen=True)
class Fingerprint:
    signature: bytes  # PERMUTATIONS little-endian uint32 values
    bands: tuple[str, ...]  # one key per band, for the candidate index
    usable: bool  # False for narratives too short to group


def fingerprint(text: str) -> Fingerprint:
    items = shingles(text)
    sig = signature_of(items)
    bands = tuple(
        f"{i:02d}"
        + hashlib.blake2b(sig[i * ROWS : (i + 1) * ROWS].tobytes(), digest_size=8).hexdigest()
        for i in range(BANDS)
    )
    return Fingerprint(sig.astype("<u4").tobytes(), bands, len(items) >= MIN_SHINGLES)


def similarity(a: bytes, b: bytes) -> float:
    """Estimated Jaccard similarity of two stored signatures."""
    x = np.frombuffer(a, dtype="<u4")
    y = np.frombuffer(b, dtype="<u4")
    if x.shape != y.shape or x.size == 0:
        return 0.0
    return float(np.count_nonzero(x == y)) / float(x.size)


def jaccard(a: str, b: str) -> float:
    """Exact Jaccard similarity of two texts' shingle sets (for tests and explanations)."""
    x, y = shingles(a), shingles(b)
    if not x and not y:
        return 1.0
    return len(x & y) / len(x | y)

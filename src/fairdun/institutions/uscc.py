"""Unified social credit code (统一社会信用代码), GB 32100-2015.

18 characters: registration authority (1), institution type (1), administrative
division code (6 digits), organisation code (9), check character (1). The check
character is computed modulo 31 over the first 17 characters.
"""

from __future__ import annotations

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # I, O, Z, S, V are never used
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_VALUES = {ch: i for i, ch in enumerate(CHARSET)}


class InvalidCreditCode(ValueError):
    pass


def check_character(first17: str) -> str:
    total = sum(_VALUES[ch] * w for ch, w in zip(first17, WEIGHTS, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def normalise(code: str) -> str:
    return code.strip().upper()


def validate(code: str) -> str:
    """Return the normalised code or raise with a message that says what is wrong."""
    value = normalise(code)
    if len(value) != 18:
        raise InvalidCreditCode(f"must be 18 characters, got {len(value)}")
    bad = sorted({ch for ch in value if ch not in _VALUES})
    if bad:
        raise InvalidCreditCode(
            "contains characters not allowed by GB 32100-2015: " + ", ".join(repr(c) for c in bad)
        )
    if not value[2:8].isdigit():
        raise InvalidCreditCode("characters 3-8 (administrative division code) must be digits")
    expected = check_character(value[:17])
    if value[17] != expected:
        raise InvalidCreditCode(f"check character is {value[17]!r}, expected {expected!r}")
    return value


def make(first17: str) -> str:
    """Complete a 17-character prefix with its check character (demo data and tests)."""
    prefix = normalise(first17)
    return prefix + check_character(prefix)

"""Resident identity card number (居民身份证号码), GB 11643-1999: 17 digits and an ISO 7064
MOD 11-2 check character (0-9 or X)."""

from __future__ import annotations

from datetime import date

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def check_character(first17: str) -> str:
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def validate(number: str) -> str:
    """The normalised number, or ValueError saying what is wrong (never echoing the number)."""
    value = number.strip().upper()
    if (
        len(value) != 18
        or not value[:17].isdigit()
        or not (value[17].isdigit() or value[17] == "X")
    ):
        raise ValueError("must be 17 digits followed by a digit or X")
    try:
        date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise ValueError("characters 7-14 are not a valid birth date") from None
    if value[17] != check_character(value[:17]):
        raise ValueError("check character does not match (GB 11643)")
    return value

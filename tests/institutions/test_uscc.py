"""Unified social credit code (GB 32100-2015): validation, normalisation and the check character."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from fairdun.institutions import uscc
from fairdun.institutions.uscc import CHARSET, InvalidCreditCode

# Real, published codes (Huawei Technologies; China Mobile Communications Group).
KNOWN_VALID = ["9144030071526726XG", "91110000802100433B"]


@pytest.mark.parametrize("code", KNOWN_VALID)
def test_known_real_codes_validate_and_come_back_unchanged(code: str) -> None:
    assert uscc.validate(code) == code


@pytest.mark.parametrize("code", KNOWN_VALID)
def test_check_character_of_known_codes_matches_their_last_character(code: str) -> None:
    assert uscc.check_character(code[:17]) == code[17]


@pytest.mark.parametrize("code", KNOWN_VALID)
def test_make_completes_a_known_prefix_to_the_published_code(code: str) -> None:
    assert uscc.make(code[:17]) == code


@pytest.mark.parametrize("code", KNOWN_VALID)
def test_every_wrong_check_character_is_rejected_naming_the_expected_one(code: str) -> None:
    expected = code[17]
    wrong = [ch for ch in CHARSET if ch != expected]
    assert len(wrong) == 30
    for ch in wrong:
        with pytest.raises(InvalidCreditCode) as excinfo:
            uscc.validate(code[:17] + ch)
        message = str(excinfo.value)
        assert f"expected {expected!r}" in message
        assert f"is {ch!r}" in message


def test_lowercase_and_surrounding_spaces_are_normalised() -> None:
    assert uscc.validate("  9144030071526726xg \n") == "9144030071526726XG"


def test_normalise_uppercases_and_trims_without_validating() -> None:
    assert uscc.normalise(" abc ") == "ABC"


@pytest.mark.parametrize("code", ["9144030071526726X", "9144030071526726XGG", "", "91"])
def test_wrong_length_is_rejected_with_the_length_found(code: str) -> None:
    with pytest.raises(InvalidCreditCode, match=f"must be 18 characters, got {len(code)}"):
        uscc.validate(code)


def test_length_is_counted_after_trimming() -> None:
    with pytest.raises(InvalidCreditCode, match="got 17"):
        uscc.validate(" 9144030071526726X ")


@pytest.mark.parametrize("letter", ["I", "O", "Z", "S", "V"])
def test_letters_excluded_by_the_standard_are_rejected_by_name(letter: str) -> None:
    code = "9144030071526726" + letter + "G"
    with pytest.raises(InvalidCreditCode, match="not allowed") as excinfo:
        uscc.validate(code)
    assert repr(letter) in str(excinfo.value)


@pytest.mark.parametrize("letter", ["i", "o", "z", "s", "v"])
def test_excluded_letters_are_rejected_in_lowercase_too(letter: str) -> None:
    with pytest.raises(InvalidCreditCode) as excinfo:
        uscc.validate("9144030071526726" + letter + "G")
    assert repr(letter.upper()) in str(excinfo.value)


@pytest.mark.parametrize("bad", ["-", "#", "中", "Ⅸ"])
def test_punctuation_and_non_ascii_characters_are_rejected(bad: str) -> None:
    with pytest.raises(InvalidCreditCode, match="not allowed"):
        uscc.validate("9144030071526726" + bad + "G")


def test_all_bad_characters_are_named_once_in_sorted_order() -> None:
    with pytest.raises(InvalidCreditCode) as excinfo:
        uscc.validate("91440300715267OIOI")
    assert str(excinfo.value).endswith("'I', 'O'")


def test_letter_in_the_administrative_division_code_is_rejected() -> None:
    code = uscc.make("914A0300715267260")  # valid check character, letter at position 4
    with pytest.raises(InvalidCreditCode, match="characters 3-8"):
        uscc.validate(code)


def test_charset_is_the_31_characters_of_the_standard() -> None:
    assert len(CHARSET) == 31
    assert len(set(CHARSET)) == 31
    assert not set("IOZSV") & set(CHARSET)
    assert set(CHARSET) == set("0123456789ABCDEFGHJKLMNPQRTUWXY")


def test_weights_are_powers_of_three_modulo_31() -> None:
    assert tuple(pow(3, i, 31) for i in range(17)) == uscc.WEIGHTS


charset_char = st.sampled_from(CHARSET)
digit = st.sampled_from("0123456789")
prefixes = st.tuples(
    st.text(charset_char, min_size=2, max_size=2),
    st.text(digit, min_size=6, max_size=6),
    st.text(charset_char, min_size=9, max_size=9),
).map("".join)


@given(prefix=prefixes)
def test_make_yields_a_code_that_validates(prefix: str) -> None:
    code = uscc.make(prefix)
    assert len(code) == 18
    assert uscc.validate(code) == code


@given(prefix=prefixes, position=st.integers(0, 17), data=st.data())
def test_any_single_character_substitution_is_detected(
    prefix: str, position: int, data: st.DataObject
) -> None:
    code = uscc.make(prefix)
    replacement = data.draw(charset_char.filter(lambda ch: ch != code[position]))
    altered = code[:position] + replacement + code[position + 1 :]
    with pytest.raises(InvalidCreditCode):
        uscc.validate(altered)


def test_every_single_substitution_of_a_known_code_is_detected_exhaustively() -> None:
    code = KNOWN_VALID[0]
    tried = 0
    for position in range(18):
        for ch in CHARSET:
            if ch == code[position]:
                continue
            altered = code[:position] + ch + code[position + 1 :]
            with pytest.raises(InvalidCreditCode):
                uscc.validate(altered)
            tried += 1
    assert tried == 18 * 30


@given(prefix=prefixes, data=st.data())
def test_swapping_two_different_adjacent_characters_is_detected(
    prefix: str, data: st.DataObject
) -> None:
    code = uscc.make(prefix)
    candidates = [i for i in range(16) if code[i] != code[i + 1]]
    assume(candidates)
    i = data.draw(st.sampled_from(candidates))
    swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
    with pytest.raises(InvalidCreditCode):
        uscc.validate(swapped)

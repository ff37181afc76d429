"""Personal data encryption (AES-256-GCM envelopes) and keyed blind indexes."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fairdun.kit import crypto
from fairdun.kit.crypto import CryptoKeyError, KeyRing, parse_keys

KEY_1 = base64.b64encode(b"k" * 32).decode()
KEY_2 = base64.b64encode(b"n" * 32).decode()
INDEX_KEY = base64.b64encode(b"i" * 32).decode()
OTHER_INDEX_KEY = base64.b64encode(b"j" * 32).decode()

EMAIL = "users.email"
PHONE = "users.phone"


def ring(data_keys: str = f"t1:{KEY_1}", active: str = "t1", index_key: str = INDEX_KEY) -> KeyRing:
    return KeyRing.from_settings(data_keys, active, index_key)


def body_of(stored: str) -> bytes:
    return base64.b64decode(stored.split(":", 2)[2])


def with_body(stored: str, raw: bytes) -> str:
    prefix, key_id, _ = stored.split(":", 2)
    return f"{prefix}:{key_id}:{base64.b64encode(raw).decode()}"


# --- encryption -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "plaintext",
    [
        "alice@example.com",
        "张三",
        "借款人 张三，手机 13800138000",
        "",
        " ",
        "emoji 🙂 and \x00 nul",
    ],
)
def test_round_trip_returns_the_plaintext(plaintext: str) -> None:
    keys = ring()
    assert keys.decrypt(keys.encrypt(plaintext, EMAIL), EMAIL) == plaintext


@given(plaintext=st.text())
def test_round_trip_holds_for_any_text(plaintext: str) -> None:
    keys = ring()
    assert keys.decrypt(keys.encrypt(plaintext, PHONE), PHONE) == plaintext


def test_stored_value_names_format_and_active_key() -> None:
    stored = ring(f"t1:{KEY_1},t2:{KEY_2}", "t2").encrypt("x", EMAIL)
    assert stored.startswith("fd1:t2:")
    assert stored.isascii()


def test_stored_body_is_nonce_ciphertext_and_tag() -> None:
    plaintext = "13800138000"
    raw = body_of(ring().encrypt(plaintext, PHONE))
    assert len(raw) == crypto.NONCE_BYTES + len(plaintext.encode()) + 16


def test_same_plaintext_encrypts_differently_each_time() -> None:
    keys = ring()
    values = {keys.encrypt("张三", EMAIL) for _ in range(20)}
    assert len(values) == 20
    nonces = {body_of(v)[: crypto.NONCE_BYTES] for v in values}
    assert len(nonces) == 20


@pytest.mark.parametrize("plaintext", ["alice@example.com", "13800138000", "张三", "ZHANG San"])
def test_ciphertext_never_contains_the_plaintext(plaintext: str) -> None:
    keys = ring()
    for _ in range(10):
        stored = keys.encrypt(plaintext, EMAIL)
        assert plaintext not in stored
        assert plaintext.encode() not in body_of(stored)
        assert base64.b64encode(plaintext.encode()).decode()[:8] not in stored


def test_context_is_authenticated_a_value_does_not_open_in_another_column() -> None:
    keys = ring()
    stored = keys.encrypt("alice@example.com", EMAIL)
    with pytest.raises(CryptoKeyError, match=r"users\.phone") as excinfo:
        keys.decrypt(stored, PHONE)
    assert "authentication" in str(excinfo.value)


@given(position=st.integers(min_value=0), bit=st.integers(0, 7))
def test_any_flipped_bit_fails_authentication(position: int, bit: int) -> None:
    keys = ring()
    stored = keys.encrypt("借款人 张三", EMAIL)
    raw = bytearray(body_of(stored))
    raw[position % len(raw)] ^= 1 << bit
    with pytest.raises(CryptoKeyError, match="failed authentication"):
        keys.decrypt(with_body(stored, bytes(raw)), EMAIL)


def test_value_moved_to_another_key_id_label_does_not_open() -> None:
    keys = ring(f"t1:{KEY_1},t2:{KEY_2}", "t1")
    stored = keys.encrypt("x", EMAIL)
    relabelled = stored.replace("fd1:t1:", "fd1:t2:", 1)
    with pytest.raises(CryptoKeyError, match="failed authentication"):
        keys.decrypt(relabelled, EMAIL)


def test_value_under_unknown_key_names_that_key_id() -> None:
    stored = ring(f"old_key:{KEY_1}", "old_key").encrypt("x", EMAIL)
    with pytest.raises(CryptoKeyError, match="'old_key'") as excinfo:
        ring(f"t2:{KEY_2}", "t2").decrypt(stored, EMAIL)
    assert "FAIRDUN_DATA_KEYS" in str(excinfo.value)


def test_old_values_still_open_while_their_key_is_listed() -> None:
    stored = ring().encrypt("张三", EMAIL)
    both = ring(f"t1:{KEY_1},t2:{KEY_2}", "t2")
    assert both.decrypt(stored, EMAIL) == "张三"
    assert both.encrypt("张三", EMAIL).startswith("fd1:t2:")


@pytest.mark.parametrize("stored", ["plain text", "", "abc"])
def test_value_that_is_not_a_ciphertext_is_refused_naming_the_column(stored: str) -> None:
    with pytest.raises(CryptoKeyError, match=r"users\.email"):
        ring().decrypt(stored, EMAIL)


def test_value_with_unknown_format_prefix_is_refused() -> None:
    stored = ring().encrypt("x", EMAIL).replace("fd1:", "fd9:", 1)
    with pytest.raises(CryptoKeyError, match="'fd9'"):
        ring().decrypt(stored, EMAIL)


@pytest.mark.parametrize(
    "body",
    ["", "abc", "!!!!", base64.b64encode(b"short").decode()],
    ids=["empty", "bad-padding", "not-base64", "shorter-than-nonce"],
)
def test_corrupted_body_is_refused_with_crypto_key_error(body: str) -> None:
    with pytest.raises(CryptoKeyError, match=r"users\.email"):
        ring().decrypt(f"fd1:t1:{body}", EMAIL)


def test_body_too_short_for_a_tag_is_refused() -> None:
    stored = "fd1:t1:" + base64.b64encode(b"x" * crypto.NONCE_BYTES).decode()
    with pytest.raises(CryptoKeyError, match="too short"):
        ring().decrypt(stored, EMAIL)


# --- key parsing and the key ring --------------------------------------------------------


def test_parse_keys_reads_several_entries_and_ignores_blank_ones() -> None:
    keys = parse_keys(f" t1:{KEY_1} ,, t2:{KEY_2}, ")
    assert keys == {"t1": b"k" * 32, "t2": b"n" * 32}


@pytest.mark.parametrize("spec", ["", " ", ",", " , ,"])
def test_parse_keys_refuses_an_empty_specification(spec: str) -> None:
    with pytest.raises(CryptoKeyError, match="holds no key"):
        parse_keys(spec)


def test_parse_keys_names_the_entry_without_a_colon() -> None:
    with pytest.raises(CryptoKeyError, match=r"'t1'.*'id:base64key'"):
        parse_keys(f"good:{KEY_1},t1")


def test_parse_keys_missing_colon_message_shows_only_the_start_of_the_entry() -> None:
    with pytest.raises(CryptoKeyError) as excinfo:
        parse_keys(KEY_1)
    assert KEY_1[:8] in str(excinfo.value)
    assert KEY_1 not in str(excinfo.value)


@pytest.mark.parametrize("b64", ["not base64!", "a2V", "中文"])
def test_parse_keys_names_the_key_whose_value_is_not_base64(b64: str) -> None:
    with pytest.raises(CryptoKeyError, match="'broken' is not valid base64"):
        parse_keys(f"t1:{KEY_1},broken:{b64}")


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_parse_keys_names_the_key_of_the_wrong_length(length: int) -> None:
    b64 = base64.b64encode(b"x" * length).decode()
    with pytest.raises(CryptoKeyError, match=f"'short' must be 32 bytes, got {length}"):
        parse_keys(f"t1:{KEY_1},short:{b64}")


@pytest.mark.parametrize("key_id", ["", "1st", "my-key", "a b"])
def test_parse_keys_refuses_a_key_id_that_is_not_an_identifier(key_id: str) -> None:
    with pytest.raises(CryptoKeyError, match="letters, digits or _") as excinfo:
        parse_keys(f"{key_id}:{KEY_1}")
    assert repr(key_id) in str(excinfo.value)


def test_key_ring_refuses_an_active_id_not_among_the_keys() -> None:
    with pytest.raises(CryptoKeyError, match="FAIRDUN_ACTIVE_KEY_ID 't3'") as excinfo:
        ring(f"t1:{KEY_1},t2:{KEY_2}", "t3")
    assert "t1, t2" in str(excinfo.value)


def test_key_ring_refuses_a_short_blind_index_key() -> None:
    short = base64.b64encode(b"i" * 31).decode()
    with pytest.raises(CryptoKeyError, match="FAIRDUN_BLIND_INDEX_KEY"):
        ring(index_key=short)


def test_key_ring_refuses_a_blind_index_key_that_is_not_base64() -> None:
    with pytest.raises(CryptoKeyError, match="FAIRDUN_BLIND_INDEX_KEY is not valid base64"):
        ring(index_key="not base64!")


def test_generated_keys_are_fresh_32_byte_keys_the_ring_accepts() -> None:
    first, second = crypto.generate_key(), crypto.generate_key()
    assert first != second
    assert len(base64.b64decode(first, validate=True)) == 32
    keys = ring(f"g1:{first},g2:{second}", "g2", index_key=crypto.generate_key())
    assert keys.decrypt(keys.encrypt("x", EMAIL), EMAIL) == "x"


def test_key_id_of_reads_the_key_id_of_a_stored_value() -> None:
    keys = ring(f"t1:{KEY_1},t2:{KEY_2}", "t2")
    assert KeyRing.key_id_of(keys.encrypt("x", EMAIL)) == "t2"
    assert KeyRing.key_id_of(ring().encrypt("x", EMAIL)) == "t1"
    assert KeyRing.key_id_of("fd1:some_id:AAAA") == "some_id"


def test_unconfigured_process_key_ring_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crypto, "_keyring", None)
    with pytest.raises(CryptoKeyError, match="no key ring configured"):
        crypto.keyring()


def test_configure_installs_the_process_key_ring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crypto, "_keyring", crypto._keyring)
    keys = ring(f"t2:{KEY_2}", "t2")
    crypto.configure(keys)
    assert crypto.keyring() is keys


# --- blind indexes -----------------------------------------------------------------------


def test_blind_index_is_deterministic_hex_sha256() -> None:
    first = ring().blind_index("alice@example.com", EMAIL)
    assert first == ring().blind_index("alice@example.com", EMAIL)
    assert len(first) == 64
    assert int(first, 16) >= 0


@pytest.mark.parametrize(
    "variant",
    [
        " Foo@Example.com ",
        "FOO@EXAMPLE.COM",
        "foo @ example.com",
        "\tfoo@example.com\n",
        "ｆｏｏ＠ｅｘａｍｐｌｅ．ｃｏｍ",  # full-width forms, folded by NFKC
        "foo@example.com\u3000",  # ideographic space
    ],
)
def test_blind_index_normalises_case_spaces_and_width(variant: str) -> None:
    keys = ring()
    assert keys.blind_index(variant, EMAIL) == keys.blind_index("foo@example.com", EMAIL)


def test_normal_form_is_nfkc_trimmed_casefolded_without_spaces() -> None:
    assert crypto.normalise_for_index(" Foo@Example.com ") == "foo@example.com"
    assert crypto.normalise_for_index("Straße") == "strasse"
    assert crypto.normalise_for_index("１３８ ００１３ ８０００") == "13800138000"


def test_blind_index_of_different_values_differs() -> None:
    keys = ring()
    assert keys.blind_index("foo@example.com", EMAIL) != keys.blind_index("fo0@example.com", EMAIL)


def test_blind_index_differs_by_context() -> None:
    keys = ring()
    assert keys.blind_index("alice", "users.email") != keys.blind_index("alice", "login.username")


def test_blind_index_differs_by_index_key() -> None:
    assert ring().blind_index("alice", EMAIL) != ring(index_key=OTHER_INDEX_KEY).blind_index(
        "alice", EMAIL
    )


def test_blind_index_does_not_depend_on_the_data_keys() -> None:
    assert ring().blind_index("alice", EMAIL) == ring(f"t2:{KEY_2}", "t2").blind_index(
        "alice", EMAIL
    )


@given(
    local=st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789._-"), min_size=1),
    domain=st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-."), min_size=1),
    pad=st.text(st.sampled_from(" \t\n"), max_size=3),
)
def test_blind_index_of_ascii_address_ignores_case_and_padding(
    local: str, domain: str, pad: str
) -> None:
    keys = ring()
    address = f"{local}@{domain}"
    assert keys.blind_index(pad + address.upper() + pad, EMAIL) == keys.blind_index(address, EMAIL)

"""Personal data protection: AES-256-GCM envelope per value and keyed blind indexes.

A stored value looks like ``fd1:<key id>:<base64(nonce || ciphertext+tag)>``. The
key id lets ``fairdun keys rotate`` find values under an old key. The column
name is authenticated as associated data, so a ciphertext copied into another
column does not decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import unicodedata
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "fd1"
NONCE_BYTES = 12


class CryptoKeyError(Exception):
    """A key is missing, malformed or does not open a value."""


def generate_key() -> str:
    """A fresh 256-bit key, base64 encoded."""
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def parse_keys(spec: str) -> dict[str, bytes]:
    """Parse ``id1:base64,id2:base64`` into a key map, naming the bad entry on error."""
    keys: dict[str, bytes] = {}
    for raw in spec.split(","):
        entry = raw.strip()
        if not entry:
            continue
        if ":" not in entry:
            raise CryptoKeyError(f"FAIRDUN_DATA_KEYS entry {entry[:8]!r}... is not 'id:base64key'")
        key_id, b64 = entry.split(":", 1)
        if not key_id.isidentifier():
            raise CryptoKeyError(
                f"FAIRDUN_DATA_KEYS key id {key_id!r} must be letters, digits or _"
            )
        try:
            key = base64.b64decode(b64, validate=True)
        except ValueError:
            raise CryptoKeyError(f"FAIRDUN_DATA_KEYS key {key_id!r} is not valid base64") from None
        if len(key) != 32:
            raise CryptoKeyError(
                f"FAIRDUN_DATA_KEYS key {key_id!r} must be 32 bytes, got {len(key)}"
            )
        keys[key_id] = key
    if not keys:
        raise CryptoKeyError("FAIRDUN_DATA_KEYS holds no key")
    return keys


def normalise_for_index(value: str) -> str:
    """Exact-match normal form: Unicode NFKC, trimmed, case-folded, inner spaces removed."""
    text = unicodedata.normalize("NFKC", value).strip().casefold()
    return "".join(text.split())


@dataclass(frozen=True)
class KeyRing:
    keys: dict[str, bytes]
    active_key_id: str
    index_key: bytes
    _aead: dict[str, AESGCM] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.active_key_id not in self.keys:
            raise CryptoKeyError(
                f"FAIRDUN_ACTIVE_KEY_ID {self.active_key_id!r} is not among FAIRDUN_DATA_KEYS "
                f"({', '.join(sorted(self.keys))})"
            )
        if len(self.index_key) < 32:
            raise CryptoKeyError("FAIRDUN_BLIND_INDEX_KEY must decode to at least 32 bytes")
        for key_id, key in self.keys.items():
            self._aead[key_id] = AESGCM(key)

    @classmethod
    def from_settings(cls, data_keys: str, active_key_id: str, blind_index_key: str) -> KeyRing:
        try:
            index_key = base64.b64decode(blind_index_key, validate=True)
        except ValueError:
            raise CryptoKeyError("FAIRDUN_BLIND_INDEX_KEY is not valid base64") from None
        return cls(parse_keys(data_keys), active_key_id, index_key)

    def encrypt(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        aead = self._aead[self.active_key_id]
        sealed = aead.encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
        body = base64.b64encode(nonce + sealed).decode("ascii")
        return f"{PREFIX}:{self.active_key_id}:{body}"

    def decrypt(self, stored: str, context: str) -> str:
        try:
            prefix, key_id, body = stored.split(":", 2)
        except ValueError:
            raise CryptoKeyError(f"value in {context} is not a fairdun ciphertext") from None
        if prefix != PREFIX:
            raise CryptoKeyError(f"value in {context} has unknown format {prefix!r}")
        aead = self._aead.get(key_id)
        if aead is None:
            raise CryptoKeyError(
                f"value in {context} is encrypted under key {key_id!r}, "
                "which is not in FAIRDUN_DATA_KEYS"
            )
        try:
            raw = base64.b64decode(body, validate=True)
        except ValueError:
            raise CryptoKeyError(f"value in {context} is not valid base64 (corrupted?)") from None
        if len(raw) < NONCE_BYTES + 16:  # nonce + GCM tag at the least
            raise CryptoKeyError(f"value in {context} is too short to be a fairdun ciphertext")
        try:
            plain = aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode("utf-8"))
        except InvalidTag:
            raise CryptoKeyError(f"value in {context} failed authentication (tampered?)") from None
        return plain.decode("utf-8")

    @staticmethod
    def key_id_of(stored: str) -> str:
        parts = stored.split(":", 2)
        if len(parts) != 3 or parts[0] != PREFIX:
            raise CryptoKeyError("not a fairdun ciphertext")
        return parts[1]

    def blind_index(self, value: str, context: str) -> str:
        """Keyed HMAC-SHA256 of the normalised value; ``context`` separates kinds of data."""
        message = f"{context}\x00{normalise_for_index(value)}".encode()
        return hmac.new(self.index_key, message, hashlib.sha256).hexdigest()


_keyring: KeyRing | None = None


def configure(keyring: KeyRing) -> None:
    """Install the process key ring (done once by the app, the CLI or a test)."""
    global _keyring
    _keyring = keyring


def keyring() -> KeyRing:
    if _keyring is None:
        raise CryptoKeyError("no key ring configured: call fairdun.kit.crypto.configure() first")
    return _keyring

"""Evidence files: the type from the content (never the name), image metadata stripped,
and storage outside the web root, encrypted, under random names.

The sniffer knows only the formats a report may carry and refuses everything else, so a
file that is "really HTML" is refused whatever it is called. It is a few magic numbers
rather than a library: libmagic (python-magic) needs a system library and answers for
thousands of formats we must refuse anyway, and a whitelist is easier to audit.

Images are decoded and drawn again from their pixels with Pillow: that drops EXIF (GPS
position, camera, time), XMP, ICC and text chunks, and proves the file is an image. Audio,
PDF and text are kept byte for byte; they are never shown inline (see ``download_headers``).
"""

from __future__ import annotations

import io
import os
import re
import secrets
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fairdun.kit import crypto
from fairdun.kit.errors import Invalid

MAX_BYTES = 10 * 1024 * 1024
MAX_FILES = 5
MAX_PIXELS = 40_000_000  # a decompression bomb is refused before it is decoded


@dataclass(frozen=True)
class FileType:
    kind: str  # image, pdf, audio, text
    content_type: str  # what a download says it is
    extension: str  # what a download is called


JPEG = FileType("image", "image/jpeg", "jpg")
PNG = FileType("image", "image/png", "png")
GIF = FileType("image", "image/gif", "gif")
WEBP = FileType("image", "image/webp", "webp")
PDF = FileType("pdf", "application/pdf", "pdf")
MP3 = FileType("audio", "audio/mpeg", "mp3")
M4A = FileType("audio", "audio/mp4", "m4a")
AMR = FileType("audio", "audio/amr", "amr")
WAV = FileType("audio", "audio/wav", "wav")
TEXT = FileType("text", "text/plain; charset=utf-8", "txt")
TYPES = (JPEG, PNG, GIF, WEBP, PDF, MP3, M4A, AMR, WAV, TEXT)

# What a file's name may say it is: a name that says one kind and content of another kind
# is refused (an "image" that is text is a disguise, not a mistake).
EXTENSION_KIND = {
    **{ext: "image" for ext in ("jpg", "jpeg", "png", "gif", "webp")},
    "pdf": "pdf",
    **{ext: "audio" for ext in ("mp3", "m4a", "mp4", "aac", "amr", "wav")},
    **{ext: "text" for ext in ("txt", "text", "log", "csv")},
}

_M4A_BRANDS = {b"M4A ", b"M4B ", b"mp42", b"mp41", b"isom", b"iso2", b"3gp4", b"3gp5", b"dash"}
# Text that a browser would take for markup (WHATWG MIME sniffing, "rules for identifying
# an unknown MIME type"), plus the usual script payload openings.
_MARKUP = re.compile(
    rb"^\s*(?:<!doctype\s+html|<html|<head|<script|<iframe|<h1|<div|<font|<table|<a\s|<style"
    rb"|<title|<b\b|<body|<br|<p\b|<!--|<\?xml|<svg)",
    re.IGNORECASE,
)
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _mp3(head: bytes) -> bool:
    if head.startswith(b"ID3"):
        return True
    # An MPEG audio frame header: 11 sync bits, then a layer other than "reserved".
    return len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and head[1] & 0x06 != 0


def sniff(data: bytes) -> FileType | None:
    """The type of ``data`` from its first bytes, or None for anything not allowed."""
    head = data[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return WAV
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"#!AMR\n") or head.startswith(b"#!AMR-WB\n"):
        return AMR
    if head[4:8] == b"ftyp" and head[8:12] in _M4A_BRANDS:
        return M4A
    if _mp3(head):
        return MP3
    return TEXT if _plain_text(data) else None


def _plain_text(data: bytes) -> bool:
    """UTF-8 text (a BOM allowed) with no control characters and nothing that looks like
    markup at its start."""
    body = data.removeprefix(b"\xef\xbb\xbf")
    if not body.strip() or _CONTROL.search(body) or _MARKUP.match(body):
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"<script" not in body.lower()


def extension_of(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


@dataclass(frozen=True)
class CheckedFile:
    """A file that passed the checks, ready to store: ``data`` is what is kept."""

    original_name: str
    file_type: FileType
    data: bytes
    stripped: bool = False  # image metadata removed


def strip_image(data: bytes, file_type: FileType) -> bytes:
    """The image redrawn from its pixels, without EXIF, XMP, ICC or text chunks; turned
    upright first, since the orientation lived in the EXIF being dropped."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:
                opened.load()
                upright = ImageOps.exif_transpose(opened)
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValueError("it is not a readable image, or it is too large") from None
    except (OSError, SyntaxError, ValueError):
        raise ValueError("the image is damaged") from None
    mode = upright.mode
    if file_type is JPEG and mode not in ("RGB", "L", "CMYK"):
        mode = "RGB"
    elif mode not in ("RGB", "RGBA", "L", "LA", "P", "1", "CMYK"):
        mode = "RGBA"
    pixels = upright.convert(mode)
    clean = Image.new(pixels.mode, pixels.size)
    if pixels.mode == "P":
        palette = pixels.getpalette()
        if palette is not None:
            clean.putpalette(palette)
    clean.paste(pixels)
    out = io.BytesIO()
    fmt = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP"}
    options: dict[str, object] = {"quality": 92} if file_type is JPEG else {}
    clean.save(out, format=fmt[file_type.content_type], **options)
    return out.getvalue()


def check_file(field_name: str, original_name: str, data: bytes) -> CheckedFile:
    """Check one upload; :class:`Invalid` names the field and the file when it is refused."""
    if not data:
        raise Invalid(field_name, f"{safe_name(original_name)} is empty")
    if len(data) > MAX_BYTES:
        raise Invalid(
            field_name, f"{safe_name(original_name)} is larger than {MAX_BYTES // 1024 // 1024} MB"
        )
    file_type = sniff(data)
    if file_type is None:
        raise Invalid(
            field_name,
            f"{safe_name(original_name)}: this kind of file is not accepted; send an image "
            "(JPEG, PNG, GIF, WebP), a PDF, audio (MP3, M4A, AMR, WAV) or plain text",
        )
    claimed = EXTENSION_KIND.get(extension_of(original_name))
    if claimed is not None and claimed != file_type.kind:
        raise Invalid(
            field_name,
            f"{safe_name(original_name)}: the name says {claimed} but the content is "
            f"{file_type.kind}; the file is refused",
        )
    if file_type.kind == "image":
        try:
            return CheckedFile(original_name, file_type, strip_image(data, file_type), True)
        except ValueError as exc:
            raise Invalid(field_name, f"{safe_name(original_name)}: {exc}") from None
    return CheckedFile(original_name, file_type, data)


_UNSAFE = re.compile(r"[^\w.\- ()\u4e00-\u9fff]+")


def safe_name(name: str) -> str:
    """A file name fit to show in a message: no path, no control or markup characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return (_UNSAFE.sub("_", base).strip() or "file")[:120]


# --- storage --------------------------------------------------------------------------------

_MAGIC = b"FDE1"  # fairdun evidence, envelope version 1


def _aad(storage_name: str) -> bytes:
    return f"complaint_evidence:{storage_name}".encode()


def seal(data: bytes, storage_name: str) -> bytes:
    """AES-256-GCM under the active data key, bound to the file's storage name."""
    ring = crypto.keyring()
    key_id = ring.active_key_id.encode()
    nonce = os.urandom(crypto.NONCE_BYTES)
    sealed = AESGCM(ring.keys[ring.active_key_id]).encrypt(nonce, data, _aad(storage_name))
    return _MAGIC + bytes([len(key_id)]) + key_id + nonce + sealed


def unseal(blob: bytes, storage_name: str) -> bytes:
    if not blob.startswith(_MAGIC):
        raise crypto.CryptoKeyError(f"evidence {storage_name} is not a fairdun envelope")
    n = blob[4]
    key_id = blob[5 : 5 + n].decode()
    rest = blob[5 + n :]
    ring = crypto.keyring()
    if key_id not in ring.keys:
        raise crypto.CryptoKeyError(f"evidence {storage_name} is under unknown key {key_id!r}")
    nonce, sealed = rest[: crypto.NONCE_BYTES], rest[crypto.NONCE_BYTES :]
    try:
        return AESGCM(ring.keys[key_id]).decrypt(nonce, sealed, _aad(storage_name))
    except InvalidTag:
        raise crypto.CryptoKeyError(f"evidence {storage_name} failed authentication") from None


_STORAGE_NAME = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class EvidenceStore:
    """Files under ``root`` (outside the web root), two-level fan-out, random names."""

    root: Path
    written: list[Path] = field(default_factory=list)

    def path_of(self, storage_name: str) -> Path:
        if not _STORAGE_NAME.match(storage_name):
            raise ValueError("not an evidence storage name")
        return self.root / storage_name[:2] / storage_name

    def put(self, data: bytes) -> str:
        """Write ``data`` encrypted under a fresh random name; the name."""
        storage_name = secrets.token_hex(16)
        path = self.path_of(storage_name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        with tmp.open("xb") as fh:
            fh.write(seal(data, storage_name))
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
        self.written.append(path)
        return storage_name

    def get(self, storage_name: str) -> bytes:
        return unseal(self.path_of(storage_name).read_bytes(), storage_name)

    def discard_written(self) -> None:
        """Remove the files this store wrote (the transaction that named them failed)."""
        for path in self.written:
            path.unlink(missing_ok=True)
        self.written.clear()

    @contextmanager
    def staging(self) -> Iterator[EvidenceStore]:
        """A store whose files are removed again if the block raises: no orphan files when
        a report is refused or its transaction fails to commit."""
        staged = EvidenceStore(self.root)
        try:
            yield staged
        except BaseException:
            staged.discard_written()
            raise


def download_headers(file_type_name: str, evidence_id: int) -> dict[str, str]:
    """Headers that keep a browser from ever rendering evidence as a page."""
    extension = next((t.extension for t in TYPES if t.content_type == file_type_name), "bin")
    return {
        "Content-Disposition": f'attachment; filename="evidence-{evidence_id}.{extension}"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "no-store",
        "Cross-Origin-Resource-Policy": "same-origin",
    }


def safe_content_type(stored: str) -> str:
    """The stored type if it is one of ours, else an opaque download."""
    return stored if any(t.content_type == stored for t in TYPES) else "application/octet-stream"

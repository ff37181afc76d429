"""Evidence files: the type from the content, image metadata stripped (checked in the
bytes), encryption at rest, and downloads that never render in a browser."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from fairdun.complaints import evidence
from fairdun.complaints.evidence import EvidenceStore, check_file, sniff
from fairdun.kit.errors import Invalid
from tests.complaints.conftest import png_bytes, wav_bytes

GPS_IFD = 0x8825
MAKE = 0x010F


def jpeg_with_exif() -> bytes:
    image = Image.new("RGB", (16, 8), (10, 120, 200))
    exif = Image.Exif()
    exif[MAKE] = "SpyCam 3000"
    exif[0x0132] = "2026:11:03 23:15:00"  # DateTime
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (39.0, 54.0, 27.0), 3: "E", 4: (116.0, 23.0, 30.0)})
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes(), comment=b"taken at home")
    return out.getvalue()


def png_with_text() -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Location", "Beijing Chaoyang Jianguo Road 88")
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, format="PNG", pnginfo=info)
    return out.getvalue()


MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + b"\x00" * 400
MP3_NO_TAG = b"\xff\xfb\x90\x64" + b"\x00" * 400
M4A = b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00M4A mp42isom" + b"\x00" * 200
AMR = b"#!AMR\n" + b"\x3c" * 200
PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n"
TEXT = "催收员说：再不还钱就去你单位。\nThe collector said: pay or else.\n".encode()


@pytest.mark.parametrize(
    ("data", "kind", "content_type"),
    [
        (jpeg_with_exif(), "image", "image/jpeg"),
        (png_bytes(), "image", "image/png"),
        (PDF, "pdf", "application/pdf"),
        (MP3, "audio", "audio/mpeg"),
        (MP3_NO_TAG, "audio", "audio/mpeg"),
        (M4A, "audio", "audio/mp4"),
        (AMR, "audio", "audio/amr"),
        (wav_bytes(), "audio", "audio/wav"),
        (TEXT, "text", "text/plain; charset=utf-8"),
        (b"\xef\xbb\xbf" + TEXT, "text", "text/plain; charset=utf-8"),
    ],
)
def test_allowed_types_are_known_from_their_content(
    data: bytes, kind: str, content_type: str
) -> None:
    found = sniff(data)
    assert found is not None
    assert (found.kind, found.content_type) == (kind, content_type)


HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"


@pytest.mark.parametrize(
    "data",
    [
        HTML,
        b"  <html><script>alert(1)</script>",
        b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>",
        b"<?xml version='1.0'?><svg/>",
        b"hello\n<script>alert(1)</script>",
        b"MZ\x90\x00\x03\x00\x00\x00",  # a Windows program
        b"PK\x03\x04zipped",  # a zip archive
        b"\x00\x01\x02binary",
        "GBK编码".encode("gbk"),  # not UTF-8
        b"   \n ",
    ],
)
def test_anything_else_is_refused(data: bytes) -> None:
    assert sniff(data) is None


def test_a_jpg_that_is_really_html_is_refused_naming_the_field() -> None:
    with pytest.raises(Invalid) as info:
        check_file("evidence", "photo.jpg", HTML)
    assert info.value.field == "evidence"
    assert "photo.jpg" in info.value.message


def test_text_named_as_an_image_is_refused_as_a_disguise() -> None:
    with pytest.raises(Invalid, match="the name says image but the content is text"):
        check_file("evidence", "screenshot.png", TEXT)


def test_a_file_named_as_anything_is_typed_by_its_content() -> None:
    checked = check_file("evidence", "recording.bin", wav_bytes())
    assert checked.file_type.content_type == "audio/wav"


def test_exif_and_location_are_stripped_from_the_bytes() -> None:
    original = jpeg_with_exif()
    assert b"Exif" in original and b"SpyCam" in original and b"taken at home" in original
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(GPS_IFD)
    checked = check_file("evidence", "photo.jpg", original)
    assert checked.stripped
    cleaned = checked.data
    for trace in (b"Exif", b"SpyCam", b"2026:11:03", b"taken at home", b"GPS"):
        assert trace not in cleaned
    reopened = Image.open(io.BytesIO(cleaned))
    assert reopened.format == "JPEG"
    assert reopened.size == (16, 8)
    assert not reopened.getexif()


def test_png_text_chunks_are_stripped() -> None:
    original = png_with_text()
    assert b"Jianguo" in original
    cleaned = check_file("evidence", "a.png", original).data
    assert b"Jianguo" not in cleaned and b"tEXt" not in cleaned


def test_the_image_is_turned_upright_before_its_orientation_is_dropped() -> None:
    image = Image.new("RGB", (20, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees to display
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    cleaned = check_file("evidence", "a.jpg", out.getvalue()).data
    assert Image.open(io.BytesIO(cleaned)).size == (10, 20)


def test_a_damaged_image_is_refused() -> None:
    with pytest.raises(Invalid, match="image"):
        check_file("evidence", "a.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 50)


def test_size_limits() -> None:
    with pytest.raises(Invalid, match="larger than 10 MB"):
        check_file("evidence", "big.txt", b"a" * (evidence.MAX_BYTES + 1))
    with pytest.raises(Invalid, match="empty"):
        check_file("evidence", "none.txt", b"")
    assert check_file("evidence", "max.txt", b"a" * evidence.MAX_BYTES).data


def test_files_are_encrypted_at_rest_under_random_names(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    name = store.put(TEXT)
    path = store.path_of(name)
    assert path.exists() and path.parent.parent == tmp_path
    assert len(name) == 32 and name != store.put(TEXT)
    raw = path.read_bytes()
    assert "催收员".encode() not in raw and b"collector" not in raw
    assert store.get(name) == TEXT


def test_a_file_moved_to_another_name_does_not_open(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    a, b = store.put(b"first"), store.put(b"second")
    store.path_of(b).write_bytes(store.path_of(a).read_bytes())
    with pytest.raises(Exception, match="failed authentication"):
        store.get(b)


def test_storage_names_cannot_escape_the_directory(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="storage name"):
        EvidenceStore(tmp_path).path_of("../../etc/passwd")


def test_staging_removes_the_files_when_the_block_fails(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)

    def fail_after_writing() -> None:
        with store.staging() as staged:
            staged.put(b"one")
            staged.put(b"two")
            raise RuntimeError("the transaction failed")

    with pytest.raises(RuntimeError):
        fail_after_writing()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_download_headers_never_let_a_browser_render_the_file() -> None:
    headers = evidence.download_headers("text/plain; charset=utf-8", 7)
    assert headers["Content-Disposition"] == 'attachment; filename="evidence-7.txt"'
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in headers["Content-Security-Policy"]
    assert evidence.safe_content_type("text/html") == "application/octet-stream"

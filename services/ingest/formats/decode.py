"""Bytes to text: bounded gzip unwrapping, binary sniffing and charset decoding."""

from __future__ import annotations

import codecs
import contextlib
import re
import zlib

import charset_normalizer

from services.contracts import DeadLetterReason
from services.runtime.errors import InvalidInput

__all__ = ["declared_html_charset", "decode_text", "gunzip_bounded", "is_gzip", "looks_binary"]

_GZIP_MAGIC = b"\x1f\x8b"

# Magic numbers of the binary files that end up in a news bucket by mistake.
_BINARY_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"%PDF-", "PDF document"),
    (b"PK\x03\x04", "zip archive"),
    (b"PK\x05\x06", "zip archive"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"RIFF", "RIFF media"),
    (b"BZh", "bzip2 archive"),
    (b"\xfd7zXZ\x00", "xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "7z archive"),
    (b"\x7fELF", "ELF executable"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "OLE document"),
    (b"ID3", "MP3 audio"),
    (b"\x00\x00\x00\x18ftyp", "MP4 video"),
    (b"\x00\x00\x00\x20ftyp", "MP4 video"),
)

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# Decoded text with more than this share of control or replacement characters is not sensible text.
_MAX_NOISE_SHARE = 0.02

_HTML_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_:.\-]+)""", re.IGNORECASE)

# Browsers treat these labels as windows-1252, which is a superset; pages labelled latin-1 routinely
# contain curly quotes in the 0x80-0x9f range.
# Keys are codecs' canonical names (codecs.lookup("latin-1").name == "iso8859-1").
_LABEL_ALIASES = {"iso8859-1": "cp1252", "ascii": "cp1252"}


def is_gzip(data: bytes) -> bool:
    return data.startswith(_GZIP_MAGIC)


def gunzip_bounded(data: bytes, max_bytes: int) -> bytes:
    """Decompress all gzip members, never holding more than ``max_bytes`` of output (gzip-bomb guard)."""
    out = bytearray()
    remaining = data
    while remaining:
        decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            # Ask for one byte more than allowed: getting it proves the output is oversized without
            # inflating the rest of a bomb.
            chunk = decompressor.decompress(remaining, max_bytes - len(out) + 1)
            out += chunk
            if len(out) > max_bytes:
                raise InvalidInput(DeadLetterReason.OVERSIZED, f"decompresses to more than {max_bytes} bytes")
            while decompressor.unconsumed_tail and not decompressor.eof:
                chunk = decompressor.decompress(decompressor.unconsumed_tail, max_bytes - len(out) + 1)
                out += chunk
                if len(out) > max_bytes:
                    raise InvalidInput(DeadLetterReason.OVERSIZED, f"decompresses to more than {max_bytes} bytes")
        except zlib.error as exc:
            raise InvalidInput(DeadLetterReason.TRUNCATED_COMPRESSION, f"corrupt gzip stream: {exc}") from exc
        if not decompressor.eof:
            raise InvalidInput(DeadLetterReason.TRUNCATED_COMPRESSION, "gzip stream ends before its end marker")
        remaining = decompressor.unused_data
        # Padding after the last member is legal in practice (tar-like tools write zeros).
        if remaining and not remaining.startswith(_GZIP_MAGIC):
            if remaining.strip(b"\x00"):
                raise InvalidInput(DeadLetterReason.TRUNCATED_COMPRESSION, "trailing garbage after gzip data")
            break
    return bytes(out)


def _bom_encoding(data: bytes) -> str | None:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding
    return None


def looks_binary(data: bytes) -> str | None:
    """Why ``data`` is not text (a magic number or NUL bytes), or None if it may be text."""
    for magic, what in _BINARY_MAGIC:
        if data.startswith(magic):
            return what
    if _bom_encoding(data) in ("utf-16", "utf-32"):
        return None  # wide encodings legitimately contain NUL bytes
    if b"\x00" in data[:65536]:
        return "contains NUL bytes"
    return None


_NOISE = re.compile("[\x00-\x08\x0e-\x1f\x7f\ufffd]")


def _noise_share(text: str) -> float:
    """Share of control and replacement characters in the first 64k characters."""
    sample = text[:65536]
    return len(_NOISE.findall(sample)) / len(sample) if sample else 0.0


def _sensible(text: str) -> bool:
    return _noise_share(text) <= _MAX_NOISE_SHARE


def decode_text(data: bytes, declared: str | None = None) -> str:
    """Decode bytes as text: BOM, then a declared charset, then UTF-8, then charset detection.

    Raises InvalidInput(UNDECODABLE) when nothing yields sensible text.
    """
    candidates: list[str] = []
    bom = _bom_encoding(data)
    if bom:
        candidates.append(bom)
    if declared:
        label = declared.strip().casefold()
        # An unknown label is ignored rather than trusted.
        with contextlib.suppress(LookupError):
            canonical = codecs.lookup(label).name
            candidates.append(_LABEL_ALIASES.get(canonical, canonical))
    candidates.append("utf-8")
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
        if _sensible(text):
            return text
    # Mostly valid UTF-8 with a stray bad byte (a truncated copy, one mis-pasted character) is read as
    # UTF-8 like a browser would: guessing another charset would garble every non-ASCII character.
    # Legacy 8-bit text almost never forms valid multi-byte sequences by chance, so several of them
    # outnumbering the invalid bytes is strong evidence of UTF-8.
    lenient = data.decode("utf-8", errors="replace")
    replaced = lenient.count("\ufffd")
    multibyte = sum(1 for ch in lenient if ord(ch) > 127) - replaced
    if replaced and multibyte >= max(3, 2 * replaced) and _sensible(lenient):
        return lenient
    best = charset_normalizer.from_bytes(data[:1_000_000]).best()
    if best is not None:
        try:
            text = data.decode(best.encoding)
        except (UnicodeDecodeError, LookupError):
            text = ""
        if text and _sensible(text):
            return text
    raise InvalidInput(DeadLetterReason.UNDECODABLE, "no character encoding decodes the input sensibly")


def declared_html_charset(data: bytes) -> str | None:
    """The charset named by a <meta charset> or http-equiv tag near the top of an HTML document."""
    match = _HTML_CHARSET.search(data[:4096])
    return match.group(1).decode("ascii", "replace") if match else None

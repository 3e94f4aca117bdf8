"""Bytes to text: bounded gzip unwrapping, binary sniffing and charset decoding."""

from __future__ import annotations

import codecs
import contextlib
import re
import zlib
from dataclasses import dataclass

import charset_normalizer

from services.contracts import DeadLetterReason
from services.runtime.errors import InvalidInput

__all__ = [
    "DecodedText",
    "declared_html_charset",
    "decode",
    "decode_text",
    "gunzip_bounded",
    "is_gzip",
    "looks_binary",
]

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
# A file that is UTF-8 apart from stray bytes may have this share replaced and still be read as UTF-8.
_MAX_REPLACED_SHARE = 0.10

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


@dataclass(frozen=True)
class DecodedText:
    text: str
    encoding: str
    """The codec the text was read in (Python's name: utf-8, cp1252, utf-16...); ``utf-8+cp1252`` when a
    mostly UTF-8 file had bytes that are not UTF-8, each read as windows-1252."""


# The legacy single-byte encoding of Western text on the Web: browsers read latin-1 labels as it.
# Charset detection cannot tell it from cp1250/cp1257 on mostly-ASCII text (every one of them decodes
# the same bytes without "chaos"), so among equally good guesses it wins.
_WESTERN = "cp1252"
_WESTERN_EQUIVALENTS = frozenset({"cp1252", "latin_1", "iso8859_15"})
# Guesses this close to the best one (charset_normalizer's chaos and coherence) are ties.
_CHAOS_TIE = 0.01
_COHERENCE_TIE = 0.02


def _utf8_then_cp1252(error: UnicodeError) -> tuple[str, int]:
    """Decoding error handler for mostly UTF-8 text: a stray byte that reads as a latin-1 letter
    (0xA0-0xFE followed by ASCII or the end: a latin-1 word pasted into a UTF-8 file) is read as
    windows-1252; anything else (a broken or truncated multi-byte sequence, a C1 byte) becomes
    U+FFFD, so a damaged sequence never turns into a run of accented letters."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    data = error.object
    byte = data[error.start]
    following = data[error.start + 1] if error.start + 1 < len(data) else None
    if 0xA0 <= byte < 0xFF and (following is None or following < 0x80):
        return bytes([byte]).decode(_WESTERN), error.start + 1
    return "\ufffd", error.start + 1


codecs.register_error("newsflow-utf8-cp1252", _utf8_then_cp1252)


def _mostly_utf8(data: bytes) -> bool:
    """Whether the file is UTF-8 with stray bytes rather than legacy 8-bit text: legacy text almost
    never forms a valid multi-byte UTF-8 sequence by chance, so any such sequence means UTF-8, however
    many stray bytes (a latin-1 paragraph pasted into a UTF-8 file) there are besides."""
    lenient = data.decode("utf-8", errors="replace")
    stray = lenient.count("\ufffd")
    multibyte = sum(1 for ch in lenient if ord(ch) > 127) - stray
    return multibyte > 0 and stray > 0


def _detected(data: bytes) -> str | None:
    results = list(charset_normalizer.from_bytes(data[:1_000_000]))
    if not results:
        return None
    best = results[0]
    tied = [
        m.encoding
        for m in results
        if m.chaos <= best.chaos + _CHAOS_TIE and m.coherence >= best.coherence - _COHERENCE_TIE
    ]
    if any(encoding in _WESTERN_EQUIVALENTS for encoding in tied):
        return _WESTERN
    return str(best.encoding)


def decode(data: bytes, declared: str | None = None) -> DecodedText:
    """Decode bytes as text, and say how: BOM, then a declared charset, then UTF-8; a file that is
    mostly UTF-8 with stray bytes is read as UTF-8 (the stray bytes as windows-1252); then charset
    detection, with windows-1252 preferred among equally good guesses.

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
            return DecodedText(text, codecs.lookup(encoding).name)
    # Mostly valid UTF-8 with stray bad bytes (a truncated copy, a latin-1 paragraph pasted in) is read
    # as UTF-8, like a browser would: guessing another charset would garble every UTF-8 character.
    # "Most of the file" is UTF-8 when at most a tenth of it had to be replaced: a damaged copy with a stray
    # byte every line still reads as the UTF-8 it is, where another charset would garble every line.
    if _mostly_utf8(data):
        mixed = data.decode("utf-8", errors="newsflow-utf8-cp1252")
        if _noise_share(mixed) <= _MAX_REPLACED_SHARE:
            return DecodedText(mixed, "utf-8+cp1252")
    detected = _detected(data)
    if detected is not None:
        try:
            text = data.decode(detected)
        except (UnicodeDecodeError, LookupError):
            text = ""
        if text and _sensible(text):
            return DecodedText(text, codecs.lookup(detected).name)
    raise InvalidInput(DeadLetterReason.UNDECODABLE, "no character encoding decodes the input sensibly")


def decode_text(data: bytes, declared: str | None = None) -> str:
    """The text of ``decode``."""
    return decode(data, declared).text


def declared_html_charset(data: bytes) -> str | None:
    """The charset named by a <meta charset> or http-equiv tag near the top of an HTML document."""
    match = _HTML_CHARSET.search(data[:4096])
    return match.group(1).decode("ascii", "replace") if match else None

"""Bytes to text, for the loaders: what is not text (binaries by their magic numbers or
control characters) is refused with a reason the user recognises; text is UTF-8, UTF-16 with
a byte order mark, the charset a page declares, or cp1252. And whether XML bytes declare a
DTD, in any encoding a parser could read them in (feeds are refused if they do).
"""

from __future__ import annotations

import codecs
import logging
import re

from retrieval.errors import InputError

logger = logging.getLogger(__name__)

# Checked before decoding so that a mislabelled upload gets a reason the user recognises.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "a PDF"),
    (b"PK\x03\x04", "a ZIP archive (Word and other Office files are ZIPs)"),
    (b"PK\x05\x06", "a ZIP archive"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old-style Office document"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\x7fELF", "a program"),
    (b"SQLite format 3\x00", "an SQLite database"),
)

# C0 controls other than \t \n \v \f \r and ESC, plus DEL: text files practically never have them.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")
_BINARY_SAMPLE = 8192
_BINARY_CONTROL_SHARE = 0.05

# `[^<>]`: a tag ends at the next bracket, so each <meta is scanned to its own end only.
_META_CHARSET = re.compile(rb"""<meta[^<>]+charset\s*=\s*+["']?\s*+([A-Za-z0-9_.:-]+)""", re.I)


def decode_text(data: bytes, *, html: bool) -> str:
    """Bytes to text, or InputError saying why the bytes are not usable text. `html`: the
    bytes are a page, which may declare its own charset."""
    if not data:
        raise InputError("empty file")
    for magic, what in _MAGIC:
        if data.startswith(magic):
            raise InputError(f"looks like {what}, not text")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and not data.startswith(
        codecs.BOM_UTF32_LE
    ):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise InputError("not valid UTF-16 text: re-save the file as UTF-8") from None
        _reject_binary(text)
    else:
        # NULs mean binary (UTF-16 without a BOM is not supported); latin-1 maps bytes 1:1.
        _reject_binary(data[:_BINARY_SAMPLE].decode("latin-1"))
        if b"\x00" in data:
            raise InputError("binary file (not text)")
        text = _decode_8bit(data, html=html)
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise InputError("empty file (only whitespace)")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _decode_8bit(data: bytes, *, html: bool) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    if html:
        # A page may declare its own legacy charset (e.g. windows-1251); honour it.
        declared = _META_CHARSET.search(data[:4096])
        if declared:
            try:
                return data.decode(declared.group(1).decode("ascii"))
            except (LookupError, UnicodeError):  # not UnicodeDecodeError alone: "undefined"
                pass
    try:
        # Python's cp1252 refuses its five undefined bytes and maps the rest of 0x80-0x9F to
        # printable characters, so a strict decode can never yield C1 controls: a text that is
        # not cp1252 either (UTF-16 without BOM, Shift-JIS, ...) fails here.
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text: re-save the file as UTF-8") from None
    logger.debug("decoded as cp1252 (not UTF-8)")
    return text


def _reject_binary(sample: str) -> None:
    sample = sample[:_BINARY_SAMPLE]
    if "\x00" in sample:
        raise InputError("binary file (not text)")
    controls = len(_CONTROL_CHARS.findall(sample))
    if sample and controls / len(sample) > _BINARY_CONTROL_SHARE:
        raise InputError("binary file (not text)")


# --------------------------------------------------------------------------- XML

# Every way a parser may read XML bytes whatever they declare: as UTF-8 or any ASCII-compatible
# charset (latin-1 reads their ASCII as ASCII), as UTF-16 or UTF-32 in either byte order (with
# a BOM or sniffed from the first characters, as the XML spec's appendix F does), as EBCDIC.
_XML_READINGS = ("utf-8", "latin-1", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be", "cp037")
_XML_ENCODING_DECLARATION = re.compile(
    r"""\s*+<\?xml[^<>]{0,200}?\bencoding\s*=\s*["']([A-Za-z0-9_.:-]{1,40})"""
)
_CHARSET_PARAMETER = re.compile(r"""\bcharset\s*=\s*["']?([A-Za-z0-9_.:-]{1,40})""", re.I)
_DTD_DECLARATION = re.compile(r"<!\s*+(?:DOCTYPE|ENTITY)", re.I)


def declares_dtd(data: bytes, *, content_type: str | None = None) -> bool:
    """Whether XML `data` declares a DTD (or entities: entity-expansion bombs need one), in
    any encoding a parser could read it in: the charset of `content_type`, the one the XML
    declaration names, and each of `_XML_READINGS`. The bytes are decoded first, so no
    encoding hides a declaration (a UTF-32 feed, BOM or not, spells `<!ENTITY` with NULs)."""
    charset = _CHARSET_PARAMETER.search(content_type or "")
    pending = [charset[1]] if charset else []
    pending.extend(_XML_READINGS)
    tried: set[str] = set()
    while pending:
        encoding = pending.pop(0)
        try:
            name = codecs.lookup(encoding).name
            if name in tried:
                continue
            tried.add(name)
            text = data.decode(name, "replace")
        except (LookupError, UnicodeError):  # an unknown or non-text codec: no parser uses it
            continue
        text = text.removeprefix("\ufeff")
        # Comments before the first element are searched too: feedparser takes declarations
        # from anywhere before the first "<" and letter, comment or not.
        if _DTD_DECLARATION.search(text, 0, _prolog_end(text)):
            return True
        declared = _XML_ENCODING_DECLARATION.match(text)
        if declared:
            pending.append(declared[1])
    return False


def _prolog_end(text: str) -> int:
    """Where the first element starts, past comments and processing instructions: a DTD can
    only come before it. Later, "<!DOCTYPE" is content (an article on HTML may quote one)."""
    pos = 0
    while (start := text.find("<", pos)) >= 0:
        if text.startswith("<!--", start):
            end = text.find("-->", start + 4)
        elif text.startswith("<?", start):
            end = text.find("?>", start + 2)
        elif text[start + 1 : start + 2].isalnum() or text[start + 1 : start + 2] in ("_", ":"):
            return start
        else:
            pos = start + 1
            continue
        if end < 0:
            return len(text)  # unclosed: all the rest is inside it
        pos = end + 2
    return len(text)

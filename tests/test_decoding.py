"""Tests for ingest.decoding: a DTD (how entity bombs work) is found in any encoding."""

from __future__ import annotations

import codecs

import pytest

from ingest.decoding import declares_dtd

# --------------------------------------------------------------------------- DTDs

_BOMB = (
    '<?xml version="1.0" encoding="{encoding}"?>'
    '<!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    '<rss version="2.0"><channel><title>&b;</title></channel></rss>'
)
_FEED = (
    '<?xml version="1.0" encoding="{encoding}"?><rss version="2.0"><channel><title>Dev</title>'
    "<item><description><![CDATA[Start a page with <!DOCTYPE html>.]]></description></item>"
    "</channel></rss>"
)


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [
        ("utf-8", b""),
        ("utf-8", codecs.BOM_UTF8),
        ("utf-16-le", b""),
        ("utf-16-le", codecs.BOM_UTF16_LE),
        ("utf-16-be", b""),
        ("utf-16-be", codecs.BOM_UTF16_BE),
        ("utf-32-le", b""),
        ("utf-32-le", codecs.BOM_UTF32_LE),
        ("utf-32-be", b""),
        ("utf-32-be", codecs.BOM_UTF32_BE),
        ("cp037", b""),  # EBCDIC
        ("utf-7", b""),
    ],
)
def test_a_dtd_is_found_in_any_encoding(encoding: str, bom: bytes) -> None:
    name = encoding.removesuffix("-le").removesuffix("-be")
    assert declares_dtd(bom + _BOMB.format(encoding=name).encode(encoding))
    # A DTD quoted in an item's content is text, not a declaration.
    assert not declares_dtd(bom + _FEED.format(encoding=name).encode(encoding))


def test_a_dtd_is_found_in_the_charset_the_server_names() -> None:
    data = _BOMB.replace(' encoding="{encoding}"', "").encode("cp500")
    assert declares_dtd(data, content_type="application/rss+xml; charset=cp500")


@pytest.mark.parametrize(
    "data",
    [
        b'<!-- <!DOCTYPE rss [<!ENTITY a "aaaa">]> --><rss>&a;</rss>',  # feedparser reads it
        b'<?xml version="1.0"?>\n<!doctype rss SYSTEM "rss.dtd">\n<rss/>',
        b'<!-- never closed <!ENTITY a "aaaa">',
    ],
)
def test_a_dtd_anywhere_before_the_first_element_is_found(data: bytes) -> None:
    assert declares_dtd(data)

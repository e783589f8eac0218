"""Questions typed in shorthand: chat words spelled out, and a question's key word found in
a quote that writes it another way (or not at all: a near miss)."""

from __future__ import annotations

import pytest

from retrieval.chat_words import as_meant
from retrieval.word_forms import mentioned


def test_chat_words_are_spelled_out_and_the_rest_kept_as_typed() -> None:
    assert as_meant("how many yds did he have vs teh Cowboys this yr") == (
        "how many yards did he have vs the Cowboys this year"
    )
    # Inside other words, and words that merely start alike, stay.
    assert (
        as_meant("penalty shootout at the yardley open") == "penalty shootout at the yardley open"
    )


@pytest.mark.parametrize(
    ("key", "quote"),
    [
        ("rwc", "South Africa won the Rugby World Cup final in Paris."),
        ("cl", "United finished bottom of their Champions League group."),
        ("aj", "A.J. Brown caught eight passes for 127 yards."),
        ("dev", "Sony owns 19 developers around the world."),
        ("pulling", "Apple will pull the watch from its online store."),
        ("snubbed", "Florida State felt snubbed by the committee."),
        ("beyonce", "Beyoncé’s film opened on Friday."),
    ],
)
def test_a_key_word_written_another_way_is_in_the_quote(key: str, quote: str) -> None:
    assert mentioned([key], [quote])


@pytest.mark.parametrize(
    ("key", "quote"),
    [
        ("carabao", "Manchester City won the FA Cup final."),
        ("lviii", "The Eagles won a Super Bowl with a rookie kicker."),
        ("utd", "Liverpool drew with Arsenal."),
    ],
)
def test_a_key_word_the_quote_does_not_hold_is_missing(key: str, quote: str) -> None:
    assert not mentioned([key], [quote])

from retrieval.sentences import iter_sentence_spans, split_sentences


def test_splits_on_terminal_punctuation_and_closing_quotes() -> None:
    text = (
        'NATO said Russia\'s key demands are "unacceptable." The US sent its reply. '
        "Was it enough? Nobody knows!"
    )
    assert split_sentences(text) == [
        'NATO said Russia\'s key demands are "unacceptable."',
        "The US sent its reply.",
        "Was it enough?",
        "Nobody knows!",
    ]


def test_abbreviations_initials_and_decimals_do_not_end_sentences() -> None:
    text = "Mr. Smith met Dr. J. K. Rowling in the U.S. on Jan. 5. It cost $3.5 million."
    assert split_sentences(text) == [
        "Mr. Smith met Dr. J. K. Rowling in the U.S. on Jan. 5.",
        "It cost $3.5 million.",
    ]


def test_a_lower_case_continuation_is_not_a_new_sentence() -> None:
    assert split_sentences("He said wait... and then left.") == ["He said wait... and then left."]


def test_newlines_always_end_sentences_and_offsets_point_into_the_text() -> None:
    text = "  Headline without a period\nFirst sentence. Second one.\n\nLast  "
    spans = list(iter_sentence_spans(text))
    assert [text[s:e] for s, e in spans] == [
        "Headline without a period",
        "First sentence.",
        "Second one.",
        "Last",
    ]

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.cleaning import CleanedText, RemovedLine, clean_text_article
from tests.pathological import finishes

SEED = (
    Path(__file__).resolve().parents[2]
    / "shared/data/seed"
    / "sputnik-2022-01-26-nato-written-response.txt"
)

P1 = (
    "The city council approved the budget on Tuesday after a long debate over funding for "
    "schools and roads."
)
P2 = (
    "Council members said the plan would be reviewed again in the spring, when new revenue "
    "figures are due."
)
P3 = "Opponents said they would keep pressing for lower property taxes."
LONG = (
    "the committee heard from more than forty residents, most of whom said the proposed cuts "
    "to bus routes would leave older people and shift workers without a way to reach the "
    "hospital at night."
)


def clean(*lines: str) -> CleanedText:
    return clean_text_article("\n".join(lines))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --------------------------------------------------------------------------- seed


def test_seed_article_comes_out_exactly_right() -> None:
    if not SEED.exists():
        pytest.skip(f"seed article not found at {SEED}")
    raw = SEED.read_text(encoding="utf-8")
    out = clean_text_article(raw)

    assert out.title == (
        "NATO About to Give Written Response to Russia's Security Guarantees Proposals, "
        "Report Claims"
    )
    assert out.published == utc(2022, 1, 26, 17, 45)
    assert out.updated == utc(2022, 1, 26, 18, 14)
    assert out.published.tzinfo is UTC
    assert out.author == "Morgan Artyukhina"
    assert out.outlet == "Sputnik"
    assert out.url is None

    standfirst = "According to US Secretary of State Antony Blinken"
    assert out.body.startswith(standfirst)
    assert out.body.count(standfirst) == 1
    for noise in (
        "Registration was successful!",
        "NATO About to Give Written Response",
        "Flags of Alliance members flap",
        "© AP Photo / Olivier Matthys",
        "Sputnik News reporter",
        "Morgan Artyukhina",
        "17:45 GMT",
    ):
        assert noise not in out.body
    assert 'Russia\'s key demands are "unacceptable."' in out.body
    assert out.body.endswith("designed to avert a potential Soviet invasion.")
    # Every kept paragraph is an input line, unaltered.
    input_lines = {line.strip() for line in raw.splitlines()}
    assert all(paragraph in input_lines for paragraph in out.body.split("\n"))
    assert len(out.body.split("\n")) == 7

    reasons = {r.line: r.reason for r in out.removed}
    assert reasons["date 2022-01-26 Registration was successful!"] == "banner"
    assert reasons["17:45 GMT 26.01.2022 (Updated: 18:14 GMT 26.01.2022)"] == "timestamp"
    assert reasons["© AP Photo / Olivier Matthys"] == "credit"
    assert reasons["Sputnik News reporter Morgan Artyukhina - Sputnik International"] == "byline"


# --------------------------------------------------------------------------- 1. fields, banners


def test_scraper_fields_at_the_top_become_metadata() -> None:
    out = clean(
        "Title: Council passes budget",
        "URL: https://example.com/news/budget",
        "Author: Jane Doe",
        "Published: 2024-01-09T15:04:00-05:00",
        "Source: Example Gazette",
        "",
        "Council passes budget",
        P1,
        P2,
    )
    assert out.title == "Council passes budget"
    assert out.url == "https://example.com/news/budget"
    assert out.author == "Jane Doe"
    assert out.published == utc(2024, 1, 9, 20, 4)
    assert out.outlet == "Example Gazette"
    assert out.body == f"{P1}\n{P2}"
    assert [r.reason for r in out.removed] == ["field"] * 3 + ["timestamp", "field", "title"]


def test_field_like_lines_inside_the_text_stay() -> None:
    source_line = "Source: the ministry's own figures, which were published last week."
    out = clean("Council passes budget", P1, source_line, P2)
    assert out.outlet is None
    assert out.body == f"{P1}\n{source_line}\n{P2}"


def test_banners_and_site_chrome_are_removed() -> None:
    out = clean(
        "Skip to content",
        " date 2022-01-26 Registration was successful!",
        "Sign in",
        "Subscribe",
        "Council passes budget",
        "Advertisement",
        P1,
        "Story continues below advertisement",
        P2,
    )
    assert out.title == "Council passes budget"
    assert out.body == f"{P1}\n{P2}"
    assert [r.reason for r in out.removed].count("banner") == 6


def test_banner_words_inside_real_sentences_stay() -> None:
    lines = [
        "The advertisement ran in 12 states.",
        "Subscribers complained that the paper had raised its price twice.",
        "Sign in sheets were missing at two polling stations, officials said.",
    ]
    out = clean(P1, *lines)
    assert out.body == "\n".join([P1, *lines])


# --------------------------------------------------------------------------- 2. duplicates


def test_adjacent_duplicates_kept_once_and_repeated_headline_is_the_title() -> None:
    out = clean("Council passes budget", "Council passes budget", P1, P1, P2)
    assert out.title == "Council passes budget"
    assert out.body == f"{P1}\n{P2}"
    assert RemovedLine("Council passes budget", "duplicate") in out.removed


def test_structure_repeated_apart_is_not_duplicate() -> None:
    # Subheadings, list entries and interview questions recur on purpose.
    lines = [
        P1,
        "What happens next",
        "Platforms: Windows, Mac, Android, iOS, PlayStation 5 and Xbox Series X",
        "What can be done to make sure that the new bus routes reach older residents?",
        P2,
        "What happens next",
        "Platforms: Windows, Mac, Android, iOS, PlayStation 5 and Xbox Series X",
        "What can be done to make sure that the new bus routes reach older residents?",
        P3,
    ]
    out = clean(*lines)
    assert out.body == "\n".join(lines)


# --------------------------------------------------------------------------- 3. standfirst


def test_standfirst_repeated_as_first_paragraph_is_kept_once() -> None:
    standfirst = (
        "The vote ends months of wrangling over how to pay for repairs to the city's "
        "crumbling bridges."
    )
    out = clean(
        "Council passes budget",
        standfirst,
        "By Jane Doe",
        "Published January 9, 2024",
        standfirst,
        P1,
    )
    assert out.body == f"{standfirst}\n{P1}"
    assert out.author == "Jane Doe"
    assert out.published == utc(2024, 1, 9)


# --------------------------------------------------------------------------- 4. timestamps


# The formats and zones a timestamp line may use are tested with its parser
# (tests/test_dates.py); here, that the cleaner takes such lines out as metadata.
@pytest.mark.parametrize(
    ("line", "published", "updated"),
    [
        (
            "17:45 GMT 26.01.2022 (Updated: 18:14 GMT 26.01.2022)",
            utc(2022, 1, 26, 17, 45),
            utc(2022, 1, 26, 18, 14),
        ),
        ("Updated: Jan 26, 2022, 6:14 p.m. ET", None, utc(2022, 1, 26, 23, 14)),
        ("Wed 26 Jan 2022 18.14 CET", utc(2022, 1, 26, 17, 14), None),
    ],
)
def test_timestamp_lines_become_utc_dates(
    line: str, published: datetime | None, updated: datetime | None
) -> None:
    out = clean("Council passes budget", line, P1)
    assert out.published == published
    assert out.updated == updated
    assert out.body == P1
    assert RemovedLine(line, "timestamp") in out.removed


def test_sentences_with_dates_are_not_timestamps() -> None:
    lines = [
        "The guidance was updated on Jan. 26, 2022, officials said.",
        "Published in 2019, the report was updated twice.",
    ]
    out = clean(P1, *lines)
    assert out.published is None
    assert out.updated is None
    assert out.body == "\n".join([P1, *lines])


@pytest.mark.parametrize(
    "line", ["January 6, 2021", "Date: Wednesday, Oct. 4, 2023 Time: 8:30 p.m. ET / 5:30 p.m. PT"]
)
def test_dates_without_published_or_updated_far_into_the_body_stay(line: str) -> None:
    # A timeline's heading or a match's kick-off, not the article's date.
    out = clean(P1, P2, P3, line, P1.replace("Tuesday", "Wednesday"))
    assert line in out.body.split("\n")
    assert out.published is None


# --------------------------------------------------------------------------- 5. captions


def test_caption_right_before_a_credit_goes_with_it() -> None:
    caption = "Council members vote on the budget at City Hall, Tuesday, Jan. 9, 2024"
    out = clean(
        "Council passes budget",
        P1,
        caption,
        caption,
        "Photo: Jane Doe/Reuters",
        P2,
        "The mayor speaks to reporters after the vote",
        "Chip Somodevilla/Getty Images",
        P3,
    )
    assert out.body == f"{P1}\n{P2}\n{P3}"
    reasons = [r.reason for r in out.removed]
    assert reasons.count("caption") == 2
    assert reasons.count("credit") == 2


def test_finished_sentence_before_a_credit_stays() -> None:
    photo_sentence = "The photo, taken by a bystander, was shared widely online."
    out = clean("Council passes budget", P1, photo_sentence, "© AP Photo / Olivier Matthys", P2)
    assert out.body == f"{P1}\n{photo_sentence}\n{P2}"


def test_section_heading_above_a_credit_stays() -> None:
    out = clean("Ways to celebrate", P1, "Baking sweets", "(Getty Images)", P2)
    assert out.body == f"{P1}\nBaking sweets\n{P2}"
    assert out.removed[-1] == RemovedLine("(Getty Images)", "credit")


# --------------------------------------------------------------------------- 6. credits


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("© AP Photo / Olivier Matthys", "credit"),
        ("Photo: Jane Doe/Reuters", "credit"),
        ("Image: Getty Images", "credit"),
        ("Credit: NASA", "credit"),
        ("(Photo by Drew Angerer/Getty Images)", "credit"),
        ("Chip Somodevilla/Getty Images", "credit"),
        ("REUTERS/Evelyn Hockstein", "credit"),
        ("AFP via Getty Images", "credit"),
        ("(Instagram / Sarah Michelle Gellar)", "credit"),
        (
            "Ethan Hughes, who runs the homestead, thinks capitalism is a ruinous symptom of "
            "greed. He is trying to build a gift economy in which neighbors share resources "
            "with no expectation of repayment. (Evan Bush / NBC News)",
            "caption",
        ),
        (
            "President Joe Biden speaks in the East Room of the White House, Tuesday, Jan. 9, "
            "2024, in Washington. (AP Photo/Evan Vucci)",
            "caption",
        ),
    ],
)
def test_credit_lines_are_removed(line: str, reason: str) -> None:
    out = clean("Council passes budget", P1, line, P2)
    assert out.body == f"{P1}\n{P2}"
    assert RemovedLine(line, reason) in out.removed


def test_lines_naming_agencies_or_photos_stay() -> None:
    lines = [
        "Reuters reported on Tuesday that talks had stalled.",
        "Reuters/Ipsos poll shows support rising",
        "Getty Images agreed to pay the photographer after a lengthy legal fight.",
        "A photo of the meeting was posted by the mayor.",
        "The deal still needs approval from both trade blocs (US/EU)",
        "Photographs of the flooding were shared by residents (some of them anonymously).",
    ]
    out = clean(P1, *lines)
    assert out.body == "\n".join([P1, *lines])


# --------------------------------------------------------------------------- 7. bylines


def test_outlet_reporter_byline_gives_author_and_outlet() -> None:
    out = clean(
        "Council passes budget",
        "CNN Business reporter Jane Doe - CNN",
        "Jane Doe",
        "Jane Doe",
        P1,
    )
    assert out.author == "Jane Doe"
    assert out.outlet == "CNN"
    assert out.body == P1


@pytest.mark.parametrize(
    ("line", "author", "outlet"),
    [
        ("By Jane Doe", "Jane Doe", None),
        ("By Jane Doe, Reuters", "Jane Doe", "Reuters"),
        ("By Jane Doe, Staff Writer", "Jane Doe", None),
        ("BY JANE DOE and JOHN ROE | The Guardian", "Jane Doe and John Roe", "The Guardian"),
        ("By Ana de la Cruz - Example Gazette", "Ana de la Cruz", "Example Gazette"),
        ("By Associated Press", None, "Associated Press"),
    ],
)
def test_by_lines_give_author(line: str, author: str | None, outlet: str | None) -> None:
    out = clean("Council passes budget", line, P1)
    assert out.author == author
    assert out.outlet == outlet
    assert out.body == P1


def test_sentences_starting_with_by_stay() -> None:
    lines = [
        "By the time rescuers arrived, the water had receded.",
        "By Tuesday, officials said",
        "The Washington Post reporter who broke the story declined to comment",
    ]
    out = clean(P1, *lines)
    assert out.author is None
    assert out.body == "\n".join([P1, *lines])


# --------------------------------------------------------------------------- 8. read more


def test_read_more_lines_are_removed() -> None:
    out = clean(
        P1,
        "Read more: Council votes to freeze parking fees",
        "READ MORE: Mayor vows to fix potholes by spring",
        "Related: Bridge repairs delayed again",
        "Also read: Five things to know about the budget",
        "Read more",
        P2,
    )
    assert out.body == f"{P1}\n{P2}"
    assert [r.reason for r in out.removed] == ["read-more"] * 5


def test_read_more_inside_a_sentence_stays() -> None:
    lines = [
        "Officials urged residents to read more about the plan on the city website.",
        "Read more widely, the report suggests a different story.",
        "Related questions were raised by the auditor in a separate report.",
    ]
    out = clean(P1, *lines)
    assert out.body == "\n".join([P1, *lines])


# --------------------------------------------------------------------------- 9. share


def test_share_prompts_are_removed() -> None:
    out = clean(
        P1,
        "Share this article",
        "Share on Facebook",
        "Click to share on Twitter (Opens in new window)",
        "Tweet",
        "Facebook Twitter Email",
        "Share All sharing options for: The best comedy movies to watch on Netflix and Prime",
        P2,
    )
    assert out.body == f"{P1}\n{P2}"
    assert [r.reason for r in out.removed] == ["share"] * 6


def test_sentences_about_shares_and_tweets_stay() -> None:
    lines = [
        "Share prices fell 3% on Tuesday after the announcement.",
        "Tweet by tweet, the feud escalated over the weekend.",
    ]
    out = clean(P1, *lines)
    assert out.body == "\n".join([P1, *lines])


# --------------------------------------------------------------------------- 10. newsletter


def test_newsletter_and_cookie_notices_are_removed() -> None:
    lines = {
        "Sign up for our newsletter": "newsletter",
        "Get the Morning Briefing newsletter delivered to your inbox": "newsletter",
        "We use cookies to improve your experience on our site. By continuing to browse, "
        "you agree to our use of cookies as described in our cookie policy, which you can "
        "change at any time in your settings.": "cookie",
        "Accept all cookies": "cookie",
    }
    out = clean(P1, *lines, P2)
    assert out.body == f"{P1}\n{P2}"
    assert out.removed == tuple(RemovedLine(line, reason) for line, reason in lines.items())


def test_sentences_about_newsletters_and_cookies_stay() -> None:
    lines = [
        "The newsletter, which has 10,000 subscribers, criticised the decision.",
        "Grandma's cookies won first prize at the county fair.",
    ]
    out = clean(P1, *lines)
    assert out.body == "\n".join([P1, *lines])


# --------------------------------------------------------------------------- 11. wire footers


def test_wire_footers_are_removed_and_corrections_kept() -> None:
    correction = "This story has been corrected to show the vote took place on Tuesday, not Monday."
    out = clean(
        "Council passes budget",
        P1,
        P2,
        correction,
        "Additional reporting by Sam Poe in London",
        "(Reporting by Jane Doe in Washington; Editing by John Roe)",
        "© 2024 The Associated Press. All rights reserved.",
        "Copyright 2024 Reuters",
    )
    assert out.body == f"{P1}\n{P2}\n{correction}"
    assert [r.reason for r in out.removed] == ["title"] + ["wire-footer"] * 4
    # The copyright holder is the outlet when nothing better names it.
    assert out.outlet == "The Associated Press"


def test_byline_outlet_wins_over_copyright_footer() -> None:
    out = clean("By Jane Doe, Reuters", P1, "© 2024 The Associated Press. All rights reserved.")
    assert out.outlet == "Reuters"


# --------------------------------------------------------------------------- title fallback


def test_title_is_the_first_short_line_before_the_body() -> None:
    out = clean("Council passes budget after long debate", P1, P2)
    assert out.title == "Council passes budget after long debate"
    assert out.body == f"{P1}\n{P2}"


@pytest.mark.parametrize(
    "first",
    [
        P1,
        "Council passes budget.",
        "Here is what we know:",
        "The council wants to end the bus crisis by 2030. Can it be done?",
    ],
)
def test_no_title_when_the_first_line_is_not_headline_like(first: str) -> None:
    out = clean(first, P2)
    assert out.title is None
    assert out.body == f"{first}\n{P2}"


# --------------------------------------------------------------------------- conservatism


@pytest.mark.parametrize(
    "prefix",
    ["Read more: ", "Related: ", "Photo: ", "By ", "Share on Facebook ", "Sign up for our "],
)
def test_long_prose_is_never_noise(prefix: str) -> None:
    line = prefix + LONG
    out = clean(P1, line, P2)
    assert out.body == f"{P1}\n{line}\n{P2}"
    assert out.removed == ()


def test_kept_lines_are_only_stripped() -> None:
    odd = '  \t“Quoted”  text —  with  double  spaces,  ‘curly’ quotes and "straight" ones.  '
    out = clean_text_article(f"\ufeff{P1}\r\n\r\n{odd}\r\n")
    assert out.body == f"{P1}\n{odd.strip()}"


def test_empty_input_gives_empty_body() -> None:
    out = clean_text_article(" \n\n")
    assert out == CleanedText(None, "", None, None, None, None, None, ())


# --------------------------------------------------------------------------- hostile input


def clean_timed(text: str) -> CleanedText:
    return finishes("cleaning", lambda: clean_text_article(text))


def kept_lines(out: CleanedText) -> list[str]:
    return sorted(out.body.splitlines() + ([out.title] if out.title else []))


@pytest.mark.parametrize(
    "shape",
    [
        "A{run}x{i}",  # the byline pattern's org and name, as the issue found it
        "By{run}x{i}",
        "By Jane{half}and{half}x{i}",  # a list of names
        "By Jane{half}|{half}x{i}",  # a byline's outlet
        "Photo{run}x{i}",  # a photo credit
        "(AP{run}x{i}",  # and a bracketed one
        "({run}x{i}",
        "A{tabs}x{i}",
    ],
)
def test_runs_of_spaces_cost_linear_time_and_stay_content(shape: str) -> None:
    # 1,990 characters: lines this long are still matched against every pattern.
    lines = [
        shape.format(run=" " * 1980, half=" " * 985, tabs="\t" * 1980, i=i) for i in range(300)
    ]
    out = clean_timed("\n".join(lines))
    assert kept_lines(out) == sorted(lines)
    assert {removed.reason for removed in out.removed} <= {"title"}


def test_a_long_run_of_spaces_does_not_hide_a_byline() -> None:
    out = clean_timed(f"Reuters{' ' * 1900}reporter Jane Doe\n{P1}")
    assert (out.author, out.outlet, out.body) == ("Jane Doe", "Reuters", P1)


def test_lines_longer_than_any_chrome_are_kept_without_matching() -> None:
    lines = [f"A{' ' * 8000}x{i}" for i in range(300)]  # the 8,000 spaces
    out = clean_timed("\n".join([P1, *lines]))
    assert out.body.splitlines() == [P1, *lines]
    assert out.removed == ()


def test_a_header_field_with_a_huge_run_of_spaces_is_read_quickly() -> None:
    out = clean_timed(f"Author: Jane{' ' * 20_000}and Bob Smith\n{P1}")
    assert out.author == "Jane and Bob Smith"
    assert out.body == P1

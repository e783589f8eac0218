"""Written answers: the grounding check over scripted model outputs, and the client against
a fake OpenAI-compatible server on 127.0.0.1 that is slow, fails, or never ends."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from newsbot.services import make_writer
from newsbot.settings import LlmSettings
from retrieval.llm_client import ChatClient
from retrieval.models import Quote
from retrieval.written import Writer, check_sentence, declines, ground, messages
from tests.llm_server import LlmServer, Reply, serving

NATO_BODY = (
    "NATO Secretary General Jens Stoltenberg said on Wednesday that the alliance would send "
    "its written response to Moscow this week. He said Russia's key demands are "
    '"unacceptable." The alliance has 30 members and spent $1.2 billion on the new base in '
    "Poland. Officials expect talks to resume on February 10."
)
FTX_BODY = (
    "Sam Bankman-Fried was found guilty on all seven counts of fraud and conspiracy on "
    "November 2, 2023. Jurors deliberated for about four hours. Prosecutors said he stole "
    "$8 billion from customers, a 40% share of deposits."
)


def _quote(text: str, n: int, article: str, body: str) -> Quote:
    start = body.index(text)
    return Quote(text, n, article, start, start + len(text))


QUOTES = (
    _quote(
        "NATO Secretary General Jens Stoltenberg said on Wednesday that the alliance would send "
        "its written response to Moscow this week.",
        1,
        "a_nato",
        NATO_BODY,
    ),
    _quote('He said Russia\'s key demands are "unacceptable."', 1, "a_nato", NATO_BODY),
    _quote(
        "The alliance has 30 members and spent $1.2 billion on the new base in Poland.",
        1,
        "a_nato",
        NATO_BODY,
    ),
    _quote(
        "Sam Bankman-Fried was found guilty on all seven counts of fraud and conspiracy on "
        "November 2, 2023.",
        2,
        "a_ftx",
        FTX_BODY,
    ),
    _quote(
        "Prosecutors said he stole $8 billion from customers, a 40% share of deposits.",
        2,
        "a_ftx",
        FTX_BODY,
    ),
)
BODIES = {"a_nato": NATO_BODY, "a_ftx": FTX_BODY}

# Sentences a faithful model writes: each must be kept.
FAITHFUL = [
    "Stoltenberg said the alliance would send its written response to Moscow this week [1].",
    'NATO called Russia\'s key demands "unacceptable" [1].',
    "The alliance has 30 members [1].",
    "It spent $1.2 billion on the new base in Poland [1].",
    "Bankman-Fried was found guilty on all seven counts [2].",
    "The verdict came on November 2, 2023 [2].",
    "Prosecutors said he stole $8 billion from customers [2].",
    "That was a 40% share of deposits [2].",
    "The response goes to Moscow, and Bankman-Fried was convicted [1][2].",
    'According to Stoltenberg, the demands are "unacceptable." [1]',
    "Jens Stoltenberg spoke on Wednesday [1].",
    "He was convicted of fraud and conspiracy [2].",
    "Prosecutors put the theft at $8 billion [2].",
    "The alliance spent $1.2 billion in Poland, and it has 30 members [1].",
    "Stoltenberg said the response would come this week [1, 2].",
    'The jury found him guilty of "fraud and conspiracy" [2].',
    'Talks are expected to resume, according to the "Officials expect talks" line [1].',
    "Yes: NATO said it would reply to Moscow [1].",
    'The demands were rejected as "unacceptable" by NATO [1].',
    "The conviction covered seven counts [2].",
    "The new base is in Poland [1].",
    "Bankman-Fried took about 40% of deposits, prosecutors said [2].",
    # Numbers written as words either side: the quote's "seven counts" is 7 counts.
    "Bankman-Fried was found guilty on 7 counts [2].",
    "The alliance has thirty members [1].",
    "Russia's key demands are “unacceptable,” Stoltenberg said [1].",
    # A quotation the sentence opens and the next closes, echoed verbatim.
    "He said Russia's key demands are \"unacceptable [1].",
    # A capitalised first word that is an ordinary word, or a name the cited quote holds.
    "Talks are expected to resume [1].",
    "Written responses go to Moscow this week [1].",
    "Russia's key demands are unacceptable, he said [1].",
    "Poland is where the new base is [1].",
    "Moscow will get the written response this week [1].",
    "However, the alliance has 30 members [1].",
    # One sum of money written three ways, and "one" that is no number.
    "Prosecutors said he stole $8 bn from customers [2].",
    "Prosecutors said he stole 8 billion dollars from customers [2].",
    "Prosecutors said he stole US$8 billion, one of the largest frauds [2].",
    "No one disputed that the alliance has 30 members [1].",
    # Single quotation marks around verbatim words; apostrophes are no quotation marks.
    "NATO called Russia's key demands ‘unacceptable’ [1].",
    "Stoltenberg said Russia's key demands are 'unacceptable' [1].",
    "Russia’s demands, the alliance’s chief said, are ‘unacceptable,’ and don't stand [1].",
    "The members' base is in Poland, and the alliance's members don't accept Russia's demands [1].",
]

# Sentences an unfaithful model writes, each with what the check must name.
UNFAITHFUL = [
    ("Stoltenberg said the alliance would send its response this week.", "no citation"),
    ("NATO rejected the demands.", "no citation"),
    ("Stoltenberg said the alliance would reply this week [3].", "not given"),
    ("The alliance has 30 members [4].", "not given"),
    ("The alliance has 31 members [1].", "31"),
    ("It spent $1.5 billion on the new base [1].", "1.5"),
    ("It spent $1.2 million on the new base in Poland [1].", "1.2 million"),
    ("Prosecutors said he stole $9 billion [2].", "9"),
    ("That was a 45% share of deposits [2].", "45"),
    ("The verdict came on November 3, 2023 [2].", "3"),
    ("The verdict came in 2022 [2].", "2022"),
    ("Talks resume on February 10 [1].", "10"),
    ('NATO called the demands "completely unacceptable" [1].', "completely unacceptable"),
    ('Stoltenberg said Russia\'s key demands are "unreasonable" [1].', "unreasonable"),
    ('The jury found him guilty of "fraud and bribery" [2].', "fraud and bribery"),
    ('Stoltenberg said "the alliance would send its response next week" [1].', "next week"),
    ("The alliance has 30 members [2].", "30"),
    ("Bankman-Fried was found guilty on all seven counts [1].", "7"),
    ("It spent $1.2 billion on the new base in Poland [2].", "1.2"),
    ("Stoltenberg met Putin on Wednesday [1].", "Putin"),
    ("The new base is in Lithuania [1].", "Lithuania"),
    ("Prosecutors said Caroline Ellison helped him steal $8 billion [2].", "Caroline"),
    ("He spoke alongside Biden this week [1].", "Biden"),
    ("Sam Bankman-Fried was sentenced in Manhattan [2].", "Manhattan"),
    # A spelled number the quotes do not hold, or a sum in another currency.
    ("The alliance has a hundred members [1].", "100"),
    ("The alliance has one member [1].", "1 is not"),
    ("Prosecutors said he stole €8 billion from customers [2].", "€8"),
    ("Prosecutors said he stole 8 billion euros from customers [2].", "€8"),
    ("It spent £1.2 billion on the new base in Poland [1].", "£1.2"),
    ("Prosecutors said he stole $8 million from customers [2].", "8 million"),
    # A name from nowhere starting the sentence, or after a colon.
    ("Putin met Stoltenberg on Wednesday [1].", "Putin"),
    ("Biden said the alliance would send its written response to Moscow this week [1].", "Biden"),
    ("Yes: Putin said the alliance has 30 members [1].", "Putin"),
    ("Lithuania hosts the new base [1].", "Lithuania"),
    # A name from another quote the model was given (the wrong source), starting the sentence.
    ("Poland got $8 billion from customers [2].", "Poland"),
    ("Bankman-Fried was found guilty on nine counts [2].", "9"),
    ("Jurors deliberated for about twenty-two hours [2].", "22"),
    # A changed phrase in straight quotes beside a quote's own typographic ones.
    (
        'He said Russia’s key demands are “unacceptable,” calling them "a clear provocation" [1].',
        "a clear provocation",
    ),
    # Single quotation marks, curly or straight, around words the article does not hold.
    ("Stoltenberg called the demands ‘totally unacceptable’ [1].", "totally unacceptable"),
    ("Stoltenberg called the demands 'totally unacceptable' [1].", "totally unacceptable"),
    ("The alliance's chief called Russia's demands 'a provocation' [1].", "a provocation"),
    # The end of a quotation the model opened in a sentence the check dropped.
    ('Stoltenberg also allegedly said". [1]', "without its pair"),
]


def test_the_suite_is_large_enough() -> None:
    assert len(FAITHFUL) + len(UNFAITHFUL) >= 40


@pytest.mark.parametrize("sentence", FAITHFUL)
def test_a_faithful_sentence_is_kept(sentence: str) -> None:
    checked = check_sentence(sentence, QUOTES, BODIES)
    assert checked.reason is None


@pytest.mark.parametrize(("sentence", "why"), UNFAITHFUL)
def test_an_unfaithful_sentence_is_dropped_for_its_reason(sentence: str, why: str) -> None:
    checked = check_sentence(sentence, QUOTES, BODIES)
    assert checked.reason is not None and why in checked.reason


def test_a_word_the_question_writes_in_lower_case_is_not_a_name_at_the_start() -> None:
    sentence = "Deliberations took about four hours [2]."
    assert check_sentence(sentence, QUOTES, BODIES).reason is not None
    asked = check_sentence(sentence, QUOTES, BODIES, question="how long were deliberations?")
    # Past the name rule, the number still counts: four hours is in the article, not the quotes.
    assert asked.reason is not None and "4" in asked.reason
    kept = check_sentence(
        "Deliberations ended in a verdict on all seven counts [2].",
        QUOTES,
        BODIES,
        "how long were deliberations?",
    )
    assert kept.reason is None


@pytest.mark.parametrize(
    ("sentence", "why"),
    [
        ("The fund lost €100 million [1].", None),
        ("The fund lost a hundred million euros, and a director resigned [1].", None),
        ("One director resigned [1].", None),
        ("The fund lost one hundred million euros [1].", None),
        ("The fund lost $100 million [1].", "$100"),
        ("The fund lost two hundred million euros [1].", "200"),
        ("Two directors resigned [1].", "2"),
        ("The fund lost a billion euros [1].", "1 billion"),
        ("The fund lost EUR 100 million [1].", None),
        ("The fund lost CHF 100 million [1].", "CHF100"),
    ],
)
def test_numbers_in_words_and_currencies_are_read_alike_either_side(
    sentence: str, why: str | None
) -> None:
    body = "The fund lost a hundred million euros, and one director resigned."
    quotes = (_quote(body, 1, "a_fund", body),)
    checked = check_sentence(sentence, quotes, {"a_fund": body})
    assert checked.reason == why if why is None else why in (checked.reason or "")


def test_a_mixed_answer_keeps_only_its_good_sentences() -> None:
    output = (
        "Stoltenberg said the alliance would send its written response this week. [1] "
        "The alliance has 31 members [1]. Bankman-Fried was found guilty on all seven counts [2]."
    )
    kept, dropped = ground(output, QUOTES, BODIES)
    assert kept == [
        "Stoltenberg said the alliance would send its written response this week. [1]",
        "Bankman-Fried was found guilty on all seven counts [2].",
    ]
    assert dropped == 1


def test_at_most_three_sentences_are_kept_and_those_cut_are_not_dropped() -> None:
    output = " ".join(FAITHFUL[2:7])
    kept, dropped = ground(output, QUOTES, BODIES)
    assert kept == FAITHFUL[2:5] and dropped == 0


def test_a_long_reply_is_checked_only_up_to_the_limit() -> None:
    bad = [sentence for sentence, _ in UNFAITHFUL[:6]]
    # Two bad, then three good: all shown. Six bad, then good ones: those are cut unchecked.
    kept, dropped = ground(" ".join([*bad[:2], *FAITHFUL[2:5]]), QUOTES, BODIES)
    assert kept == FAITHFUL[2:5] and dropped == 2
    kept, dropped = ground(" ".join([*bad, *FAITHFUL[2:5]] * 500), QUOTES, BODIES)
    assert kept == [] and dropped == 6


def test_a_sentence_too_long_for_an_answer_is_dropped() -> None:
    long = "The alliance has 30 members" + ", and 30 members" * 70 + " [1]."
    assert ground(long, QUOTES, BODIES) == ([], 1)


@pytest.mark.parametrize(
    "output",
    [
        "NO ANSWER",
        "**NO ANSWER**",
        "The quotes do not answer the question.",
        "The quotes provided don't mention the price.",
        "This cannot be answered from the quotes.",
        # Citing a quote does not make it an answer.
        "The quotes don't say [1].",
        "The quotes do not say when talks resume [1].",
        "NATO will reply this week [1]. The quotes do not mention the base [1].",
        "None of the quotes say [1][2].",
        "I cannot answer that from these quotes [1].",
    ],
)
def test_a_model_saying_the_quotes_do_not_answer_is_heard(output: str) -> None:
    assert declines(output)


@pytest.mark.parametrize(
    "output",
    [
        "NATO gave no answer to the proposal [1].",
        "Stoltenberg said the alliance would not answer Moscow's demands this week [1].",
        "Prosecutors said he could not answer for the missing $8 billion [2].",
    ],
)
def test_a_cited_sentence_with_no_or_not_in_it_is_not_a_decline(output: str) -> None:
    assert not declines(output)


def test_the_model_sees_only_the_question_and_the_numbered_quotes() -> None:
    system, user = messages("what did NATO say?", QUOTES[:2])
    assert "at most three sentences" in system.content and "NO ANSWER" in system.content
    assert user.content == (
        f"Question: what did NATO say?\n\nQuotes:\n[1] {QUOTES[0].text}\n[1] {QUOTES[1].text}"
    )
    assert NATO_BODY not in user.content


# ---------------------------------------------------------------------- the client


@pytest.fixture
def llm() -> Iterator[LlmServer]:
    yield from serving()


def _writer(llm: LlmServer, timeout: float = 2.0, api_key: str | None = "sk-secret") -> Writer:
    key = SecretStr(api_key) if api_key is not None else None
    client = ChatClient(
        llm.base_url, model="llama3.1:8b", api_key=key, timeout=timeout, max_tokens=120
    )
    return Writer(client)


def test_a_checked_answer_comes_back_with_the_model_and_what_was_dropped(
    llm: LlmServer,
) -> None:
    llm.reply = Reply("The alliance has 30 members [1]. It has 31 bases [1].")
    written = _writer(llm).write("how many members?", QUOTES, BODIES)
    assert written is not None
    assert written.to_json() == {
        "text": "The alliance has 30 members [1].",
        "model": "llama3.1:8b",
        "dropped": 1,
    }
    [request] = llm.requests
    assert request["model"] == "llama3.1:8b" and request["stream"] is False
    assert request["max_tokens"] == 120
    assert [m["role"] for m in request["messages"]] == ["system", "user"]
    assert llm.headers[0]["Authorization"] == "Bearer sk-secret"


def test_the_client_holds_the_key_only_as_a_secret(llm: LlmServer) -> None:
    client = ChatClient(
        llm.base_url, model="m", api_key=SecretStr("sk-secret"), timeout=1.0, max_tokens=50
    )
    assert "sk-secret" not in repr(vars(client)) and "sk-secret" not in repr(client)
    llm.reply = Reply("NO ANSWER")
    assert Writer(client).write("q?", QUOTES, BODIES) is None
    assert llm.headers[0]["Authorization"] == "Bearer sk-secret"


def test_no_api_key_sends_no_authorization(llm: LlmServer) -> None:
    llm.reply = Reply("NO ANSWER")
    assert _writer(llm, api_key=None).write("q?", QUOTES, BODIES) is None
    assert "Authorization" not in llm.headers[0]


def test_the_fake_streams_sse_when_asked(llm: LlmServer) -> None:
    import httpx

    llm.reply = Reply("The alliance has 30 members [1].")
    payload: dict[str, Any] = {"model": "m", "messages": [], "stream": True}
    with httpx.Client(trust_env=False) as client:
        body = client.post(llm.base_url + "/chat/completions", json=payload).text
    assert body.startswith("data: {") and body.rstrip().endswith("data: [DONE]")


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        (Reply(delay=5.0), "did not answer within"),
        (Reply(status=500), "HTTP 500"),
        (Reply(status=429), "HTTP 429"),
        (Reply(malformed=True), "malformed JSON"),
        (Reply(endless=True), "within"),
        (Reply("The alliance has 30 members [1]. " * 2500), "too large"),
        (Reply("Everything is fine."), "passed the check"),
        (Reply("The quotes do not answer this."), "do not answer"),
        (Reply("The quotes don't say [1]."), "do not answer"),
    ],
)
def test_a_failing_endpoint_gives_no_written_answer_within_the_timeout(
    llm: LlmServer, reply: Reply, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    llm.reply = reply
    caplog.set_level(logging.INFO, logger="retrieval.written")
    started = time.monotonic()
    assert _writer(llm, timeout=1.0).write("how many members?", QUOTES, BODIES) is None
    assert time.monotonic() - started < 1.0 + 4.0  # an endless reply never ends on its own
    assert why in caplog.text
    assert "sk-secret" not in caplog.text


def test_an_unreachable_endpoint_gives_no_written_answer(caplog: pytest.LogCaptureFixture) -> None:
    server = LlmServer().start()  # then stopped: its port refuses
    url = server.base_url
    server.stop()
    client = ChatClient(url, model="m", api_key=None, timeout=1.0, max_tokens=50)
    assert Writer(client).write("q?", QUOTES, BODIES) is None
    assert "endpoint failed" in caplog.text


def test_a_name_with_a_curly_possessive_is_the_quotes_name() -> None:
    """Found by bench/written.py: "November’s" in an echoed quote was judged a name in none
    of the quotes, because the quotes were compared with their apostrophes made straight."""
    body = "The board changed after November’s shake-up, with MrBeast’s videos trending."
    quotes = (_quote(body, 1, "a_board", body),)
    kept = check_sentence(
        "The board changed after November’s shake-up, with MrBeast’s videos trending. [1]",
        quotes,
        {"a_board": body},
    )
    assert kept.reason is None
    invented = check_sentence(
        "The board changed after Halloween’s shake-up. [1]", quotes, {"a_board": body}
    )
    assert invented.reason is not None and "Halloween" in invented.reason


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    """Wait (up to 10 s, a bound, not a speed claim) until `condition()` holds."""
    deadline = time.monotonic() + 10.0
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.01)


def _hold_replies(llm: LlmServer) -> threading.Event:
    """The model answers each request only once the returned gate is set (or after 10 s)."""
    gate = threading.Event()

    def held(body: dict[str, Any]) -> Reply:
        gate.wait(10)
        return Reply("The alliance has 30 members [1].")

    llm.reply = held
    return gate


def test_questions_beyond_the_concurrent_model_calls_get_no_written_answer_at_once(
    llm: LlmServer, caplog: pytest.LogCaptureFixture
) -> None:
    gate = _hold_replies(llm)
    client = ChatClient(
        llm.base_url, model="m", api_key=None, timeout=10.0, max_tokens=50, max_concurrent=2
    )
    writer = Writer(client)
    results: list[object] = []
    threads = [
        threading.Thread(target=lambda: results.append(writer.write("q?", QUOTES, BODIES)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    try:
        _wait_for(lambda: len(llm.requests) == 2, "both calls reach the model")
        # A third question while both calls run: the quotes alone, without asking the model.
        assert writer.write("q?", QUOTES, BODIES) is None
        assert len(llm.requests) == 2 and not results
        assert "busy: 2 call(s) already running" in caplog.text
    finally:
        gate.set()
        for thread in threads:
            thread.join(10)
    assert [r is not None for r in results] == [True, True]
    # The calls are over: their places are free again.
    assert writer.write("q?", QUOTES, BODIES) is not None and len(llm.requests) == 3


def test_a_call_given_up_at_the_timeout_holds_its_place_until_its_request_ends(
    llm: LlmServer, caplog: pytest.LogCaptureFixture
) -> None:
    gate = _hold_replies(llm)
    client = ChatClient(llm.base_url, model="m", api_key=None, timeout=0.5, max_tokens=50)
    writer = Writer(client)
    try:
        assert writer.write("q?", QUOTES, BODIES) is None  # not within the timeout
        assert "did not answer within" in caplog.text
        # Its request is still running: the next question does not start another.
        assert writer.write("q?", QUOTES, BODIES) is None
        assert len(llm.requests) == 1 and "busy: 1 call(s) already running" in caplog.text
    finally:
        gate.set()
    _wait_for(lambda: writer.write("q?", QUOTES, BODIES) is not None, "a free place")


def test_a_malformed_url_gives_no_written_answer(caplog: pytest.LogCaptureFixture) -> None:
    client = ChatClient("http://[::1/v1", model="m", api_key=None, timeout=1.0, max_tokens=50)
    assert Writer(client).write("q?", QUOTES, BODIES) is None
    assert "endpoint failed" in caplog.text


@pytest.mark.parametrize(
    ("wanted", "threads", "calls"), [(2, 4, 2), (8, 4, 3), (2, 2, 1), (2, 1, 1)]
)
def test_the_model_calls_at_once_are_fewer_than_the_answering_threads(
    wanted: int, threads: int, calls: int
) -> None:
    llm = LlmSettings(url="http://127.0.0.1:9/v1", model="m", max_concurrent=wanted)
    writer = make_writer(llm, answer_threads=threads)
    assert writer is not None and writer._client.max_concurrent == calls

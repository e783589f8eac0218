"""Written answers (issue 14): does the grounding check keep a faithful model's sentences and
catch an unfaithful one's, and what does it add to an answer's time?

    python bench/written.py            # the Discord-style set's test half
    python bench/written.py --no-docs

Over the seed + MultiHop-RAG index (bench/answers.py builds it once), each answerable
question of bench/data/discord_questions.jsonl's test half is answered with the written
answer on, against the loopback fake model server of the tests (tests/llm_server.py),
scripted two ways:
- faithful: it answers with the first quote's first sentence, verbatim, cited [n];
- unfaithful: the same sentence with one fault, in turn: a number changed, a word changed
  inside quotation marks, a name from nowhere, a citation to the wrong source (another
  quote given, which does not hold the sentence), a citation not given, no citation. The
  check sees a wrong source only through what the sentence names, counts or quotes that
  the other quote lacks: a sentence of common words cited to the wrong quote is missed.
Reported: the share of answers whose written answer is kept (faithful), the share of bad
sentences caught (unfaithful), and the time an answer takes with the written answer on
against the same questions with it off (one process, one run, alternating).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# (`python bench/x.py` has bench/ on the path already; _common puts the repository first.)
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parent))
import _common
from _common import percentile, table, today, write_section
from answers import load_question_set, open_services

QUOTE_LINE = re.compile(r"^\[(\d+)\] (.+)$", re.M)
FIRST_SENTENCE = re.compile(r"^(.+?[.!?])(?:\s|$)")
DIGIT = re.compile(r"\d")
WORD = re.compile(r"\b([a-z]{4,})\b")


def _quotes(request: dict[str, Any]) -> list[tuple[int, str]]:
    user = request["messages"][-1]["content"]
    return [(int(n), text) for n, text in QUOTE_LINE.findall(user.split("Quotes:", 1)[-1])]


def _sentence(text: str) -> str:
    m = FIRST_SENTENCE.match(text.strip())
    return (m.group(1) if m else text.strip()).rstrip(".!?") + "."


def faithful(request: dict[str, Any]) -> str:
    quotes = _quotes(request)
    if not quotes:
        return "NO ANSWER"
    n, text = quotes[0]
    return f"{_sentence(text)} [{n}]"


def _bump_digit(sentence: str) -> str | None:
    m = DIGIT.search(sentence)
    if m is None:
        return None
    changed = str((int(m.group()) + 3) % 10)
    return sentence[: m.start()] + changed + sentence[m.end() :]


def _misquote(sentence: str) -> str | None:
    words = WORD.findall(sentence)
    if len(words) < 3:
        return None
    target = words[len(words) // 2]
    start = sentence.index(target)
    phrase = sentence[max(0, start - 20) : start + len(target)].split(" ", 1)[-1]
    wrong = phrase.replace(target, "allegedly " + target, 1)
    return f'{sentence.rstrip(".")}, saying "{wrong}".'


def _name_from_nowhere(sentence: str) -> str:
    return f"{sentence.rstrip('.')}, according to Marguerite Okonkwo-Baptiste."


def _wrong_source(sentence: str, n: int, quotes: Sequence[tuple[int, str]]) -> str | None:
    """The sentence cited to another quote the model was given, one whose text does not
    hold it (the fact is in [n], not there); None when every quote is [n]."""
    others = sorted({m for m, _ in quotes if m != n})
    if not others:
        return None
    m = others[0]
    if any(sentence.rstrip(".") in text for q, text in quotes if q == m):
        return None
    return f"{sentence} [{m}]"


# Each fault: (sentence, its quote's [n], the quotes given) -> the faulty output, or None
# when it does not apply to this sentence.
Fault = Callable[[str, int, Sequence[tuple[int, str]]], str | None]
FAULTS: list[tuple[str, Fault]] = [
    ("a number changed", lambda s, n, qs: (b + f" [{n}]") if (b := _bump_digit(s)) else None),
    ("a quoted word changed", lambda s, n, qs: (q + f" [{n}]") if (q := _misquote(s)) else None),
    ("a name from nowhere", lambda s, n, qs: f"{_name_from_nowhere(s)} [{n}]"),
    ("a citation to the wrong source", _wrong_source),
    ("a citation not given", lambda s, n, qs: f"{s} [{max(q for q, _ in qs) + 1}]"),
    ("no citation", lambda s, n, qs: s),
]


def unfaithful(request: dict[str, Any], turn: int) -> tuple[str, str]:
    """One faulty sentence, the fault chosen in turn (the next one that applies)."""
    quotes = _quotes(request)
    n, text = quotes[0]
    sentence = _sentence(text)
    for k in range(len(FAULTS)):
        name, make = FAULTS[(turn + k) % len(FAULTS)]
        made = make(sentence, n, quotes)
        if made is not None:
            return name, made
    raise AssertionError("'no citation' always applies")


def run(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    from newsbot.services import build_services
    from tests.llm_server import LlmServer, Reply

    server = LlmServer().start()
    try:
        plain = open_services()
        written = build_services(
            plain.settings.replace(llm_url=server.base_url, llm_model="fake-model"),
            read_only=True,
            embedder=plain.embedder,
        )
        off_ms: list[float] = []
        on_ms: list[float] = []
        kept = answered = 0
        faults: dict[str, list[int]] = {}  # fault -> [seen, caught]
        for i, row in enumerate(rows):
            question = row["question"]
            server.reply = lambda body: Reply(faithful(body))
            started = time.perf_counter()
            baseline = plain.answerer.answer(question)
            off_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            answer = written.answerer.answer(question)
            on_ms.append((time.perf_counter() - started) * 1000)
            if not answer.answered or not baseline.answered:
                continue
            answered += 1
            kept += answer.written is not None
            chosen: list[str] = []

            def scripted(body: dict[str, Any], turn: int = i, chosen: list[str] = chosen) -> Reply:
                fault, text = unfaithful(body, turn)
                chosen.append(fault)
                return Reply(text)

            server.reply = scripted
            bad = written.answerer.answer(question)
            if chosen:
                tally = faults.setdefault(chosen[0], [0, 0])
                tally[0] += 1
                tally[1] += bad.written is None
                if bad.written is not None:
                    print(f"  missed ({chosen[0]}): {bad.written.text}", flush=True)
        return {
            "answered": answered,
            "kept": kept,
            "faults": faults,
            "off": off_ms,
            "on": on_ms,
        }
    finally:
        server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-docs", action="store_true", help="Do not write docs/benchmarks.md.")
    parser.add_argument("--limit", type=int, default=0, help="Only the first N questions.")
    args = parser.parse_args(argv)
    rows = [r for r in load_question_set() if r["split"] == "test" and r["kind"] == "answerable"]
    if args.limit:
        rows = rows[: args.limit]
    if not rows:
        print("bench/data/discord_questions.jsonl not found", file=sys.stderr)
        return 2
    result = run(rows)
    faults = result["faults"]
    seen = sum(s for s, _ in faults.values())
    caught = sum(c for _, c in faults.values())
    summary = table(
        ["model", "answers", "written answer kept", "bad sentences caught"],
        [
            [
                "faithful (echoes a quote)",
                result["answered"],
                _share(result["kept"], result["answered"]),
                "-",
            ],
            ["unfaithful (one fault each)", seen, "-", _share(caught, seen)],
        ],
    )
    by_fault = table(
        ["fault", "sentences", "caught"],
        [[name, s, _share(c, s)] for name, (s, c) in sorted(faults.items())],
    )
    latency = table(
        ["written answer", "p50 ms", "p95 ms"],
        [
            ["off", f"{percentile(result['off'], 50):.1f}", f"{percentile(result['off'], 95):.1f}"],
            [
                "on (fake model, answers at once)",
                f"{percentile(result['on'], 50):.1f}",
                f"{percentile(result['on'], 95):.1f}",
            ],
        ],
    )
    print(summary, by_fault, latency, sep="\n\n")
    if not args.no_docs:
        write_section(
            "written",
            "## Written answers (`python bench/written.py`)\n\n"
            + _common.wrap(
                f"{today()}, {_common.machine()}: the answerable questions of the Discord-style "
                "set's test half, answered with the written answer on against the tests' fake "
                "model server (tests/llm_server.py), scripted to echo the first quote's first "
                "sentence with its [n] (faithful) and then the same sentence with one fault "
                "(unfaithful); latency is the same questions with the written answer off and "
                "on, in one process, alternating. The sentences a check misses are printed by "
                "the script. A citation to the wrong source (another quote given) is caught "
                "only through a name, number or quoted phrase the other quote lacks: the "
                "misses are sentences whose names the other quote, often of the same story, "
                "also holds, or that name nothing."
            )
            + f"\n\n{summary}\n\n{by_fault}\n\n{latency}\n",
        )
        print(f"Updated {_common.DOCS.relative_to(_common.REPO)}.")
    return 0


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.3f}" if whole else "-"


if __name__ == "__main__":
    sys.exit(main())

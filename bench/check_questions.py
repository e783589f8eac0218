"""Check the hand-written Discord question set (bench/data/discord_questions.jsonl).

Every answerable part must name articles that exist (in MultiHop-RAG's corpus.json, or the seed
article) and whose body holds each expected substring verbatim once runs of whitespace are
collapsed. Every unanswerable question's evidence patterns must match no article body
(case-insensitive regex). Ids must be unique, both splits present and balanced, and the set must
meet its minimum sizes. Prints a summary table; exits 1 listing every failing question.

    python bench/check_questions.py [--corpus PATH] [--seed PATH] [--questions PATH]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
DEFAULT_CORPUS = SHARED / "multihop_rag" / "corpus.json"
DEFAULT_SEED = SHARED / "seed"
DEFAULT_QUERIES = SHARED / "multihop_rag" / "MultiHopRAG.json"
DEFAULT_QUESTIONS = REPO / "bench" / "data" / "discord_questions.jsonl"

TYPES = frozenset(
    {
        "amount",
        "count",
        "date",
        "person",
        "organisation",
        "place",
        "result",
        "reason",
        "yes_no",
        "other",
    }
)
STYLES = frozenset(
    {
        "lowercase",
        "no_qmark",
        "typo",
        "abbrev",
        "possessive",
        "per_x",
        "relative_date",
        "absolute_date",
        "multi_part",
        "fragment",
    }
)
SPLITS = ("dev", "test")
OFF_TOPIC = "off-topic"

MIN_ANSWERABLE = 260
MIN_NEAR_MISS = 70
MIN_OFF_TOPIC = 10
MIN_MULTI_PART = 20
MIN_ARTICLES = 150
MIN_OUTLETS = 20
EXPECT_WORDS = (3, 15)
# A question sharing this much of its word set with a MultiHop-RAG query is too close a copy.
MAX_QUERY_JACCARD = 0.6
_WORD = re.compile(r"[a-z0-9]+")


def normalise(text: str) -> str:
    """Collapse every run of whitespace to one space (what "verbatim" means here)."""
    return re.sub(r"\s+", " ", text).strip()


@dataclass
class Article:
    url: str | None
    source: str
    body: str


@dataclass
class Report:
    failures: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def fail(self, qid: str, message: str) -> None:
        self.failures.setdefault(qid, []).append(message)


def load_corpus(path: Path) -> dict[str, Article]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, list):
        raise SystemExit(f"{path}: expected a JSON list of articles")
    articles: dict[str, Article] = {}
    for item in raw:
        url = str(item["url"])
        articles[url] = Article(url, str(item.get("source", "")), normalise(str(item["body"])))
    return articles


def load_seed(path: Path) -> Article:
    """The seed article: a .txt file, or the only .txt file in a directory."""
    if path.is_dir():
        files = sorted(path.glob("*.txt"))
        if len(files) != 1:
            raise SystemExit(f"{path}: expected exactly one .txt seed article, found {len(files)}")
        path = files[0]
    text = path.read_text(encoding="utf-8")
    found = re.search(r"https?://\S+", text)
    return Article(found.group(0) if found else None, "seed", normalise(text))


def load_questions(path: Path) -> list[dict[str, Any]]:
    questions: list[dict[str, Any]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise SystemExit(f"{path}:{number}: not JSON: {err}") from err
        if not isinstance(record, dict):
            raise SystemExit(f"{path}:{number}: not a JSON object")
        record.setdefault("id", f"<line {number}>")
        questions.append(record)
    return questions


@dataclass
class QueryIndex:
    """MultiHop-RAG's own queries as word sets, indexed by word for the copy check."""

    sizes: list[int] = field(default_factory=list)
    by_word: dict[str, list[int]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.sizes)

    def closest(self, words: set[str]) -> float:
        """The highest Jaccard overlap between `words` and any one query's word set."""
        shared: Counter[int] = Counter()
        for word in words:
            shared.update(self.by_word.get(word, ()))
        return max(
            (n / (len(words) + self.sizes[i] - n) for i, n in shared.items()),
            default=0.0,
        )


def load_queries(path: Path) -> QueryIndex:
    """Index MultiHop-RAG's queries (empty when the file is absent)."""
    index = QueryIndex()
    if not path.exists():
        return index
    for number, item in enumerate(json.loads(path.read_text(encoding="utf-8"))):
        words = set(_WORD.findall(str(item["query"]).lower()))
        index.sizes.append(len(words))
        for word in words:
            index.by_word.setdefault(word, []).append(number)
    return index


def _strings(value: Any) -> list[str] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def check_answerable(
    q: dict[str, Any],
    corpus: dict[str, Article],
    seed: Article,
    used: set[str],
    report: Report,
) -> None:
    qid = str(q["id"])
    if q.get("type") not in TYPES:
        report.fail(qid, f"type {q.get('type')!r} is not one of {sorted(TYPES)}")
    parts = q.get("parts")
    if not isinstance(parts, list) or not parts:
        report.fail(qid, "answerable question has no parts")
        return
    for number, part in enumerate(parts, start=1):
        where = f"part {number}"
        if not isinstance(part, dict):
            report.fail(qid, f"{where}: not an object")
            continue
        expects = _strings(part.get("expect"))
        urls = _strings(part.get("urls"))
        if not expects:
            report.fail(qid, f"{where}: 'expect' must be a non-empty list of strings")
            continue
        if urls is None:
            report.fail(qid, f"{where}: 'urls' must be a list of strings")
            continue
        bodies: list[str] = []
        for url in urls:
            article = corpus.get(url)
            if article is None and url == seed.url:
                article = seed
            if article is None:
                report.fail(qid, f"{where}: url not in the corpus or the seed: {url}")
            else:
                bodies.append(article.body)
                used.add(url)
        if part.get("seed") is True:
            bodies.append(seed.body)
            used.add("<seed>")
        elif not urls:
            report.fail(qid, f'{where}: no urls (and not marked "seed": true)')
        for expect in expects:
            words = len(expect.split())
            if not EXPECT_WORDS[0] <= words <= EXPECT_WORDS[1]:
                report.fail(qid, f"{where}: expect has {words} words (want 3-15): {expect!r}")
            if bodies and not any(normalise(expect) in body for body in bodies):
                report.fail(qid, f"{where}: not found verbatim in its articles: {expect!r}")


def check_unanswerable(
    q: dict[str, Any], bodies: Sequence[str], report: Report, cache: dict[str, str | None]
) -> None:
    qid = str(q["id"])
    near_miss = q.get("near_miss")
    if not isinstance(near_miss, str) or not near_miss.strip():
        report.fail(qid, "unanswerable question needs a 'near_miss' explanation")
    evidence = q.get("evidence")
    if not isinstance(evidence, dict):
        report.fail(qid, "unanswerable question needs an 'evidence' object")
        return
    patterns = _strings(evidence.get("grep"))
    if not patterns:
        report.fail(qid, "evidence.grep must be a non-empty list of patterns")
        return
    if not isinstance(evidence.get("note"), str) or not evidence["note"].strip():
        report.fail(qid, "evidence.note must say what the search showed")
    for pattern in patterns:
        try:
            regex = re.compile(pattern, re.IGNORECASE)
        except re.error as err:
            report.fail(qid, f"evidence pattern /{pattern}/ is not a valid regex: {err}")
            continue
        if pattern not in cache:
            cache[pattern] = first_match(regex, bodies)
        hit = cache[pattern]
        if hit is not None:
            report.fail(qid, f"evidence pattern /{pattern}/ matches an article: {hit}")


def first_match(regex: re.Pattern[str], bodies: Sequence[str]) -> str | None:
    """A short excerpt of the first body the pattern matches, None when none does."""
    for body in bodies:
        found = regex.search(body)
        if found:
            start = max(0, found.start() - 40)
            return repr(body[start : found.end() + 40])
    return None


def check_common(q: dict[str, Any], queries: QueryIndex, report: Report) -> None:
    qid = str(q["id"])
    question = q.get("question")
    if not isinstance(question, str) or not question.strip():
        report.fail(qid, "missing question text")
    elif len(queries):
        closest = queries.closest(set(_WORD.findall(question.lower())))
        if closest >= MAX_QUERY_JACCARD:
            report.fail(qid, f"too close to a MultiHop-RAG query (word overlap {closest:.2f})")
    if q.get("split") not in SPLITS:
        report.fail(qid, f"split {q.get('split')!r} is not one of {SPLITS}")
    if q.get("kind") not in ("answerable", "unanswerable"):
        report.fail(qid, f"kind {q.get('kind')!r} is not answerable/unanswerable")
    style = _strings(q.get("style", []))
    if style is None:
        report.fail(qid, "style must be a list of strings")
    else:
        unknown = sorted(set(style) - STYLES)
        if unknown:
            report.fail(qid, f"unknown style tags {unknown}")


def balanced(counts: Counter[str], total: int) -> bool:
    """Dev and test within 5% of the total (at least 2) of each other."""
    return abs(counts["dev"] - counts["test"]) <= max(2, round(0.05 * total))


def table(title: str, rows: Iterable[tuple[str, Counter[str]]]) -> str:
    lines = [f"{title:<28} {'dev':>5} {'test':>5} {'all':>5}"]
    for name, counts in rows:
        lines.append(
            f"  {name:<26} {counts['dev']:>5} {counts['test']:>5} "
            f"{counts['dev'] + counts['test']:>5}"
        )
    return "\n".join(lines)


def summarise(questions: list[dict[str, Any]]) -> str:
    by_kind: dict[str, Counter[str]] = {}
    by_type: dict[str, Counter[str]] = {}
    by_style: dict[str, Counter[str]] = {}
    total: Counter[str] = Counter()
    for q in questions:
        split = str(q.get("split"))
        total[split] += 1
        kind = str(q.get("kind"))
        if kind == "unanswerable":
            kind += " (off-topic)" if q.get("near_miss") == OFF_TOPIC else " (near miss)"
        by_kind.setdefault(kind, Counter())[split] += 1
        if q.get("kind") == "answerable":
            by_type.setdefault(str(q.get("type")), Counter())[split] += 1
        for tag in _strings(q.get("style", [])) or []:
            by_style.setdefault(tag, Counter())[split] += 1
    return "\n\n".join(
        [
            table("split", [("all questions", total)]),
            table("kind", sorted(by_kind.items())),
            table("type (answerable)", sorted(by_type.items())),
            table("style", sorted(by_style.items(), key=lambda kv: -sum(kv[1].values()))),
        ]
    )


def run(corpus_path: Path, seed_path: Path, questions_path: Path, queries_path: Path) -> int:
    corpus = load_corpus(corpus_path)
    seed = load_seed(seed_path)
    questions = load_questions(questions_path)
    queries = load_queries(queries_path)
    bodies = [article.body for article in corpus.values()] + [seed.body]
    report = Report()

    ids = Counter(str(q["id"]) for q in questions)
    for qid, count in ids.items():
        if count > 1:
            report.fail(qid, f"id used {count} times")

    used: set[str] = set()
    cache: dict[str, str | None] = {}
    for q in questions:
        check_common(q, queries, report)
        if q.get("kind") == "answerable":
            check_answerable(q, corpus, seed, used, report)
        elif q.get("kind") == "unanswerable":
            check_unanswerable(q, bodies, report, cache)

    answerable = [q for q in questions if q.get("kind") == "answerable"]
    unanswerable = [q for q in questions if q.get("kind") == "unanswerable"]
    near_miss = [q for q in unanswerable if q.get("near_miss") != OFF_TOPIC]
    off_topic = [q for q in unanswerable if q.get("near_miss") == OFF_TOPIC]
    multi = [q for q in answerable if isinstance(q.get("parts"), list) and len(q["parts"]) > 1]
    outlets = {corpus[url].source for url in used if url in corpus}
    articles = len(used)
    for what, have, want in (
        ("answerable questions", len(answerable), MIN_ANSWERABLE),
        ("near-miss unanswerable questions", len(near_miss), MIN_NEAR_MISS),
        ("off-topic unanswerable questions", len(off_topic), MIN_OFF_TOPIC),
        ("multi-part questions", len(multi), MIN_MULTI_PART),
        ("distinct articles cited", articles, MIN_ARTICLES),
        ("distinct outlets cited", len(outlets), MIN_OUTLETS),
    ):
        if have < want:
            report.general.append(f"only {have} {what} (need at least {want})")
    for name, group in (
        ("all", questions),
        ("answerable", answerable),
        ("unanswerable", unanswerable),
    ):
        splits: Counter[str] = Counter(str(q.get("split")) for q in group)
        if not splits["dev"] or not splits["test"]:
            report.general.append(f"{name}: both splits must be present ({dict(splits)})")
        elif not balanced(splits, len(group)):
            report.general.append(f"{name}: splits unbalanced ({dict(splits)})")

    print(f"{questions_path}: {len(questions)} questions")
    print(summarise(questions))
    print(
        f"\n{len(answerable)} answerable ({len(multi)} multi-part), {len(near_miss)} near-miss "
        f"and {len(off_topic)} off-topic unanswerable; {articles} distinct articles (the seed "
        f"included) from {len(outlets)} corpus outlets cited"
    )
    if len(queries):
        print(f"checked against {len(queries)} MultiHop-RAG queries for copying")
    if not report.failures and not report.general:
        print("\nOK: every check passed")
        return 0
    print(f"\nFAILED: {len(report.failures)} questions, {len(report.general)} set-level problems")
    for problem in report.general:
        print(f"  set: {problem}")
    for qid in sorted(report.failures):
        for message in report.failures[qid]:
            print(f"  {qid}: {message}")
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="corpus.json")
    parser.add_argument(
        "--seed", type=Path, default=DEFAULT_SEED, help="seed article (.txt, or its directory)"
    )
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS, help="the .jsonl")
    parser.add_argument(
        "--queries",
        type=Path,
        default=DEFAULT_QUERIES,
        help="MultiHopRAG.json, to flag near-copies of its queries (skipped if absent)",
    )
    args = parser.parse_args(argv)
    return run(args.corpus, args.seed, args.questions, args.queries)


if __name__ == "__main__":
    sys.exit(main())

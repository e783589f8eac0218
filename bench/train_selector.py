"""Learn the answer selector's weights (retrieval/selector.json) on one half of MultiHop-RAG.

    python bench/train_selector.py            # fit, calibrate, write retrieval/selector.json
    python bench/train_selector.py --dry-run  # fit and report only

For each query of the "train" half (bench/answers.py `split_of`), every candidate sentence of
`Answerer.score_candidates(every=True)` is recorded with its signals, labelled 1 when it holds
a gold evidence fact (the bench's "fact quoted" rule). Then, with L2-regularised logistic
regressions, on that half only:
- the first stage is fitted on every candidate (cheap signals);
- the second on the first stage's best few per question, as the product picks them (adding
  the sentence's own embedding similarity and the first stage's probability);
- the answerable model on answerable (1) against null (0) queries, from their best candidates;
- the answer threshold is the highest that still answers >= 97.5% of the answerable queries
  (the curve, with the null queries declined, is printed and written to docs);
- the quote threshold (further quotes, one per other article) maximises mean fact recall;
- a question as short as typed in chat (the Discord-style set's dev half, short MultiHop
  ones) has its own answerable model, fitted on whether its best candidate is right, with
  the threshold that declines the most unanswerable ones while keeping 90% of the right
  answers.
The other half is never read here.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# (`python bench/x.py` has bench/ on the path already; _common puts the repository first.)
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parent))
import numpy as np
from _common import QUERIES, REPO, table, today, wrap, write_section
from answers import fact_quoted, load_question_set, open_services, split_of

from retrieval.selection import (
    ANSWERABLE,
    FIRST_STAGE,
    MODEL_PATH,
    SECOND_STAGE,
    SHORT_QUESTION_WORDS,
    Linear,
    SelectorModel,
    answerable_features,
    is_short,
    second_stage_picks,
    with_gaps,
)

ANSWERED_TARGET = 0.975
NULL_TYPES = ("null_query", "discord_null")
DISCORD_WEIGHT = 4.0
L2 = 1.0
# A short question's threshold keeps at least this share of the right answers.
SHORT_RIGHT_KEPT = 0.9


def fit_logistic(
    x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None, l2: float = L2
) -> np.ndarray:
    """Newton's method on the L2-penalised, weighted log loss (the bias, column 0, is not
    penalised)."""
    sample = np.ones(len(y)) if weights is None else weights
    w = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], l2)
    penalty[0] = 0.0
    for _ in range(50):
        p = sigmoid(x @ w)
        grad = x.T @ (sample * (p - y)) + penalty * w
        hess = (x * (sample * p * (1 - p))[:, None]).T @ x + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.abs(step).max()) < 1e-7:
            break
    return w


def collect(services: Any, queries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for i, q in enumerate(queries, 1):
        text = " ".join(q["query"].split())
        scored = services.answerer.score_candidates(text, every=True)
        facts = [e["fact"] for e in q["evidence_list"]]
        rows.append(
            {
                "type": q["question_type"],
                "question": text,
                "facts": facts,
                "candidates": [
                    {
                        "f": {k: round(v, 5) for k, v in s.features.items()},
                        "article": s.article_id,
                        "text": s.text,
                        "hits": [fact_quoted(f, [s.text]) for f in facts],
                    }
                    for s in scored
                ],
            }
        )
        if i % 200 == 0:
            print(f"  {i}/{len(queries)} queries", flush=True)
    return rows


def collect_question_set(services: Any, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The dev half of bench/data/discord_questions.jsonl as training rows: a candidate is
    positive when it holds an expected substring and comes from one of the part's articles
    (questions in several parts are left out: their parts are searched separately)."""
    out = []
    for row in rows:
        if row["split"] != "dev" or len(row.get("parts") or [None]) > 1:
            continue
        scored = services.answerer.score_candidates(row["question"], every=True)
        cands = []
        for s in scored:
            if row["kind"] == "answerable":
                part = row["parts"][0]
                urls = {u for u in part.get("urls") or [] if u}
                text = " ".join(s.text.split())
                hit = (not urls or s.candidate.passage.url in urls) and any(
                    " ".join(e.split()) in text for e in part["expect"]
                )
            else:
                hit = False
            cands.append(
                {
                    "f": {k: round(v, 5) for k, v in s.features.items()},
                    "article": s.article_id,
                    "text": s.text,
                    "hits": [hit],
                }
            )
        kind = "discord" if row["kind"] == "answerable" else "discord_null"
        out.append(
            {
                "type": kind,
                "question": row["question"],
                "facts": ["-"],
                "candidates": cands,
                "source": "discord",
            }
        )
    return out


def row_weights(rows: Sequence[dict[str, Any]]) -> np.ndarray:
    """Discord-style questions count DISCORD_WEIGHT times a MultiHop one: there are fewer of
    them, and they are what users type."""
    return np.asarray([DISCORD_WEIGHT if r.get("source") == "discord" else 1.0 for r in rows])


def matrix(cands: Sequence[dict[str, Any]], names: Sequence[str]) -> np.ndarray:
    return np.asarray([[1.0, *(c["f"].get(n, 0.0) for n in names)] for c in cands])


def sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -30, 30))))


def linear(w: np.ndarray, names: Sequence[str]) -> Linear:
    return Linear(float(w[0]), {n: float(v) for n, v in zip(names, w[1:], strict=True)})


def pick(cands: list[dict[str, Any]], p1: np.ndarray, n: int, per_article: int) -> list[int]:
    """retrieval/answering.py `_rank`: the first stage's best few (second_stage_picks)."""
    order = [int(i) for i in np.argsort(-p1, kind="stable")]
    keys = [(cands[i]["article"], cands[i]["text"]) for i in order]
    holds = [cands[i]["f"].get("type_found", 0.0) > 0 for i in order]
    return [order[k] for k in second_stage_picks(keys, n, per_article, holds)]


def choose(cands: list[dict[str, Any]], probs: np.ndarray, quote_t: float, k: int) -> list[int]:
    """retrieval/answering.py `_choose`, on recorded candidates (answer threshold aside;
    overlapping pairs aside)."""
    from retrieval.answering import QUOTES_PER_ARTICLE

    order = [int(i) for i in np.argsort(-probs, kind="stable")]
    if not order:
        return []
    chosen = [order[0]]
    counts = {cands[order[0]]["article"]: 1}
    for i in order[1:]:
        if len(chosen) >= k or probs[i] < quote_t:
            break
        article = cands[i]["article"]
        if counts.get(article, 0) >= QUOTES_PER_ARTICLE:
            continue
        counts[article] = counts.get(article, 0) + 1
        chosen.append(i)
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    from retrieval import answering

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=REPO / ".bench-cache" / "selector-rows.json")
    parser.add_argument("--reuse", action="store_true", help="Reuse the recorded candidates.")
    parser.add_argument("--floor", type=float, default=None, help="Chunk similarity floor.")
    args = parser.parse_args(argv)

    queries = json.loads(QUERIES.read_text(encoding="utf-8"))
    train = [q for q in queries if split_of(" ".join(q["query"].split())) == "train"]
    if args.limit:
        train = train[: args.limit]
    if args.reuse and args.cache.exists():
        rows = json.loads(args.cache.read_text(encoding="utf-8"))
    else:
        # Every candidate, whatever its chunk's similarity: the floor is chosen below.
        services = open_services({"abstain_threshold": -1.0})
        # Every candidate is embedded here: in bulk, on every core.
        services.embedder.embed_queries = services.embedder.embed_documents
        rows = collect(services, train)
        rows += collect_question_set(services, load_question_set())
        args.cache.parent.mkdir(parents=True, exist_ok=True)
        args.cache.write_text(json.dumps(rows), encoding="utf-8")
    max_quotes = 4  # NEWSBOT_MAX_QUOTES' default
    n2, per_article = answering.SECOND_STAGE, answering.SECOND_STAGE_PER_ARTICLE
    floors = [args.floor] if args.floor is not None else [-1.0, 0.2, 0.3, 0.35, 0.4, 0.425]
    best_result: tuple[float, Any] | None = None
    for floor in floors:
        result = train_with_floor(rows, floor, n2, per_article, max_quotes)
        print(f"floor {floor}: fact recall {result['recall']:.3f}, fact quoted {result['one']:.3f}")
        if best_result is None or result["score"] > best_result[0]:
            best_result = (result["score"], result)
    assert best_result is not None
    result = best_result[1]
    print("\n".join(result["log"]))
    model: SelectorModel = result["model"]
    print(
        f"floor {result['floor']}, answer threshold {model.answer_threshold}, "
        f"quote threshold {model.quote_threshold}"
    )
    if not args.dry_run:
        MODEL_PATH.write_text(json.dumps(model.to_json(), indent=2) + "\n", encoding="utf-8")
        print(f"wrote {MODEL_PATH}")
        write_section("selector", curve_section(result, model))
    return 0


def curve_section(result: dict[str, Any], model: SelectorModel) -> str:
    """The answerability curve on the training data, for docs/benchmarks.md."""
    rows = [
        [f"{t:.3f}" + (" (shipped)" if abs(t - model.answer_threshold) < 1e-9 else ""), *vals]
        for t, *vals in ((c[0], *(f"{v:.3f}" for v in c[1:])) for c in result["curve"][::2])
    ]
    intro = wrap(
        f"`python bench/train_selector.py`, {today()}: the answerable model's curve on what it "
        "was fitted on (MultiHop-RAG's train half, the Discord-style set's dev half); "
        "bench/answers.py above reports the halves it never saw. The shipped threshold "
        f"({model.answer_threshold}) is the one that declines the most null and near-miss "
        f"questions (and answers the most Discord-style ones) while answering at least "
        f"{ANSWERED_TARGET:.0%} of MultiHop's answerable ones (`NEWSBOT_ANSWER_THRESHOLD` "
        "moves it)."
    )
    header = [
        "threshold",
        "MultiHop answerable answered",
        "MultiHop null declined",
        "Discord-style answerable answered",
        "Discord-style unanswerable declined",
    ]
    short_rows = [
        [
            f"{t:.3f}" + (" (shipped)" if abs(t - model.short_answer_threshold) < 1e-9 else ""),
            f"{kept:.3f}",
            f"{declined:.3f}",
        ]
        for t, kept, declined in result["short_curve"][::2]
    ]
    short_intro = wrap(
        f"Questions of at most {SHORT_QUESTION_WORDS} words (as typed in chat: the "
        "Discord-style dev half and the "
        "few short MultiHop ones) have their own model, fitted on whether the best quote is "
        "right; its threshold declines the most unanswerable ones while keeping "
        f"{SHORT_RIGHT_KEPT:.0%} of the right answers (before the near-miss gates)."
    )
    short_header = ["threshold", "right answers kept", "unanswerable declined"]
    return "\n\n".join(
        [
            "## Answerability (`python bench/train_selector.py`)",
            intro,
            table(header, rows),
            short_intro,
            table(short_header, short_rows),
        ]
    )


def train_with_floor(
    rows: list[dict[str, Any]], floor: float, n2: int, per_article: int, max_quotes: int
) -> dict[str, Any]:
    log: list[str] = []
    kept = [
        {**r, "candidates": [c for c in r["candidates"] if c["f"]["chunk_similarity"] >= floor]}
        for r in rows
    ]
    answerable = [r for r in kept if r["type"] not in NULL_TYPES]
    every = [c for r in answerable for c in r["candidates"]]
    every_rows = [r for r in answerable for _ in r["candidates"]]
    y1 = np.asarray([float(any(c["hits"])) for c in every])
    w1 = fit_logistic(matrix(every, FIRST_STAGE), y1, row_weights(every_rows))
    reach_all = np.mean([any(any(c["hits"]) for c in r["candidates"]) for r in answerable])

    picked_rows = []
    for r in kept:
        cands = r["candidates"]
        if not cands:
            picked_rows.append([])
            continue
        p1 = sigmoid(matrix(cands, FIRST_STAGE) @ w1)
        chosen = pick(cands, p1, n2, per_article)
        gapped = with_gaps([{**cands[i]["f"], "first_stage": float(p1[i])} for i in chosen])
        picked_rows.append([{**cands[i], "f": f} for i, f in zip(chosen, gapped, strict=True)])
    stage2 = [
        c
        for r, cs in zip(kept, picked_rows, strict=True)
        if r["type"] not in NULL_TYPES
        for c in cs
    ]
    reach2 = np.mean(
        [
            any(any(c["hits"]) for c in cs)
            for r, cs in zip(kept, picked_rows, strict=True)
            if r["type"] not in NULL_TYPES
        ]
    )
    y2 = np.asarray([float(any(c["hits"])) for c in stage2])
    stage2_rows = [
        r
        for r, cs in zip(kept, picked_rows, strict=True)
        if r["type"] not in NULL_TYPES
        for _ in cs
    ]
    w2 = fit_logistic(matrix(stage2, SECOND_STAGE), y2, row_weights(stage2_rows))
    log.append(
        f"floor {floor}: gold among candidates {reach_all:.3f}, "
        f"among the second stage's {reach2:.3f}"
    )
    for name, weight in zip(("bias", *SECOND_STAGE), w2, strict=True):
        log.append(f"  second stage {name:>20} {weight:+.3f}")

    class _S:
        def __init__(self, c: dict[str, Any], p: float) -> None:
            self.features = c["f"]
            self.probability = p
            self.article = c["article"]

    def query_features(cs: list[dict[str, Any]]) -> tuple[dict[str, float] | None, np.ndarray]:
        if not cs:
            return None, np.zeros(0)
        p2 = sigmoid(matrix(cs, SECOND_STAGE) @ w2)
        order = np.argsort(-p2, kind="stable")
        scored = [_S(cs[int(i)], float(p2[i])) for i in order]
        best = scored[0]
        second = next((s.probability for s in scored if s.article != best.article), 0.0)
        return answerable_features(best.probability, second, scored), p2

    qrows = [(r, *query_features(cs)) for r, cs in zip(kept, picked_rows, strict=True)]
    xa = [[1.0, *(f.get(n, 0.0) for n in ANSWERABLE)] for r, f, _ in qrows if f is not None]
    ya = [float(r["type"] not in NULL_TYPES) for r, f, _ in qrows if f is not None]
    # Weighted so that the few null queries count as much as the many answerable ones.
    share = float(np.mean(ya))
    wa = fit_logistic_weighted(np.asarray(xa), np.asarray(ya), share)
    for name, weight in zip(("bias", *ANSWERABLE), wa, strict=True):
        log.append(f"  answerable {name:>24} {weight:+.3f}")

    def answerable_p(f: dict[str, float] | None) -> float:
        if f is None:
            return 0.0
        return float(sigmoid(np.asarray([1.0, *(f.get(n, 0.0) for n in ANSWERABLE)]) @ wa))

    pa = [(r["type"], answerable_p(f)) for r, f, _ in qrows]
    log.append(
        "answer threshold: MultiHop answerable answered, null declined; "
        "Discord-set answerable answered, unanswerable declined"
    )
    answer_t = 0.0
    curve = []
    best_value = -1.0
    for t in np.arange(0.0, 0.96, 0.025):
        mh_a = np.mean([p >= t for ty, p in pa if ty not in NULL_TYPES and ty != "discord"])
        mh_n = np.mean([p < t for ty, p in pa if ty == "null_query"])
        d_a = np.mean([p >= t for ty, p in pa if ty == "discord"] or [1.0])
        d_n = np.mean([p < t for ty, p in pa if ty == "discord_null"] or [0.0])
        curve.append((float(t), float(mh_a), float(mh_n), float(d_a), float(d_n)))
        log.append(f"  {t:.3f}  {mh_a:.3f}  {mh_n:.3f}  {d_a:.3f}  {d_n:.3f}")
        # Declining what cannot be answered and answering what can count alike; an
        # operating point must still answer ANSWERED_TARGET of the MultiHop questions.
        value = mh_n + d_n + d_a
        if mh_a >= ANSWERED_TARGET and value > best_value:
            answer_t, best_value = float(t), value

    # Questions as short as typed in chat: their own model, fitted on them only, on whether
    # the best candidate is right (declining a wrong answer costs nothing: it was wrong),
    # and the threshold that declines the most unanswerable ones while keeping
    # SHORT_RIGHT_KEPT of the right answers.
    short = [
        (r, f, any(cs[int(np.argmax(p2))]["hits"]))
        for (r, f, p2), cs in zip(qrows, picked_rows, strict=True)
        if f is not None and is_short(r["question"])
    ]
    xs = np.asarray([[1.0, *(f.get(n, 0.0) for n in ANSWERABLE)] for _, f, _ in short])
    answerable_short = np.asarray([r["type"] not in NULL_TYPES for r, _, _ in short])
    right = np.asarray([a and hit for (_, _, hit), a in zip(short, answerable_short, strict=True)])
    ws = fit_logistic_weighted(xs, right.astype(float), float(np.mean(right)))
    ps = sigmoid(xs @ ws)
    log.append(f"short questions ({len(short)}): answered right, unanswerable declined")
    short_t, short_value = 0.0, -1.0
    short_curve = []
    for t in np.arange(0.0, 0.96, 0.025):
        answered = float(np.mean(ps[right] >= t))
        declined = float(np.mean(ps[~answerable_short] < t))
        short_curve.append((float(t), answered, declined))
        log.append(f"  {t:.3f}  {answered:.3f}  {declined:.3f}")
        if answered >= SHORT_RIGHT_KEPT and declined > short_value:
            short_t, short_value = float(t), declined
    for name, weight in zip(("bias", *ANSWERABLE), ws, strict=True):
        log.append(f"  short answerable {name:>18} {weight:+.3f}")

    def recall(quote_t: float) -> tuple[float, float, float]:
        one, every_fact, rec = [], [], []
        for r, f, p2 in qrows:
            if r["type"] in NULL_TYPES or r["type"] == "discord":
                continue
            n = len(r["facts"])
            if f is None:
                one.append(False)
                every_fact.append(False)
                rec.append(0.0)
                continue
            cs = r["_picked"]
            chosen = choose(cs, p2, quote_t, max_quotes)
            hit = [any(cs[i]["hits"][k] for i in chosen) for k in range(n)]
            one.append(any(hit))
            every_fact.append(all(hit))
            rec.append(sum(hit) / n if n else 0.0)
        return float(np.mean(one)), float(np.mean(every_fact)), float(np.mean(rec))

    for (r, _, _), cs in zip(qrows, picked_rows, strict=True):
        r["_picked"] = cs
    log.append("quote threshold: fact quoted, all facts quoted, fact recall")
    best_q, best_rec, best_one = 0.0, -1.0, 0.0
    for t in np.arange(0.0, 0.51, 0.05):
        one, every_fact, rec = recall(float(t))
        log.append(f"  {t:.2f}  {one:.3f}  {every_fact:.3f}  {rec:.3f}")
        if rec > best_rec + 1e-9:
            best_q, best_rec, best_one = float(t), rec, one
    model = SelectorModel(
        first=linear(w1, FIRST_STAGE),
        second=linear(w2, SECOND_STAGE),
        answerable=linear(wa, ANSWERABLE),
        answer_threshold=round(answer_t, 3),
        quote_threshold=round(best_q, 3),
        short_answerable=linear(ws, ANSWERABLE),
        short_answer_threshold=round(short_t, 3),
    )
    declined_at = next((c[2] for c in curve if abs(c[0] - answer_t) < 1e-9), 0.0)
    return {
        "floor": floor,
        "model": model,
        "recall": best_rec,
        "one": best_one,
        "score": best_rec + declined_at,
        "curve": curve,
        "short_curve": short_curve,
        "log": log,
    }


def fit_logistic_weighted(x: np.ndarray, y: np.ndarray, share: float) -> np.ndarray:
    """`fit_logistic` with the two classes weighted equally."""
    weights = np.where(y > 0.5, 0.5 / max(share, 1e-9), 0.5 / max(1 - share, 1e-9))
    return fit_logistic(x, y, weights)


if __name__ == "__main__":
    sys.exit(main())

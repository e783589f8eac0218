"""Lexical engines side by side on MultiHop-RAG: ours (retrieval/side_index/), SQLite FTS5
`bm25()` and tantivy, for the question whether a real engine should replace our hand-written
BM25 persistence (snapshot, journal, repair). It is one module because it is one
experiment that a reader runs and reads from top to bottom: the three engines' adapters, the
crash and durability checks and the report share its data and are used nowhere else.

    .venv/bin/python bench/lexical_engines.py             # prints the tables, updates the docs
    .venv/bin/python bench/lexical_engines.py --no-write  # prints only
    .venv/bin/python bench/lexical_engines.py --limit 200 --repeats 1   # a quick look

tantivy is not a dependency of newsbot. It is used when importable, or when installed apart
from the virtual environment with
`.venv/bin/pip install --target /tmp/tantivy-pkg tantivy` (`--tantivy-path` to change that
directory); otherwise its rows are left out with a note.

Every engine indexes the same chunks: those of the cached MultiHop-RAG index that
bench/multihop.py builds (`.bench-cache/multihop-<key>/`, opened read-only; run that script
first). The "same tokens" rows index exactly what our BM25 indexes, the space-joined
`document_terms(title, text)`, and query the space-joined `terms(question)`, so only the
engine differs; the "own tokenizer" rows index `title + text` with the engine's own English
analyser (FTS5 `porter unicode61`, tantivy `en_stem`) and query the question's words less our
stopwords. Queries are an OR of their terms (each term quoted for FTS5), top 10.

Quality is scored as bench/multihop.py scores it (`score_query`: a gold evidence fact,
spaces removed, contained in a retrieved chunk). Latency: every question goes to every engine
in turn (the order rotated per question), 50 untimed searches and then `--repeats` timed
passes;
per engine, the median and p95 over all timed searches, and the ratio to ours as the median
over questions of (engine / ours), each question's time the median of its repeats: on shared
cores only ratios measured in one run mean anything. Build: the whole corpus from chunk texts
to a committed index on disk (ours: `PersistentSideIndex` rebuilding from its source, as on a first
start or a repair, and writing its snapshot). Open: from disk to the first search possible.
Update: replace one article's chunks and make the change visible and committed, as an ingest
of a changed story does (interleaved the same way). With `--scale N` (default 12, about the
108k chunks of bench/query.py) the same-token engines are also built and timed on the chunks
N times over, on `--scale-queries` of the questions.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any

# `python bench/x.py` puts bench/ first on the path, where bench/ingest.py would shadow the
# `ingest` package: the repository goes first, and bench/ (for _common, multihop) last.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.append(str(Path(__file__).resolve().parent))

from _common import CACHE, REPO, load, machine, percentile, table, today, wrap, write_section
from multihop import DATA, TOP_K, index_key, score_query

from retrieval.side_index.articles import IndexedArticle, document_terms
from retrieval.side_index.persisted import ChunkSource, PersistentSideIndex
from retrieval.terms import STOPWORDS, terms

COMMAND = "python bench/lexical_engines.py"
SECTION = "lexical-engines"
TANTIVY_PATH = Path("/tmp/tantivy-pkg")
WARM_UP = 50  # untimed searches per engine before the timed passes
_WORD = re.compile(r"\w+")


# --- the corpus ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChunkRow:
    slot: int  # its position here: what every engine returns
    chunk_id: str
    article_id: str
    title: str
    text: str
    outlet: str | None
    published_ts: int | None
    scope: str


@dataclass(slots=True)
class Corpus:
    chunks: list[ChunkRow]
    articles: dict[str, list[ChunkRow]]  # in slot order
    tokens: list[str]  # the space-joined document_terms of each chunk
    tokenize_seconds: float
    source: Path

    def replicated(self, copies: int) -> Corpus:
        """The corpus `copies` times over, each copy its own articles and chunks (for the
        speed of a larger index only: copies rank like their originals)."""
        chunks = [
            ChunkRow(
                slot=k * len(self.chunks) + c.slot,
                chunk_id=f"{c.chunk_id}~{k}",
                article_id=f"{c.article_id}~{k}",
                title=c.title,
                text=c.text,
                outlet=c.outlet,
                published_ts=c.published_ts,
                scope=c.scope,
            )
            for k in range(copies)
            for c in self.chunks
        ]
        articles = {aid: list(rows) for aid, rows in groupby(chunks, key=lambda c: c.article_id)}
        return Corpus(
            chunks, articles, self.tokens * copies, self.tokenize_seconds * copies, self.source
        )

    def indexed_article(self, article_id: str) -> IndexedArticle:
        rows = self.articles[article_id]
        first = rows[0]
        return IndexedArticle.from_texts(
            article_id=article_id,
            content_hash=f"h-{article_id}",
            title=first.title,
            outlet=first.outlet,
            published_ts=first.published_ts,
            scope=first.scope,
            chunks=[(r.chunk_id, r.text) for r in rows],
        )


def load_corpus(data: Path) -> Corpus:
    """The chunks of bench/multihop.py's cached index, opened read-only."""
    from newsbot.settings import load_settings
    from retrieval.chroma_index import ChromaIndex

    corpus_path = data / "corpus.json"
    key = index_key(corpus_path.read_bytes(), load_settings())
    data_dir = CACHE / f"multihop-{key}"
    if not (data_dir / "complete.json").exists():
        raise SystemExit(f"{data_dir} is not built: run `python bench/multihop.py` first.")
    settings = load_settings(data_dir=data_dir)
    index = ChromaIndex.persistent(
        settings.storage.resolved_chroma_path,
        settings.storage.collection,
        embedding_model=settings.model.embedding_model,
        embedding_backend=settings.model.embedding_backend,
        read_only=True,
    )
    # iter_chunks() gives (id, text, tokens); the headline and filter fields are in the
    # metadata, read here in the same batches.
    raw: list[tuple[str, int, str, str, dict[str, Any]]] = []
    collection = index.chunk_collection
    offset = 0
    while True:
        got = collection.get(limit=5000, offset=offset, include=["documents", "metadatas"])
        if not got["ids"]:
            break
        for cid, doc, meta in zip(
            got["ids"], got["documents"] or [], got["metadatas"] or [], strict=True
        ):
            m = meta or {}
            raw.append((str(m["article_id"]), int(m.get("position", 0)), cid, doc or "", m))
        offset += len(got["ids"])
    index.close()
    raw.sort(key=lambda r: (r[0], r[1], r[2]))
    chunks = []
    for slot, (aid, _, cid, text, m) in enumerate(raw):
        ts = m.get("published_ts")
        chunks.append(
            ChunkRow(
                slot=slot,
                chunk_id=cid,
                article_id=aid,
                title=str(m.get("title", "")),
                text=text,
                outlet=m.get("outlet"),
                published_ts=int(ts) if ts is not None else None,
                scope=str(m.get("scope", "global")),
            )
        )
    articles = {aid: list(rows) for aid, rows in groupby(chunks, key=lambda c: c.article_id)}
    started = time.perf_counter()
    tokens = [" ".join(document_terms(c.title, c.text)) for c in chunks]
    return Corpus(chunks, articles, tokens, time.perf_counter() - started, data_dir)


def question_words(question: str) -> list[str]:
    """The question for an engine's own analyser: its words, less our stopwords."""
    return [w for w in _WORD.findall(question.lower()) if w not in STOPWORDS]


def dir_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --- the engines -----------------------------------------------------------------------------


class Engine:
    """One row: build from the corpus into `workdir`, open it again, search, update."""

    name = ""
    pretokenized = True  # indexes our tokens (their tokenising time is part of its build)

    def build(self, corpus: Corpus, workdir: Path) -> None:
        raise NotImplementedError

    def open(self, workdir: Path) -> None:
        raise NotImplementedError

    def search(self, question: str) -> list[int]:
        raise NotImplementedError

    def update(self, article_id: str) -> None:
        raise NotImplementedError

    def size(self, workdir: Path) -> int:
        raise NotImplementedError

    def close(self) -> None:
        """Let go of files and locks."""

    def check_writer_lock(self, workdir: Path) -> str:
        """Whether a second writer is refused, tried now."""
        return "n/a"


class _MemorySource:
    """side_index.persisted.ChunkSource over the corpus in memory (Chroma's role in newsbot)."""

    def __init__(self, corpus: Corpus) -> None:
        self._corpus = corpus

    def side_index_article_states(self) -> dict[str, tuple[str, int]]:
        return {aid: (f"h-{aid}", len(rows)) for aid, rows in self._corpus.articles.items()}

    def side_index_chunk_count(self) -> int:
        return len(self._corpus.chunks)

    def side_index_articles(self, article_ids: Sequence[str]) -> Iterator[IndexedArticle]:
        for aid in article_ids:
            yield self._corpus.indexed_article(aid)


class Ours(Engine):
    """retrieval.side_index.persisted.PersistentSideIndex: the in-memory side index (its BM25
    postings here) with its snapshot and journal."""

    name = "ours: retrieval.side_index (numpy BM25, snapshot + journal)"
    pretokenized = False  # tokenises inside IndexedArticle.from_texts, timed in its build

    def __init__(self) -> None:
        self._store: PersistentSideIndex | None = None
        self._slot: dict[str, int] = {}
        self._corpus: Corpus | None = None

    def _new_store(self, workdir: Path) -> PersistentSideIndex:
        assert self._corpus is not None
        source: ChunkSource = _MemorySource(self._corpus)
        return PersistentSideIndex(workdir / "ours", "news", source)

    def build(self, corpus: Corpus, workdir: Path) -> None:
        self._corpus = corpus
        self._slot = {c.chunk_id: c.slot for c in corpus.chunks}
        store = self._new_store(workdir)
        store.index()  # no snapshot: rebuilt from the source, then saved (fsync, rename)
        self._store = store

    def open(self, workdir: Path) -> None:
        store = self._new_store(workdir)
        store.index()  # the snapshot loaded, the journal replayed, checked against the source
        self._store = store

    def search(self, question: str) -> list[int]:
        assert self._store is not None
        return [self._slot[cid] for cid, _ in self._store.search(terms(question), TOP_K)]

    def update(self, article_id: str) -> None:
        assert self._store is not None and self._corpus is not None
        self._store.put(self._corpus.indexed_article(article_id))  # a journal line

    def size(self, workdir: Path) -> int:
        return dir_bytes(workdir / "ours")


class Fts5(Engine):
    """SQLite FTS5 (the stdlib's sqlite3), ranked by `ORDER BY rank` (bm25())."""

    def __init__(self, *, own_tokenizer: bool) -> None:
        self.pretokenized = not own_tokenizer
        if own_tokenizer:
            self.name = "SQLite FTS5 bm25(), own tokenizer (porter unicode61)"
            self._tokenize = "'porter unicode61'"
            self._file = "fts5-porter.sqlite3"
        else:
            self.name = "SQLite FTS5 bm25(), same tokens"
            # Our terms keep apostrophes ("don't"): make them token characters.
            self._tokenize = "\"unicode61 tokenchars ''''\""
            self._file = "fts5-tokens.sqlite3"
        self._con: sqlite3.Connection | None = None
        self._corpus: Corpus | None = None

    def _connect(self, workdir: Path) -> sqlite3.Connection:
        con = sqlite3.connect(workdir / self._file, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")  # readers alongside the one writer
        con.execute("PRAGMA synchronous=FULL")  # every commit fsynced
        return con

    def _body(self, row: ChunkRow) -> str:
        assert self._corpus is not None
        return self._corpus.tokens[row.slot] if self.pretokenized else f"{row.title}\n{row.text}"

    def build(self, corpus: Corpus, workdir: Path) -> None:
        self._corpus = corpus
        con = self._connect(workdir)
        con.execute(
            "CREATE VIRTUAL TABLE chunks USING fts5(chunk_id UNINDEXED, body, "
            f"tokenize = {self._tokenize})"
        )
        con.execute("BEGIN")
        con.executemany(
            "INSERT INTO chunks(rowid, chunk_id, body) VALUES (?, ?, ?)",
            ((c.slot, c.chunk_id, self._body(c)) for c in corpus.chunks),
        )
        con.execute("INSERT INTO chunks(chunks) VALUES ('optimize')")  # one b-tree segment
        con.execute("COMMIT")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._con = con

    def open(self, workdir: Path) -> None:
        self._con = self._connect(workdir)
        self._con.execute("SELECT count(*) FROM chunks").fetchone()

    def _match(self, question: str) -> str:
        words = terms(question) if self.pretokenized else question_words(question)
        return " OR ".join(f'"{w}"' for w in words)

    def search(self, question: str) -> list[int]:
        assert self._con is not None
        match = self._match(question)
        if not match:
            return []
        rows = self._con.execute(
            "SELECT rowid FROM chunks WHERE chunks MATCH ? ORDER BY rank LIMIT ?",
            (match, TOP_K),
        ).fetchall()
        return [int(r[0]) for r in rows]

    def update(self, article_id: str) -> None:
        assert self._con is not None and self._corpus is not None
        rows = self._corpus.articles[article_id]
        bodies = [
            (r.slot, r.chunk_id, " ".join(document_terms(r.title, r.text)))
            if self.pretokenized
            else (r.slot, r.chunk_id, self._body(r))
            for r in rows
        ]
        con = self._con
        con.execute("BEGIN IMMEDIATE")
        con.executemany("DELETE FROM chunks WHERE rowid = ?", [(r.slot,) for r in rows])
        con.executemany("INSERT INTO chunks(rowid, chunk_id, body) VALUES (?, ?, ?)", bodies)
        con.execute("COMMIT")

    def size(self, workdir: Path) -> int:
        return sum(
            dir_bytes(workdir / (self._file + suffix))
            for suffix in ("", "-wal", "-shm")
            if (workdir / (self._file + suffix)).exists()
        )

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def check_writer_lock(self, workdir: Path) -> str:
        first = self._connect(workdir)
        second = sqlite3.connect(workdir / self._file, isolation_level=None, timeout=0)
        try:
            first.execute("BEGIN IMMEDIATE")
            try:
                second.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                return f"yes ({exc})"
            second.execute("ROLLBACK")
            return "no"
        finally:
            first.execute("ROLLBACK")
            first.close()
            second.close()


class Tantivy(Engine):
    """tantivy's official Python bindings: one writer (kept open), a reloaded searcher."""

    def __init__(self, module: Any, *, own_tokenizer: bool) -> None:
        self._t = module
        self.pretokenized = not own_tokenizer
        if own_tokenizer:
            self.name = "tantivy, own tokenizer (en_stem)"
            self._dir = "tantivy-stem"
            self._tokenizer = "en_stem"
            # en_stem as tantivy builds it, to analyse questions into its terms.
            t = module
            self._analyzer = (
                t.TextAnalyzerBuilder(t.Tokenizer.simple())
                .filter(t.Filter.remove_long(40))
                .filter(t.Filter.lowercase())
                .filter(t.Filter.stemmer("english"))
                .build()
            )
        else:
            self.name = "tantivy, same tokens"
            self._dir = "tantivy-tokens"
            self._tokenizer = "whitespace"
            self._analyzer = None
        self._index: Any = None
        self._writer: Any = None
        self._searcher: Any = None
        self._schema: Any = None
        self._corpus: Corpus | None = None

    def _make_schema(self) -> Any:
        sb = self._t.SchemaBuilder()
        sb.add_unsigned_field("slot", stored=True)
        sb.add_text_field("article", tokenizer_name="raw")  # to delete an article's chunks
        # Term frequencies without positions: all BM25 needs (ours keeps no positions either).
        sb.add_text_field("body", tokenizer_name=self._tokenizer, index_option="freq")
        return sb.build()

    def _doc(self, row: ChunkRow, tokens: str | None = None) -> Any:
        assert self._corpus is not None
        if self.pretokenized:
            body = tokens if tokens is not None else self._corpus.tokens[row.slot]
        else:
            body = f"{row.title}\n{row.text}"
        return self._t.Document(slot=row.slot, article=row.article_id, body=body)

    def build(self, corpus: Corpus, workdir: Path) -> None:
        self._corpus = corpus
        path = workdir / self._dir
        path.mkdir()
        self._schema = self._make_schema()
        self._index = self._t.Index(self._schema, path=str(path))
        writer = self._index.writer(heap_size=100_000_000, num_threads=1)
        for row in corpus.chunks:
            writer.add_document(self._doc(row))
        writer.commit()
        writer.wait_merging_threads()  # the writer is consumed: let go of its lock
        self._index.reload()
        self._searcher = self._index.searcher()

    def open(self, workdir: Path) -> None:
        self._index = self._t.Index.open(str(workdir / self._dir))
        self._schema = self._index.schema
        self._searcher = self._index.searcher()
        self._writer = self._index.writer(heap_size=50_000_000, num_threads=1)  # takes the lock

    def _terms(self, question: str) -> list[str]:
        if self._analyzer is None:
            return terms(question)
        return [w for word in question_words(question) for w in self._analyzer.analyze(word)]

    def search(self, question: str) -> list[int]:
        t = self._t
        words = self._terms(question)
        if not words:
            return []
        query = t.Query.boolean_query(
            [
                (t.Occur.Should, t.Query.term_query(self._schema, "body", w, index_option="freq"))
                for w in words
            ]
        )
        searcher = self._searcher
        hits = searcher.search(query, TOP_K).hits
        return [int(searcher.doc(address)["slot"][0]) for _, address in hits]

    def update(self, article_id: str) -> None:
        assert self._corpus is not None
        rows = self._corpus.articles[article_id]
        self._writer.delete_documents_by_term("article", article_id)
        for row in rows:
            tokens = " ".join(document_terms(row.title, row.text)) if self.pretokenized else None
            self._writer.add_document(self._doc(row, tokens))
        self._writer.commit()
        self._index.reload()
        self._searcher = self._index.searcher()

    def size(self, workdir: Path) -> int:
        return dir_bytes(workdir / self._dir)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.wait_merging_threads()
            self._writer = None
        self._searcher = None
        self._index = None

    def check_writer_lock(self, workdir: Path) -> str:
        index = self._t.Index.open(str(workdir / self._dir))
        # Unless this engine's own writer holds the lock, a first writer takes it.
        first = index.writer(heap_size=15_000_000, num_threads=1) if self._writer is None else None
        try:
            index.writer(heap_size=15_000_000, num_threads=1)
        except ValueError as exc:
            return "yes (" + str(exc).split(".")[0] + ")"
        finally:
            if first is not None:
                first.wait_merging_threads()
        return "no"


def import_tantivy(path: Path) -> tuple[Any | None, str]:
    """The tantivy module, or None and why not."""
    try:
        module = importlib.import_module("tantivy")
    except ImportError:
        if not path.is_dir():
            return None, f"not installed (pip install --target {path} tantivy)"
        sys.path.append(str(path))
        try:
            module = importlib.import_module("tantivy")
        except ImportError as exc:
            return None, f"not importable from {path} ({exc})"
    try:
        from importlib.metadata import version

        found = version("tantivy")
    except Exception:
        found = next(
            (p.name.split("-")[1] for p in path.glob("tantivy-*.dist-info")), "unknown version"
        )
    return module, found


# --- measuring -------------------------------------------------------------------------------


@dataclass(slots=True)
class Row:
    engine: Engine
    chunks: int = 0
    build_s: float = 0.0
    open_s: float = 0.0
    size: int = 0
    results: list[list[int]] = field(default_factory=list)
    times: list[list[float]] = field(default_factory=list)  # per question, per repeat (s)
    update_s: list[float] = field(default_factory=list)
    lock: str = ""
    hits10: float = 0.0
    hits4: float = 0.0
    mrr10: float = 0.0


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def interleaved(
    rows: Sequence[Row], items: Sequence[Any], call: Callable[[Row, Any], object], label: str
) -> list[list[float]]:
    """Seconds of call(row, item) for every item and row, the rows in turn for each item and
    their order rotated per item: times[row][item]."""
    times: list[list[float]] = [[0.0] * len(items) for _ in rows]
    tty = sys.stderr.isatty()
    for i, item in enumerate(items):
        shift = i % len(rows)
        for r in list(range(shift, len(rows))) + list(range(shift)):
            times[r][i] = timed(lambda r=r, item=item: call(rows[r], item))
        if tty and (i + 1) % 100 == 0:
            print(f"  {label}: {i + 1}/{len(items)}", end="\r", file=sys.stderr, flush=True)
    if tty:
        print(f"  {label}: {len(items)}/{len(items)}", file=sys.stderr, flush=True)
    return times


def measure(
    engines: Sequence[Engine],
    corpus: Corpus,
    queries: Sequence[dict[str, Any]],
    workdir: Path,
    repeats: int,
    updates: int,
) -> list[Row]:
    rows = [Row(e, len(corpus.chunks)) for e in engines]
    for row in rows:
        e = row.engine
        gc.collect()
        row.build_s = timed(lambda e=e: e.build(corpus, workdir))
        if e.pretokenized:
            row.build_s += corpus.tokenize_seconds  # our tokens, made once for all of them
        e.close()
        row.size = e.size(workdir)
        row.lock = e.check_writer_lock(workdir)
        gc.collect()
        row.open_s = timed(lambda e=e: e.open(workdir))
        print(f"  {e.name}: built in {row.build_s:.1f} s, opened in {row.open_s:.3f} s", flush=True)

    questions = [q["query"] for q in queries]
    for row in rows:
        row.results = [[] for _ in questions]
        row.times = [[] for _ in questions]
    gc.collect()
    warm = questions[:WARM_UP]
    interleaved(rows, warm, lambda row, q: row.engine.search(q), "warm-up")  # untimed
    for rep in range(repeats):
        gc.collect()

        def search(row: Row, i: int, rep: int = rep) -> None:
            found = row.engine.search(questions[i])
            if rep == 0:
                row.results[i] = found

        took = interleaved(rows, range(len(questions)), search, f"pass {rep + 1}/{repeats}")
        for r, row in enumerate(rows):
            for i, t in enumerate(took[r]):
                row.times[i].append(t)

    # Updates last, so that every engine is searched over the same index.
    if updates:
        ids = list(corpus.articles)
        chosen = ids[:: max(1, len(ids) // updates)][:updates]
        gc.collect()
        took = interleaved(rows, chosen, lambda row, aid: row.engine.update(aid), "updates")
        for r, row in enumerate(rows):
            row.update_s = took[r]
    for row in rows:
        row.engine.close()
    return rows


def score(rows: Sequence[Row], corpus: Corpus, queries: Sequence[dict[str, Any]]) -> None:
    texts = [c.text for c in corpus.chunks]
    for row in rows:
        scores = [
            score_query([texts[s] for s in found], [e["fact"] for e in q["evidence_list"]])
            for found, q in zip(row.results, queries, strict=True)
        ]
        n = len(scores) or 1
        row.hits10 = sum(s.hit10 for s in scores) / n
        row.hits4 = sum(s.hit4 for s in scores) / n
        row.mrr10 = sum(s.rr for s in scores) / n


# --- reporting -------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f}"


def latency(row: Row) -> tuple[float, float]:
    flat = [t for ts in row.times for t in ts]
    return statistics.median(flat), percentile(flat, 95)


def ratio(row: Row, ours: Row) -> float:
    """Median over questions of this engine's time / ours (each the median of its repeats)."""
    return statistics.median(
        statistics.median(a) / statistics.median(b)
        for a, b in zip(row.times, ours.times, strict=True)
    )


def p95_ratio(row: Row, ours: Row) -> float:
    return latency(row)[1] / latency(ours)[1]


def results_table(rows: Sequence[Row]) -> str:
    ours = rows[0]
    header = (
        "engine",
        "Hits@10",
        "Hits@4",
        "MRR@10",
        "query median ms",
        "query p95 ms",
        "× ours (median of per-query ratios / p95 ratio)",
        "build s",
        "open s",
        "on disk MB",
        "update 1 article median ms (× ours)",
    )
    body = []
    for row in rows:
        med, p95 = latency(row)
        upd = statistics.median(row.update_s)
        upd_ratio = upd / statistics.median(ours.update_s)
        body.append(
            (
                row.engine.name,
                f"{row.hits10:.4f}",
                f"{row.hits4:.4f}",
                f"{row.mrr10:.4f}",
                _ms(med),
                _ms(p95),
                f"{ratio(row, ours):.2f} / {p95_ratio(row, ours):.2f}",
                f"{row.build_s:.1f}",
                f"{row.open_s:.3f}",
                _mb(row.size),
                f"{_ms(upd)} ({upd_ratio:.1f})",
            )
        )
    return table(header, body)


def scale_table(rows: Sequence[Row], chunks: int) -> str:
    ours = rows[0]
    header = (
        "engine",
        "chunks",
        "query median ms",
        "query p95 ms",
        "× ours (median of per-query ratios / p95 ratio)",
        "build s",
        "open s",
        "on disk MB",
    )
    body = []
    for row in rows:
        med, p95 = latency(row)
        body.append(
            (
                row.engine.name,
                f"{chunks:,}",
                _ms(med),
                _ms(p95),
                f"{ratio(row, ours):.2f} / {p95_ratio(row, ours):.2f}",
                f"{row.build_s:.1f}",
                f"{row.open_s:.3f}",
                _mb(row.size),
            )
        )
    return table(header, body)


def overlap(row: Row, ours: Row) -> float:
    """Mean share of our top 10 that this engine also returns in its top 10."""
    shares = [
        len(set(a) & set(b)) / len(b) if b else 1.0
        for a, b in zip(row.results, ours.results, strict=True)
    ]
    return sum(shares) / len(shares)


CAPABILITIES = (
    "| engine | atomic commit | crash safety | single-writer lock | "
    "what newsbot needs that it lacks |",
    "|---|---|---|---|---|",
    "| ours | hand-written: snapshot written, fsynced, renamed; one journal line per article | "
    "hand-written: torn journal lines dropped, a damaged snapshot rebuilt, and every open "
    "checks article hashes and the chunk count against Chroma and repairs (about 500 lines of "
    "retrieval/side_index/) | flock on `<name>.lock` per write, beside the store's writer lock "
    "(retrieval/store_lock.py) | nothing: it also holds each chunk's outlet, scope and "
    "publication time for the filters, and its int8 vector for filtered dense search |",
    "| SQLite FTS5 | yes (transactions, WAL) | yes (journal/WAL, fsync on commit) | yes, one "
    "writer per database file ({fts_lock}) | outlet / scope / time filters need a second "
    "table joined in SQL or UNINDEXED columns scanned per hit; no vectors (the int8 copies "
    "and the filtered dense scan stay ours); stdlib, no new dependency |",
    "| tantivy | yes (commit = new segments + meta.json swap) | yes (uncommitted documents "
    "are lost, the last commit stays) | yes, a lock file in the index directory ({tv_lock}) "
    "| filters would be fast fields + range / term queries; no vectors (same as FTS5); a "
    "new compiled dependency (Rust wheel) |",
)


# What would justify a switch: this much more Hits@10, or an engine this much faster per
# query whose per-article commit costs at most this many times ours.
QUALITY_GAIN = 0.01
SPEED_GAIN = 0.5
UPDATE_COST = 2.0
# An engine this many times slower per query than ours is out (BM25 is ~2 ms of bench/query.py's
# 67 ms p50 answer at 108k chunks, against a 25 ms target).
TOO_SLOW = 3.0


def recommendation(rows: Sequence[Row], scaled: Sequence[Row]) -> str:
    """What the numbers say, in words; the verdict follows from the thresholds above."""
    ours = rows[0]
    fts = next((r for r in rows if isinstance(r.engine, Fts5) and r.engine.pretokenized), None)
    tv = next((r for r in rows if isinstance(r.engine, Tantivy) and r.engine.pretokenized), None)
    big = {type(r.engine): r for r in scaled[1:]}
    upd_ours = statistics.median(ours.update_s)

    def upd(row: Row) -> float:
        return statistics.median(row.update_s) / upd_ours

    def slowest_ratio(row: Row) -> float:
        at = big.get(type(row.engine))
        return max(ratio(row, ours), ratio(at, scaled[0]) if at is not None else 0.0)

    winners = [
        r
        for r in rows[1:]
        if r.hits10 - ours.hits10 > QUALITY_GAIN
        or (slowest_ratio(r) <= SPEED_GAIN and upd(r) <= UPDATE_COST)
    ]
    engines_win = [r for r in winners if r.engine.pretokenized]
    parts = []
    if engines_win:
        parts.append(
            "**Consider switching** to "
            + ", ".join(
                f"{r.engine.name} (Hits@10 {r.hits10 - ours.hits10:+.4f}, "
                f"{ratio(r, ours):.2f}× our query time, {upd(r):.1f}× our update cost)"
                for r in engines_win
            )
            + "."
        )
    else:
        parts.append(
            "**Keep ours.** With the same tokens no engine ranks better by more than "
            f"{QUALITY_GAIN:.2f} Hits@10 (ours {ours.hits10:.4f}"
            + "".join(f", {short(r)} {r.hits10:.4f}" for r in rows[1:] if r.engine.pretokenized)
            + f"), and none is at least {1 / SPEED_GAIN:.0f}× faster per query at an update "
            f"cost within {UPDATE_COST:.0f}× ours."
        )
        if winners:
            parts.append(
                "Only an engine's own tokenizer gains ("
                + ", ".join(f"{short(r)} {r.hits10 - ours.hits10:+.4f}" for r in winners)
                + "): that gain belongs to the stemming, not to the engine (see the end)."
            )
    if fts is not None:
        at = big.get(Fts5)
        scale = (
            f"; {ratio(at, scaled[0]):.0f}× ({_ms(latency(at)[0])} ms) at {at.chunks:,} chunks"
            if at is not None
            else ""
        )
        verdict = "is ruled out by speed" if slowest_ratio(fts) > TOO_SLOW else "keeps up"
        parts.append(
            f"SQLite FTS5 {verdict}: with the same tokens it ranks like ours (Hits@10 "
            f"{fts.hits10 - ours.hits10:+.4f}, MRR@10 {fts.mrr10 - ours.mrr10:+.4f}) but takes "
            f"{ratio(fts, ours):.0f}× our median query time ({_ms(latency(fts)[0])} ms against "
            f"{_ms(latency(ours)[0])} ms{scale}): bm25() is computed for every row matching any "
            f"of the OR-ed terms. Its durable per-article commit costs {upd(fts):.1f}× ours."
        )
    if tv is not None:
        at = big.get(Tantivy)
        scale = (
            f"; {ratio(at, scaled[0]):.2f}× at {at.chunks:,} chunks, {_ms(latency(at)[0])} ms "
            f"against {_ms(latency(scaled[0])[0])} ms"
            if at is not None
            else ""
        )
        parts.append(
            f"tantivy with the same tokens ranks like ours (Hits@10 {tv.hits10 - ours.hits10:+.4f}"
            f", MRR@10 {tv.mrr10 - ours.mrr10:+.4f}) at {ratio(tv, ours):.2f}× our median query "
            f"time ({_ms(latency(tv)[0])} ms against {_ms(latency(ours)[0])} ms{scale}), "
            f"{_mb(tv.size)} MB on disk against our {_mb(ours.size)} MB, with atomic commits and "
            "a writer lock for free; but committing one article costs "
            f"{_ms(statistics.median(tv.update_s))} ms against our {_ms(upd_ours)} ms "
            f"({upd(tv):.0f}×: a new segment and fsyncs; ours appends a journal line), so "
            "ingest would have to commit per batch rather than per article, and it is a new "
            "compiled dependency."
        )
    parts.append(
        "Either way the engine would hold only the postings: neither keeps the int8 vectors "
        "that filtered dense search scans, and the outlet / scope / time filters need more "
        "schema in both, so a persisted copy of vectors and filter fields remains; and the "
        "check against Chroma on open (the repair) remains too, because Chroma and the lexical "
        "index are two stores that no single commit covers. A switch would delete the snapshot "
        "and journal code, not the consistency work."
    )
    own = [r for r in rows[1:] if not r.engine.pretokenized]
    same = [overlap(r, ours) for r in rows[1:] if r.engine.pretokenized]
    if own and max(overlap(r, ours) for r in own) < min(same, default=1.0):
        shared = [overlap(r, ours) for r in own]
        parts.append(
            "The engines' own English analysers (stemming, no stopword list on the documents) "
            "move the ranking more than the engines do ("
            + ", ".join(
                f"{short(r)} Hits@10 {r.hits10 - ours.hits10:+.4f}, MRR@10 "
                f"{r.mrr10 - ours.mrr10:+.4f}"
                for r in own
            )
            + f"; {_span(shared)} of our top 10 shared): a tokenizer "
            "question, which `retrieval/terms.py` can answer without a new engine."
        )
    return " ".join(parts)


def _span(values: Sequence[float]) -> str:
    low, high = f"{min(values):.0%}", f"{max(values):.0%}"
    return low if low == high else f"{low}-{high}"


def short(row: Row) -> str:
    e = row.engine
    kind = "FTS5" if isinstance(e, Fts5) else "tantivy" if isinstance(e, Tantivy) else "ours"
    return kind + ("" if e.pretokenized or isinstance(e, Ours) else " (own tokenizer)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="MultiHop-RAG directory")
    parser.add_argument("--no-write", action="store_true", help="do not update the docs")
    parser.add_argument("--limit", type=int, help="only the first N queries (not written)")
    parser.add_argument("--repeats", type=int, default=2, help="timed passes over the queries")
    parser.add_argument("--updates", type=int, default=40, help="articles replaced, per engine")
    parser.add_argument("--tantivy-path", type=Path, default=TANTIVY_PATH)
    parser.add_argument(
        "--scale", type=int, default=12, help="also time the corpus this many times over"
    )
    parser.add_argument("--scale-queries", type=int, default=300, help="queries at that scale")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    every = json.loads((args.data / "MultiHopRAG.json").read_text(encoding="utf-8"))
    queries = [q for q in every if q["question_type"] != "null_query"]
    nulls = len(every) - len(queries)
    if args.limit:
        queries = queries[: args.limit]
    corpus = load_corpus(args.data)
    print(
        f"{len(corpus.chunks)} chunks of {len(corpus.articles)} articles from {corpus.source}; "
        f"{len(queries)} queries ({nulls} null queries left out); our tokens made in "
        f"{corpus.tokenize_seconds:.1f} s.",
        flush=True,
    )
    tantivy, tantivy_note = import_tantivy(args.tantivy_path)
    print(f"tantivy {'' if tantivy is not None else 'left out: '}{tantivy_note}", flush=True)

    def engines(*, same_tokens_only: bool = False) -> list[Engine]:
        made: list[Engine] = [Ours(), Fts5(own_tokenizer=False)]
        made += [] if same_tokens_only else [Fts5(own_tokenizer=True)]
        if tantivy is not None:
            made.append(Tantivy(tantivy, own_tokenizer=False))
            made += [] if same_tokens_only else [Tantivy(tantivy, own_tokenizer=True)]
        return made

    CACHE.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="lexical-engines-", dir=CACHE))
    scaled_rows: list[Row] = []
    scaled = corpus
    try:
        (workdir / "corpus").mkdir()
        rows = measure(engines(), corpus, queries, workdir / "corpus", args.repeats, args.updates)
        score(rows, corpus, queries)
        if args.scale > 1:
            scaled = corpus.replicated(args.scale)
            subset = queries[:: max(1, len(queries) // args.scale_queries)][: args.scale_queries]
            print(
                f"The corpus {args.scale} times over: {len(scaled.chunks)} chunks, "
                f"{len(subset)} queries.",
                flush=True,
            )
            (workdir / "scaled").mkdir()
            scaled_rows = measure(
                engines(same_tokens_only=True), scaled, subset, workdir / "scaled", 1, 0
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    total = time.perf_counter() - started

    report = results_table(rows)
    ours = rows[0]
    overlaps = "; ".join(f"{r.engine.name} {overlap(r, ours):.3f}" for r in rows[1:])
    fts_lock = next((r.lock for r in rows if isinstance(r.engine, Fts5)), "n/a")
    tv_lock = next((r.lock for r in rows if isinstance(r.engine, Tantivy)), "not measured")
    capabilities = "\n".join(CAPABILITIES).format(
        fts_lock=f"a second `BEGIN IMMEDIATE` refused, checked: {fts_lock}",
        tv_lock=f"a second writer refused, checked: {tv_lock}",
    )
    bigger = scale_table(scaled_rows, len(scaled.chunks)) if scaled_rows else ""
    advice = recommendation(rows, scaled_rows)
    for part in (report, f"Share of our top 10 also in each engine's top 10: {overlaps}.", bigger):
        print(part, end="\n\n")
    print(capabilities, end="\n\n")
    print(advice)
    print(f"Total {total:.0f} s.")
    if args.no_write or args.limit:
        return 0
    product_snapshot = corpus.source / "chroma-lexical" / "news.npz"
    snap = (
        "; the product's own snapshot of this index, which also holds the int8 vectors and "
        f"filter fields, is {_mb(product_snapshot.stat().st_size)} MB"
        if product_snapshot.exists()
        else ""
    )
    intro = wrap(
        f"`{COMMAND}` on {today()}, {machine()}; the cores are shared with other work (load "
        f"{load()} at the end), so compare the ratios, measured in one run, not the "
        f"milliseconds. {total:.0f} s in all. SQLite {sqlite3.sqlite_version}, tantivy "
        f"{tantivy_note}. {len(corpus.chunks)} chunks of {len(corpus.articles)} MultiHop-RAG "
        f"articles (the bench/multihop.py index, read-only), {len(queries)} queries ({nulls} "
        "null queries left out), lexical ranking alone, top 10, scored as bench/multihop.py "
        "scores (its 'BM25 only' row goes through `Answerer.search`; this is the bare engine). "
        "'Same tokens': each engine indexes the space-joined `document_terms(title, text)` and "
        "is queried with `terms(question)`, so only the engine differs; 'own tokenizer': "
        "title and text as they are, and the question's words less our stopwords. Queries "
        "are an OR of their terms. Every question goes to every engine in turn, the order "
        f"rotated per question, {WARM_UP} untimed searches then {args.repeats} timed passes; "
        "the ratio to "
        "ours is the median over questions of the per-question ratio (and the ratio of the "
        "p95s). Build: the corpus to a committed index on disk, one thread (tantivy "
        "`num_threads=1`); the 'same tokens' rows include the "
        f"{corpus.tokenize_seconds:.1f} s of our tokenising, ours tokenises inside. Open: "
        "from disk to ready to search (ours loads the whole snapshot into memory). Update: "
        f"{args.updates} articles' chunks deleted, written again and committed, interleaved "
        "(FTS5 one transaction, WAL, synchronous=FULL; tantivy commit and reader reload; ours "
        "one journal line, not fsynced: Chroma is the durable copy and the check on open "
        f"repairs from it). On disk: after the build{snap}. FTS5 also stores each chunk's "
        "indexed text; tantivy and ours only postings."
    )
    scale_note = (
        wrap(
            f"Speed on a larger index: the same chunks {args.scale} times over (each copy its "
            f"own articles; {len(scaled.chunks):,} chunks; bench/query.py's larger index has "
            "108,132), "
            f"{len(scaled_rows[0].times)} of the queries, the same-token engines, "
            f"{WARM_UP} untimed searches and one timed pass, interleaved as above. Copies "
            "rank like their originals, so only the times mean anything here."
        )
        + f"\n\n{bigger}\n\n"
        if scaled_rows
        else ""
    )
    section = (
        f"## Lexical engines (`{COMMAND}`)\n\n{intro}\n\n{report}\n\n"
        + wrap(f"Share of our top 10 that each engine also returns: {overlaps}.")
        + f"\n\n{scale_note}What each engine gives for free, and what newsbot would still "
        f"need:\n\n{capabilities}\n\n" + wrap(f"**Recommendation.** {advice}")
    )
    write_section(SECTION, section)
    print(f"Updated {(REPO / 'docs' / 'benchmarks.md').relative_to(REPO)}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

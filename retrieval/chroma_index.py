"""The news index on Chroma: Chroma holds every chunk (with its vector) and every article
(with its full body, the text quotes are verified against); `ChromaIndex` implements the
Protocols of retrieval/index.py over it (embedded `PersistentClient`, or a Chroma server),
writes in the order that makes an article's record its commit point, and keeps the side index
(retrieval/side_index/) equal to what is committed. Only this module imports chromadb.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.change_log import ChangeLog
from retrieval.chroma_records import (
    batched,
    chunk_passage,
    iso,
    newest_first,
    stored_article,
)
from retrieval.consistency import StoreCheck, check_store
from retrieval.embedding import Vectors
from retrieval.errors import ConfigError, StoreError
from retrieval.failpoints import NO_FAILPOINTS, Failpoints
from retrieval.filter_translation import chroma_where, chunk_filter
from retrieval.index import (
    CHUNK_IDS,
    COPY_OF,
    IndexStats,
    MetaValue,
    SearchFilters,
    epoch_seconds,
    named_chunks,
)
from retrieval.models import GLOBAL_SCOPE, Article, Chunk, Passage, StoredArticle, normalize_url
from retrieval.side_index.articles import IndexedArticle
from retrieval.side_index.persisted import PersistentSideIndex
from retrieval.store_lock import WriterLock
from retrieval.write_intents import WriteIntents

log = logging.getLogger(__name__)

_ARTICLES_SUFFIX = "-articles"
# How long the syndicated copies are remembered between reads (another process may store
# copies too; this one forgets them on every write).
_COPIES_TTL_SECONDS = 30.0
# The backend of collections that do not record one (made before there was a choice).
LEGACY_BACKEND = "torch-fp32"
# A dense search under a filter keeping at most this many chunks compares the question with
# each of them (the side index's int8 vectors: ~0.4 ms per 5,000 chunks); under a wider
# filter it over-fetches from Chroma's HNSW index (at most DENSE_OVERFETCH_MAX hits, 1-5 ms at
# 100k chunks) and drops the others, and compares them all only when that leaves too few (the
# filter and the question's neighbourhood hardly overlap).
DENSE_SCAN_MAX = 20_000
DENSE_OVERFETCH_MAX = 1500
# How long one question's dense hits may be reused by its other rankings.
DENSE_MEMO_SECONDS = 2.0
# Article records read from Chroma at a time (see ChromaIndex._article_metadatas).
_ARTICLE_PAGE = 500
# Article ids (nothing else) read at a time (ChromaIndex.article_ids).
_ID_PAGE = 5000


@dataclass(frozen=True, slots=True)
class _DenseMemo:
    key: bytes  # the query vector
    fetched: int
    hits: list[tuple[str, float]]
    generation: int
    at: float


class ChromaIndex:
    """Two collections: `<name>` holds chunks, `<name>-articles` holds whole articles.

    An article's vector is the normalised mean of its chunks' vectors: a real summary of the
    story, used for "nearest articles" and kept so the collection needs no embedding function.

    A side index of the chunks (BM25 postings, int8 vectors, filter metadata) is derived from
    the chunk collection and kept equal to it by every write here (retrieval/side_index/);
    with `lexical_dir` it persists there, else it is rebuilt from Chroma when first needed.
    """

    def __init__(
        self,
        client: Any,
        collection: str,
        *,
        embedding_model: str,
        embedding_backend: str = LEGACY_BACKEND,
        lexical_dir: Path | None = None,
        writer_lock: WriterLock | None = None,
        read_only: bool = False,
        intents: WriteIntents | None = None,
        failpoints: Failpoints = NO_FAILPOINTS,
        change_log: bool = False,
    ) -> None:
        self._client = client
        self._writer_lock = writer_lock
        self._read_only = read_only
        self._intents = intents or WriteIntents(None)
        self._failpoints = failpoints
        self._model = embedding_model
        metadata = {
            "hnsw:space": "cosine",
            "embedding_model": embedding_model,
            "embedding_backend": embedding_backend,
        }
        try:
            self._chunks = client.get_or_create_collection(
                collection, metadata=metadata, embedding_function=None
            )
            self._articles = client.get_or_create_collection(
                collection + _ARTICLES_SUFFIX, metadata=metadata, embedding_function=None
            )
        except Exception as exc:
            raise StoreError(f"Cannot open the Chroma collection {collection!r}: {exc}") from exc
        stored = self._chunks.metadata or {}
        stored_model = stored.get("embedding_model")
        if stored_model is not None and stored_model != embedding_model:
            raise ConfigError(
                f"The collection {collection!r} was built with the embedding model "
                f"{stored_model!r}, but NEWSBOT_EMBEDDING_MODEL is {embedding_model!r}. "
                "Vectors of different models cannot be mixed: set NEWSBOT_EMBEDDING_MODEL back, "
                "or use another NEWSBOT_COLLECTION or NEWSBOT_DATA_DIR."
            )
        # Collections from before backends were recorded hold torch fp32 vectors.
        stored_backend = stored.get("embedding_backend", LEGACY_BACKEND)
        if stored_backend != embedding_backend:
            if self._chunks.count() or self._articles.count():
                raise ConfigError(
                    f"The collection {collection!r} holds vectors of the embedding backend "
                    f"{stored_backend!r}, but NEWSBOT_EMBEDDING_BACKEND is "
                    f"{embedding_backend!r}. Vectors of different backends differ slightly and "
                    f"are not mixed: set NEWSBOT_EMBEDDING_BACKEND={stored_backend}, or ingest "
                    "into another NEWSBOT_COLLECTION or NEWSBOT_DATA_DIR."
                )
            # Empty: it takes the new backend (a reader leaves that to the writer).
            for c in () if read_only else (self._chunks, self._articles):
                kept = {k: v for k, v in (c.metadata or {}).items() if not k.startswith("hnsw:")}
                c.modify(metadata={**kept, "embedding_backend": embedding_backend})
        self._max_batch = int(client.get_max_batch_size())
        self._side_index = PersistentSideIndex(lexical_dir, collection, self, failpoints=failpoints)
        self._recent = threading.local()  # the last dense search of each thread
        self._generation = 0  # bumped by every chunk write
        self._copies_read: tuple[float, dict[str, dict[str, Any]]] | None = None
        self.pending_repair: StoreCheck | None = None  # what repair on open found
        # Server mode: other machines' commits, for this machine's BM25 index.
        self._changes = ChangeLog(client, collection) if change_log else None

    @classmethod
    def persistent(
        cls,
        path: Path,
        collection: str,
        *,
        embedding_model: str,
        embedding_backend: str = LEGACY_BACKEND,
        lexical_dir: Path | None = None,
        read_only: bool = False,
        purpose: str = "newsbot",
        failpoints: Failpoints = NO_FAILPOINTS,
    ) -> ChromaIndex:
        """`lexical_dir` defaults to `<path>-lexical`, next to Chroma's directory.

        A writer (not `read_only`) first takes the store's writer lock (retrieval/store_lock.py)
        and holds it until `close()`: StoreBusyError, before anything is opened, if another
        process holds it. `purpose` names this process in the lock and in others' refusals.
        It then repairs what a writer that died left half-written (`repair_pending`)."""
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        path.mkdir(parents=True, exist_ok=True)
        lock = None if read_only else WriterLock(path, purpose=purpose)
        if lock is not None:
            lock.acquire()
        try:
            client = chromadb.PersistentClient(
                path=str(path), settings=ChromaSettings(anonymized_telemetry=False)
            )
            index = cls(
                client,
                collection,
                embedding_model=embedding_model,
                embedding_backend=embedding_backend,
                lexical_dir=lexical_dir or path.with_name(path.name + "-lexical"),
                writer_lock=lock,
                read_only=read_only,
                intents=WriteIntents(path.with_name(path.name + "-intents"), failpoints=failpoints),
                failpoints=failpoints,
            )
            if not read_only:
                index.repair_pending()
            return index
        except BaseException:
            if lock is not None:
                lock.release()
            raise

    def close(self) -> None:
        """Let go of the writer lock (the index must not be written after this)."""
        if self._writer_lock is not None:
            self._writer_lock.release()
            self._writer_lock = None
            self._read_only = True

    def _committed(self, article_ids: Sequence[str]) -> None:
        if self._changes is not None:
            self._changes.record(article_ids)

    def _follow(self) -> None:
        """Server mode: index again what other processes committed (retrieval/change_log.py)."""
        if self._changes is None:
            return
        changed = self._changes.changed()
        if changed:
            self._side_index.refresh(changed, keep=changed)
            self._generation += 1
            self._copies_read = None

    def repair_pending(self) -> StoreCheck | None:
        """Repair the articles whose writes a dead writer left unfinished (its write
        intents); None when there were none. What needs the model (`needs_embedding`,
        `stranded_copies`) is left to the caller: ingest/repair.py."""
        ids, files = self._intents.unfinished(exclusive=self._writer_lock is not None)
        if not files:
            return None
        report = check_store(self, ids=ids, repair=True) if ids else StoreCheck(repaired=True)
        if ids:
            log.warning(
                "A write to the store was interrupted: %d articles checked, %d orphan chunks "
                "deleted, %d to embed again",
                len(ids),
                len(report.orphan_chunks),
                len(report.needs_embedding),
            )
        self._intents.settle(files)
        self.pending_repair = report
        return report

    def check(self, *, repair: bool = False) -> StoreCheck:
        """The whole store's consistency (retrieval/consistency.py)."""
        if repair:
            self._check_writable()
        return check_store(self, repair=repair)

    def delete_chunks(self, chunk_ids: Sequence[str]) -> None:
        """Delete chunks no record names (repair)."""
        self._check_writable()
        for batch in batched(chunk_ids, self._max_batch):
            self._chunks.delete(ids=batch)
            self._generation += 1

    @property
    def chunk_collection(self) -> Any:
        return self._chunks

    @property
    def article_collection(self) -> Any:
        return self._articles

    def _check_writable(self) -> None:
        if self._read_only:
            raise StoreError(
                "This index was opened read-only (or closed); a command that writes must open "
                "it for writing."
            )

    @classmethod
    def http(
        cls,
        host: str,
        port: int,
        collection: str,
        *,
        embedding_model: str,
        embedding_backend: str = LEGACY_BACKEND,
        lexical_dir: Path | None = None,
        failpoints: Failpoints = NO_FAILPOINTS,
    ) -> ChromaIndex:
        """Several processes may write to one server; each keeps its write intents (and its
        BM25 index) in `lexical_dir` on its own machine, and repairs on open what a process
        of this machine left half-written."""
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        try:
            client = chromadb.HttpClient(
                host=host, port=port, settings=ChromaSettings(anonymized_telemetry=False)
            )
        except Exception as exc:
            raise StoreError(
                f"Cannot reach the Chroma server at {host}:{port} (NEWSBOT_CHROMA_HOST): {exc}"
            ) from exc
        index = cls(
            client,
            collection,
            embedding_model=embedding_model,
            embedding_backend=embedding_backend,
            lexical_dir=lexical_dir,
            intents=WriteIntents(
                lexical_dir / "intents" if lexical_dir else None, failpoints=failpoints
            ),
            failpoints=failpoints,
            change_log=True,
        )
        index.repair_pending()
        if index._changes is not None:
            index._changes.trim()
        return index

    # --- writing -------------------------------------------------------------------------

    def stored_hashes(self, article_ids: Sequence[str]) -> dict[str, str]:
        if not article_ids:
            return {}
        found: dict[str, str] = {}
        for batch in batched(list(dict.fromkeys(article_ids)), self._max_batch):
            got = self._articles.get(ids=batch, include=["metadatas"])
            for aid, meta in zip(got["ids"], got["metadatas"] or [], strict=True):
                found[aid] = str((meta or {}).get("content_hash", ""))
        return found

    def upsert_article(self, article: Article, chunks: Sequence[Chunk], vectors: Vectors) -> None:
        self.upsert_articles([(article, chunks, vectors)])

    def upsert_articles(self, items: Sequence[tuple[Article, Sequence[Chunk], Vectors]]) -> None:
        """One chunk write per `get_max_batch_size()` chunks and one article write, for
        however many articles (ingest hands over ~64 at a time)."""
        self._check_writable()
        for _, chunks, vectors in items:
            if len(chunks) != len(vectors):
                raise ValueError("one vector per chunk")
            if not chunks:
                raise ValueError("an article needs at least one chunk")
        if not items:
            return
        now = datetime.now(UTC).isoformat()
        article_ids = [article.id for article, _, _ in items]
        old_ids = set(self._chunk_ids_of_many(article_ids))
        ids: list[str] = []
        documents: list[str] = []
        metas: list[dict[str, Any]] = []
        embeddings: list[Vectors] = []
        article_vectors: list[Vectors] = []
        article_metas: list[dict[str, Any]] = []
        # Fields are written even when None: Chroma's upsert merges metadata into a stored
        # record and a None removes that key, so nothing of an earlier version survives.
        for article, chunks, vectors in items:
            base = {
                "article_id": article.id,
                "title": article.title,
                "outlet": article.outlet,
                "author": article.author,
                "url": article.url,
                "published": iso(article.published),
                "published_ts": epoch_seconds(article.published),
                "category": article.category,
                "scope": article.scope,
            }
            ids += [c.id for c in chunks]
            documents += [c.text for c in chunks]
            metas += [
                {
                    **base,
                    "position": c.position,
                    "start": c.start,
                    "end": c.end,
                    "tokens": c.token_count,
                }
                for c in chunks
            ]
            embeddings.append(np.asarray(vectors, dtype=np.float32))
            mean = embeddings[-1].mean(axis=0)
            article_vectors.append(mean / (float(np.linalg.norm(mean)) or 1.0))
            article_metas.append(
                {
                    **{k: v for k, v in base.items() if k != "article_id"},
                    "url_key": normalize_url(article.url) if article.url else None,
                    "updated": iso(article.updated),
                    "description": article.description,
                    "content_hash": article.content_hash,
                    "chunk_count": len(chunks),
                    CHUNK_IDS: " ".join(c.id for c in chunks),
                    COPY_OF: None,  # an article stored with chunks is no one's copy
                    "ingested_at": now,
                }
            )
        every_vector = np.concatenate(embeddings)
        # The write order makes the record the commit point: (1) the new chunks, which no
        # record names yet, so nothing reads them; (2) the records, naming them; (3) the
        # chunks the records no longer name. A crash leaves the old version or the new one
        # whole, plus unnamed chunks that repair (`repair_pending`) deletes.
        token = self._intents.begin(article_ids)
        for lo in range(0, len(ids), self._max_batch):
            hi = lo + self._max_batch
            self._chunks.upsert(
                ids=ids[lo:hi],
                embeddings=every_vector[lo:hi],
                documents=documents[lo:hi],
                metadatas=metas[lo:hi],
            )
            self._generation += 1
        self._failpoints.reached("chunks-written")
        for lo in range(0, len(items), self._max_batch):
            hi = lo + self._max_batch
            self._articles.upsert(
                ids=article_ids[lo:hi],
                embeddings=np.stack(article_vectors[lo:hi]),
                documents=[article.body for article, _, _ in items[lo:hi]],
                metadatas=article_metas[lo:hi],
            )
        self._copies_read = None
        self._failpoints.reached("record-written")
        self._committed(article_ids)
        for batch in batched(sorted(old_ids - set(ids)), self._max_batch):
            self._chunks.delete(ids=batch)
            self._generation += 1
        self._failpoints.reached("old-chunks-deleted")
        for article, chunks, vectors in items:
            self._side_index.put(
                IndexedArticle.from_texts(
                    article_id=article.id,
                    content_hash=article.content_hash,
                    title=article.title,
                    outlet=article.outlet,
                    published_ts=epoch_seconds(article.published),
                    scope=article.scope,
                    chunks=[(c.id, c.text) for c in chunks],
                    vectors=vectors,
                )
            )
        self._intents.end(token)

    def forget(
        self, id_or_url: str, *, scopes: tuple[str, ...] | None = None
    ) -> StoredArticle | None:
        self._check_writable()
        found = self.find_article(id_or_url, scopes=scopes)
        if found is None:
            return None
        token = self._intents.begin([found.id])
        self._articles.delete(ids=[found.id])  # the commit point: its chunks count no more
        self._copies_read = None
        self._committed([found.id])
        self._failpoints.reached("record-deleted")
        for batch in batched(self._chunk_ids_of(found.id), self._max_batch):
            self._chunks.delete(ids=batch)
            self._generation += 1
        self._side_index.remove(found.id)
        self._intents.end(token)
        return found

    def _chunk_ids_of(self, article_id: str) -> list[str]:
        return list(self._chunks.get(where={"article_id": article_id}, include=[])["ids"])

    def _chunk_ids_of_many(self, article_ids: Sequence[str]) -> list[str]:
        found: list[str] = []
        for batch in batched(list(dict.fromkeys(article_ids)), self._max_batch):
            where = {"article_id": batch[0] if len(batch) == 1 else {"$in": batch}}
            found += self._chunks.get(where=where, include=[])["ids"]
        return found

    # --- reading -------------------------------------------------------------------------

    def search(
        self, vector: Vectors, k: int, filters: SearchFilters | None = None
    ) -> list[Passage]:
        if k <= 0:
            return []
        self._follow()
        result = self._chunks.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32)],
            n_results=k,
            where=chroma_where(filters, self.outlet_leads(filters)),
            include=["documents", "metadatas", "distances"],
        )
        passages: list[Passage] = []
        committed = self._side_index.known(result["ids"][0])
        for cid, doc, meta, dist in zip(
            result["ids"][0],
            (result["documents"] or [[]])[0],
            (result["metadatas"] or [[]])[0],
            (result["distances"] or [[]])[0],
            strict=True,
        ):
            if cid not in committed:
                continue
            similarity = 1.0 - float(dist)
            passages.append(chunk_passage(cid, doc, meta, score=similarity, similarity=similarity))
        return passages

    # --- hybrid retrieval ----------------------------------------------------------------

    def rank_dense(
        self, vector: Vectors, n: int, filters: SearchFilters | None = None
    ) -> list[tuple[str, float]]:
        """Unfiltered: Chroma's HNSW search (~1 ms at 100k chunks). Filtered: with the side
        index's metadata (which mirrors Chroma's), not Chroma's `where`, which costs 50-300 ms
        a query at 100k chunks (and a search restricted to a list of ids 4-15 ms). A narrow
        filter (an outlet, a week) compares the question with the chunks it keeps, in the
        side index's int8 vectors; a wide one (the bot's scopes) over-fetches from HNSW
        and drops the others."""
        if n <= 0:
            return []
        self._follow()
        flt = chunk_filter(filters, self.outlet_leads(filters))
        if flt is None or flt.empty:
            return self._nearest_all(vector, n)
        allowed = self._side_index.select(flt)
        if allowed.size == 0:
            return []
        if allowed.size > DENSE_SCAN_MAX:
            share = allowed.size / max(allowed.total, 1)
            fetch = min(int(n / share * 1.5) + 10, max(DENSE_OVERFETCH_MAX, n), allowed.total)
            hits = [hit for hit in self._nearest_all(vector, fetch) if hit[0] in allowed]
            if len(hits) >= n or fetch >= allowed.total:
                return hits[:n]
        return self._side_index.nearest(vector, n, flt)

    def _nearest_all(self, vector: Vectors, n: int) -> list[tuple[str, float]]:
        """The n nearest chunks of the whole index. The last search's hits are kept for a
        moment (per thread, until the next write), so the other rankings of one question
        (its outlet lanes, its preferred times) filter them instead of searching again."""
        key = np.asarray(vector, dtype=np.float32).tobytes()
        memo: _DenseMemo | None = getattr(self._recent, "dense", None)
        if (
            memo is not None
            and memo.key == key
            and memo.generation == self._generation
            and time.monotonic() - memo.at < DENSE_MEMO_SECONDS
            and (memo.fetched >= n or len(memo.hits) < memo.fetched)  # or it has them all
        ):
            return memo.hits[:n]
        hits = self._nearest(vector, n)
        self._recent.dense = _DenseMemo(key, n, hits, self._generation, time.monotonic())
        return hits

    def _nearest(self, vector: Vectors, n: int) -> list[tuple[str, float]]:
        """Chunks no record names (a write in progress, or left by a crash) are dropped: the
        side index holds exactly the committed chunks."""
        result = self._chunks.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32)],
            n_results=n,
            include=["distances"],
        )
        committed = self._side_index.known(result["ids"][0])
        return [
            (cid, 1.0 - float(dist))
            for cid, dist in zip(result["ids"][0], (result["distances"] or [[]])[0], strict=True)
            if cid in committed
        ]

    def rank_lexical(
        self, query_terms: Sequence[str], n: int, filters: SearchFilters | None = None
    ) -> list[tuple[str, float]]:
        self._follow()
        flt = chunk_filter(filters, self.outlet_leads(filters))
        return self._side_index.search(query_terms, n, flt)

    def outlet_leads(self, filters: SearchFilters | None) -> tuple[str, ...]:
        """Lead articles with a syndicated copy from one of the filter's outlets: a copy has
        no chunks, so its lead's chunks stand for it ("according to AP" finds the Reuters
        story AP also ran)."""
        if filters is None or not filters.outlets:
            return ()
        outlets = set(filters.outlets)
        copies = self._recent_copies().values()
        leads = {m.get(COPY_OF) for m in copies if m.get("outlet") in outlets}
        return tuple(sorted(str(lead) for lead in leads if lead))

    def document_frequencies(self, query_terms: Sequence[str]) -> tuple[dict[str, int], int]:
        return self._side_index.document_frequencies(query_terms)

    def get_passages(
        self, chunk_ids: Sequence[str], *, vector: Vectors | None = None
    ) -> dict[str, Passage]:
        if not chunk_ids:
            return {}
        ids = list(dict.fromkeys(chunk_ids))
        got = None
        if vector is not None:
            try:
                got = self._chunks.get(ids=ids, include=["documents", "metadatas", "embeddings"])
            except Exception as exc:  # Chroma raises InternalError
                # A reading process's in-memory vector segment does not see chunks another
                # process (the writer) added after it opened ("Error finding id"); their
                # similarity comes from the side index's copy, which does.
                log.info("Chroma cannot read some chunks' vectors (%s): using int8 copies", exc)
        sims: list[float | None]
        if got is not None:
            sims = [None] * len(got["ids"])
            if len(got["ids"]):
                matrix = np.asarray(got["embeddings"], dtype=np.float32)
                sims = [float(x) for x in matrix @ np.asarray(vector, dtype=np.float32)]
        else:
            got = self._chunks.get(ids=ids, include=["documents", "metadatas"])
            copies = self._side_index.similarities(got["ids"], vector) if vector is not None else {}
            sims = [copies.get(cid) for cid in got["ids"]]
        found: dict[str, Passage] = {}
        for cid, doc, meta, sim in zip(
            got["ids"], got["documents"] or [], got["metadatas"] or [], sims, strict=True
        ):
            found[cid] = chunk_passage(cid, doc, meta, score=0.0, similarity=sim)
        return found

    def outlets(self, *, scopes: tuple[str, ...] | None = None) -> list[str]:
        names = set(self._side_index.outlets(scopes))
        names.update(str(m["outlet"]) for m in self._copies(scopes).values() if m.get("outlet"))
        return sorted(names)

    @property
    def side_index(self) -> PersistentSideIndex:
        return self._side_index

    def iter_chunks(self, batch: int = 5000) -> Iterator[tuple[str, str, int]]:
        """Every stored chunk as (chunk id, text, token count), in batches."""
        offset = 0
        while True:
            got = self._chunks.get(limit=batch, offset=offset, include=["documents", "metadatas"])
            if not got["ids"]:
                return
            for cid, doc, meta in zip(
                got["ids"], got["documents"] or [], got["metadatas"] or [], strict=True
            ):
                yield cid, doc or "", int((meta or {}).get("tokens", 0))
            offset += len(got["ids"])

    # --- what the side index is derived from (side_index.persisted.ChunkSource) ------

    def side_index_article_states(self) -> dict[str, tuple[str, int]]:
        return {
            aid: (str(meta.get("content_hash", "")), int(meta.get("chunk_count", 0)))
            for aid, meta in self._article_metadatas({"chunk_count": {"$gt": 0}}).items()
            if not meta.get(COPY_OF)
        }

    def side_index_chunk_count(self) -> int:
        return self.count_chunks()

    def side_index_articles(self, article_ids: Sequence[str]) -> Iterator[IndexedArticle]:
        for batch in batched(list(dict.fromkeys(article_ids)), 200):
            records = self._articles.get(ids=batch, include=["metadatas"])
            hashes: dict[str, str] = {}
            members: dict[str, set[str] | None] = {}
            for aid, meta in zip(records["ids"], records["metadatas"] or [], strict=True):
                m = meta or {}
                if m.get(COPY_OF) or not m.get("chunk_count"):
                    continue  # a copy (or a record being turned into one)
                hashes[aid] = str(m.get("content_hash", ""))
                members[aid] = named_chunks(m)
            got = self._chunks.get(
                where={"article_id": {"$in": batch}},
                include=["documents", "metadatas", "embeddings"],
            )
            grouped: dict[str, list[tuple[int, str, str, dict[str, Any], Vectors]]] = {}
            for cid, doc, meta, vector in zip(
                got["ids"],
                got["documents"] or [],
                got["metadatas"] or [],
                np.asarray(got["embeddings"], dtype=np.float32),
                strict=True,
            ):
                m = meta or {}
                aid = str(m["article_id"])
                if aid not in members:
                    continue  # no record names it
                named = members[aid]
                if named is not None and cid not in named:
                    continue
                grouped.setdefault(aid, []).append(
                    (int(m.get("position", 0)), cid, doc or "", m, vector)
                )
            for aid, rows in grouped.items():
                rows.sort(key=lambda r: (r[0], r[1]))
                m = rows[0][3]
                ts = m.get("published_ts")
                yield IndexedArticle.from_texts(
                    article_id=aid,
                    content_hash=hashes.get(aid, ""),
                    title=str(m.get("title", "")),
                    outlet=m.get("outlet"),
                    published_ts=int(ts) if ts is not None else None,
                    scope=str(m.get("scope", GLOBAL_SCOPE)),
                    chunks=[(cid, text) for _, cid, text, _, _ in rows],
                    vectors=np.stack([vector for *_, vector in rows]),
                )

    def get_articles(self, article_ids: Sequence[str]) -> dict[str, StoredArticle]:
        if not article_ids:
            return {}
        got = self._articles.get(ids=list(dict.fromkeys(article_ids)), include=["metadatas"])
        return {
            aid: stored_article(aid, meta or {})
            for aid, meta in zip(got["ids"], got["metadatas"] or [], strict=True)
        }

    def get_bodies(self, article_ids: Sequence[str]) -> dict[str, str]:
        if not article_ids:
            return {}
        got = self._articles.get(ids=list(dict.fromkeys(article_ids)), include=["documents"])
        return {aid: doc or "" for aid, doc in zip(got["ids"], got["documents"] or [], strict=True)}

    def stats(self, *, scopes: tuple[str, ...] | None = None) -> IndexStats:
        """From the side index (articles with chunks) and the copies: reading every
        article record from Chroma costs ~0.5 s and ~300 MB of transient memory at 100k
        chunks, and answers label themselves with these numbers."""
        self._follow()
        count, newest_ts = self._side_index.article_summary(scopes)
        for meta in self._copies(scopes).values():
            count += 1
            ts = meta.get("published_ts")
            if isinstance(ts, int) and (newest_ts is None or ts > newest_ts):
                newest_ts = ts
        newest = datetime.fromtimestamp(newest_ts, UTC) if newest_ts is not None else None
        return IndexStats(articles=count, newest_published=newest)

    def list_articles(self, *, scopes: tuple[str, ...] | None = None) -> list[StoredArticle]:
        where = {"scope": {"$in": list(scopes)}} if scopes is not None else None
        found = self._article_metadatas(where)
        return sorted((stored_article(aid, meta) for aid, meta in found.items()), key=newest_first)

    def _article_metadatas(self, where: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
        """Article records' metadata, read a page at a time: Chroma holds a whole read's rows
        in memory at once (~40 kB per article record), so one read of every record is a
        spike of hundreds of MB at 100k chunks."""
        found: dict[str, dict[str, Any]] = {}
        offset = 0
        while True:
            got = self._articles.get(
                where=dict(where) if where else None,
                include=["metadatas"],
                limit=_ARTICLE_PAGE,
                offset=offset,
            )
            for aid, meta in zip(got["ids"], got["metadatas"] or [], strict=True):
                found[aid] = dict(meta or {})
            if len(got["ids"]) < _ARTICLE_PAGE:
                return found
            offset += len(got["ids"])

    def article_ids(self) -> list[str]:
        """The id of every article record, leads and copies (what is stored, whichever
        process stored it), read a page at a time."""
        found: list[str] = []
        while True:
            got = self._articles.get(include=[], limit=_ID_PAGE, offset=len(found))
            found += got["ids"]
            if len(got["ids"]) < _ID_PAGE:
                return found

    def searchable(self, article_ids: Sequence[str]) -> set[str]:
        """Those of these lead articles that searches find now (in server mode, once this
        process's BM25 index has followed the commit that stored them)."""
        self._follow()
        return set(self._side_index.article_states(article_ids))

    def find_article(
        self, id_or_url: str, *, scopes: tuple[str, ...] | None = None
    ) -> StoredArticle | None:
        key = id_or_url.strip()
        if not key:
            return None
        by_id = self.get_articles([key]).get(key)
        candidates = [by_id] if by_id is not None else []
        if not candidates and "://" in key:
            got = self._articles.get(where={"url_key": normalize_url(key)}, include=["metadatas"])
            candidates = [
                stored_article(aid, meta or {})
                for aid, meta in zip(got["ids"], got["metadatas"] or [], strict=True)
            ]
        for article in candidates:
            if scopes is None or article.scope in scopes:
                return article
        return None

    def count_chunks(self) -> int:
        return int(self._chunks.count())

    # --- syndicated copies -------------------------------------------------------------

    def store_copy(self, article: Article, lead_id: str) -> None:
        self._check_writable()
        lead = self._articles.get(ids=[lead_id], include=["embeddings"])
        if not lead["ids"]:
            raise StoreError(f"Cannot store a copy of {lead_id}: that article is not stored.")
        meta = {
            "title": article.title,
            "outlet": article.outlet,
            "author": article.author,
            "url": article.url,
            "url_key": normalize_url(article.url) if article.url else None,
            "published": iso(article.published),
            "published_ts": epoch_seconds(article.published),
            "updated": iso(article.updated),
            "category": article.category,
            "description": article.description,
            "scope": article.scope,
            "content_hash": article.content_hash,
            "chunk_count": 0,
            CHUNK_IDS: "",
            "ingested_at": datetime.now(UTC).isoformat(),
            COPY_OF: lead_id,
        }
        token = self._intents.begin([article.id])
        self._articles.upsert(
            ids=[article.id],
            embeddings=[lead["embeddings"][0]],  # the story's vector is the lead's
            documents=[article.body],
            metadatas=[meta],
        )
        self._copies_read = None
        self._failpoints.reached("copy-record-written")
        self._committed([article.id])
        # A copy has no chunks: any it had (as an earlier lead) go, now that no record
        # names them.
        for batch in batched(self._chunk_ids_of(article.id), self._max_batch):
            self._chunks.delete(ids=batch)
            self._generation += 1
        self._side_index.remove(article.id)
        self._intents.end(token)

    def copies_of(self, lead_ids: Sequence[str]) -> dict[str, list[StoredArticle]]:
        wanted = set(lead_ids)
        found: dict[str, list[StoredArticle]] = {}
        for aid, meta in self._recent_copies().items():
            lead = meta.get(COPY_OF)
            if lead in wanted:
                found.setdefault(str(lead), []).append(stored_article(aid, meta))
        for copies in found.values():
            copies.sort(key=lambda c: (c.ingested_at, c.id))
        return found

    def _copies(self, scopes: tuple[str, ...] | None = None) -> dict[str, dict[str, Any]]:
        """The metadata of every stored copy (an article record without chunks of its own)
        in these scopes (all with None)."""
        where: dict[str, Any] = {"chunk_count": 0}
        if scopes is not None:
            where = {"$and": [where, {"scope": {"$in": list(scopes)}}]}
        return self._article_metadatas(where)

    def _recent_copies(self) -> dict[str, dict[str, Any]]:
        """`_copies()`, read again at most every _COPIES_TTL_SECONDS (and after every write
        here): each answer consults the copies for its outlet filters and its "also
        reported by", and most articles have none."""
        now = time.monotonic()
        read = self._copies_read
        if read is None or now - read[0] >= _COPIES_TTL_SECONDS:
            read = self._copies_read = (now, self._copies())
        return read[1]

    def article_fields(
        self, keys: Sequence[str], *, ids: Sequence[str] | None = None
    ) -> dict[str, dict[str, MetaValue]]:
        if ids is None:
            found = self._article_metadatas(None)
        elif not ids:
            return {}
        else:
            got = self._articles.get(ids=list(dict.fromkeys(ids)), include=["metadatas"])
            found = {
                aid: dict(meta or {})
                for aid, meta in zip(got["ids"], got["metadatas"] or [], strict=True)
            }
        return {aid: {k: meta[k] for k in keys if k in meta} for aid, meta in found.items()}

    def update_article_fields(self, updates: Mapping[str, Mapping[str, MetaValue | None]]) -> None:
        self._check_writable()
        ids = list(updates)
        for lo in range(0, len(ids), self._max_batch):
            batch = ids[lo : lo + self._max_batch]
            self._articles.update(ids=batch, metadatas=[dict(updates[i]) for i in batch])
        self._copies_read = None

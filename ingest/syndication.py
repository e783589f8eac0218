"""Syndication (and updated stories), tracked at ingest.

Syndication is the one name for this throughout the code, the JSON and the docs: a wire
story republished by several outlets is stored once as the *lead* article (the first one
ingested: chunked, embedded, searched), and each republication from another outlet as a
*copy* of it (record and body, no chunks; its record's `copy_of` field, kept in Chroma under
its first name `duplicate_of`, is the source of truth). Answers cite the lead once and name
the copies' outlets ("also reported by").

Copies are found with MinHash LSH (datasketch) over 5-word shingles of the body:
estimated Jaccard similarity >= `THRESHOLD`. A copy must come from an outlet other than its
lead's and from the same scope (a server's articles never attach to another's). Leads keep
their role when their text changes; an updated copy is checked again.

An article whose text changed at the same URL replaces its chunks (the pipeline does that)
and, when the page gives no modification time, is marked updated at the time of ingest.

Signatures are kept in the article records too (`minhash`), so another process (the CLI
while the bot runs) rebuilds the index from metadata instead of re-reading every body.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np
from datasketch import MinHash, MinHashLSH

from ingest.pipeline import Admission
from ingest.reports import Status
from retrieval.index import COPY_OF, ArticlesWithCopies, MetaValue
from retrieval.models import Article

log = logging.getLogger(__name__)

SHINGLE_WORDS = 5
NUM_PERM = 128
THRESHOLD = 0.5
# Texts with fewer distinct shingles than this are too short to call anything a copy.
MIN_SHINGLES = 8
SIGNATURE_KEY = "minhash"
SCHEME = "affine32"  # datasketch's permutation scheme (its default since 2.0)
_SIGNATURE_VERSION = f"{SCHEME}.{SHINGLE_WORDS}.{NUM_PERM}:"
_TOO_SHORT = _SIGNATURE_VERSION + "-"  # saved for bodies too short to compare
_WORD = re.compile(r"\w+")

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


def shingles(text: str, size: int = SHINGLE_WORDS) -> set[str]:
    words = _WORD.findall(text.casefold())
    return {" ".join(words[i : i + size]) for i in range(max(1, len(words) - size + 1))}


def signature(text: str) -> MinHash | None:
    """The MinHash of a body's shingles, or None for a text too short to compare."""
    found = shingles(text)
    if len(found) < MIN_SHINGLES:
        return None
    minhash = MinHash(num_perm=NUM_PERM, scheme=SCHEME, permutations=_permutations())
    # datasketch's own hash (sha1_hash32: the first 4 bytes of SHA-1, little-endian), read
    # in one array instead of a struct.unpack per shingle, so stored signatures still fit.
    digests = b"".join(hashlib.sha1(s.encode("utf-8")).digest()[:4] for s in found)
    minhash.hashfunc = int  # the values below are hashed already
    minhash.update_batch(np.frombuffer(digests, dtype="<u4").tolist())
    return minhash


@functools.cache
def _permutations() -> np.ndarray:
    """datasketch's permutations for its default seed, drawn once: drawing them was a third
    of each signature's time."""
    permutations: np.ndarray = MinHash(num_perm=NUM_PERM, scheme=SCHEME).permutations
    return permutations


def encode_signature(minhash: MinHash) -> str:
    packed = np.asarray(minhash.hashvalues, dtype="<u4").tobytes()
    return _SIGNATURE_VERSION + base64.b64encode(packed).decode("ascii")


def decode_signature(value: object) -> MinHash | None:
    if not isinstance(value, str) or not value.startswith(_SIGNATURE_VERSION):
        return None
    try:
        raw = base64.b64decode(value[len(_SIGNATURE_VERSION) :], validate=True)
    except ValueError:
        return None
    if len(raw) != 4 * NUM_PERM:
        return None
    values = np.frombuffer(raw, dtype="<u4").astype(np.uint32)
    return MinHash(num_perm=NUM_PERM, hashvalues=values, scheme=SCHEME)


@dataclass(frozen=True, slots=True)
class _Lead:
    scope: str
    outlet: str | None
    minhash: MinHash


class SyndicationTracker:
    """Syndication index over the stored lead articles; thread-safe. It is what the
    pipeline's `SyndicationTracking` asks for."""

    def __init__(
        self, index: ArticlesWithCopies, *, threshold: float = THRESHOLD, clock: Clock = _now
    ) -> None:
        self._index = index
        self._threshold = threshold
        self._clock = clock
        self._lock = threading.RLock()
        self._lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
        self._leads: dict[str, _Lead] = {}
        # Leads admitted but not yet stored: their signature, and the admitting thread.
        self._pending: dict[str, tuple[MinHash, int]] = {}

    # --- the pipeline's hooks ------------------------------------------------------------

    def begin(self) -> None:
        """Catch up with the index (other processes ingest and forget too)."""
        with self._lock:
            self._sync()

    def admit(self, article: Article, status: Status) -> Admission:
        """Called for each article that will be stored (added or updated)."""
        if status is Status.UPDATED and article.updated is None:
            article = replace(article, updated=self._clock())
        with self._lock:
            minhash = signature(article.body)
            if article.id in self._leads:  # a lead stays the lead, with its new text
                self._forget_lead(article.id)
                if minhash is not None:
                    self._add_lead(article.id, _Lead(article.scope, article.outlet, minhash))
                    self._pending[article.id] = (minhash, threading.get_ident())
                return Admission(article)
            lead_id = self._find_lead(article, minhash) if minhash is not None else None
            if lead_id is not None:
                log.info("%s is a copy of %s", article.id, lead_id)
                return Admission(article, copy_of=lead_id)
            if minhash is not None:
                self._add_lead(article.id, _Lead(article.scope, article.outlet, minhash))
                self._pending[article.id] = (minhash, threading.get_ident())
            return Admission(article)

    def after_batch(self, leads: Sequence[Article], copies: Sequence[tuple[Article, str]]) -> None:
        """Called once the batch's leads are stored: save their signatures (and clear a
        former copy's link), then store the copies."""
        with self._lock:
            updates: dict[str, dict[str, MetaValue | None]] = {}
            for article in leads:
                pending = self._pending.pop(article.id, None)
                saved = encode_signature(pending[0]) if pending is not None else _TOO_SHORT
                updates[article.id] = {COPY_OF: None, SIGNATURE_KEY: saved}
            if updates:
                self._index.update_article_fields(updates)
            for article, lead_id in copies:
                self._index.store_copy(article, lead_id)

    def stored_as_lead(self, article: Article) -> None:
        """An article was stored as a lead outside a batch (a promoted copy, a repair):
        it becomes a lead here too, with its signature saved."""
        with self._lock:
            self._forget_lead(article.id)
            minhash = signature(article.body)
            if minhash is not None:
                self._add_lead(article.id, _Lead(article.scope, article.outlet, minhash))
            saved = encode_signature(minhash) if minhash is not None else _TOO_SHORT
            self._index.update_article_fields({article.id: {SIGNATURE_KEY: saved}})

    # --- internals -----------------------------------------------------------------------

    def _find_lead(self, article: Article, minhash: MinHash) -> str | None:
        best: tuple[float, str] | None = None
        own_outlet = (article.outlet or "").casefold()
        for key in self._lsh.query(minhash):
            lead_id = str(key)
            lead = self._leads.get(lead_id)
            if lead is None or lead_id == article.id or lead.scope != article.scope:
                continue
            if own_outlet and own_outlet == (lead.outlet or "").casefold():
                continue  # an outlet's own re-posts are separate articles, not syndication
            similarity = float(minhash.jaccard(lead.minhash))
            if similarity >= self._threshold and (best is None or similarity > best[0]):
                best = (similarity, lead_id)
        return best[1] if best else None

    def _add_lead(self, article_id: str, lead: _Lead) -> None:
        self._leads[article_id] = lead
        self._lsh.insert(article_id, lead.minhash, check_duplication=False)

    def _forget_lead(self, article_id: str) -> None:
        if self._leads.pop(article_id, None) is not None:
            self._lsh.remove(article_id)
        self._pending.pop(article_id, None)

    def _sync(self) -> None:
        me = threading.get_ident()
        alive = {t.ident for t in threading.enumerate()}
        for aid, (_, owner) in list(self._pending.items()):
            if owner == me or owner not in alive:  # left by a batch that failed
                self._forget_lead(aid)
        records = self._index.article_fields(["scope", "outlet", COPY_OF])
        stored_leads = {aid: f for aid, f in records.items() if COPY_OF not in f}
        for gone in [aid for aid in self._leads if aid not in stored_leads]:
            if gone not in self._pending:  # another thread's batch in progress
                self._forget_lead(gone)
        unknown = [aid for aid in stored_leads if aid not in self._leads]
        missing: list[str] = []
        for start in range(0, len(unknown), 1000):  # signatures only of leads not yet known
            batch = unknown[start : start + 1000]
            signatures = self._index.article_fields([SIGNATURE_KEY], ids=batch)
            for aid in batch:
                value = signatures.get(aid, {}).get(SIGNATURE_KEY)
                if value == _TOO_SHORT:
                    continue
                minhash = decode_signature(value)
                if minhash is None:
                    missing.append(aid)
                else:
                    self._add_lead(aid, _lead(stored_leads[aid], minhash))
        if not missing:
            return
        # Articles stored before signatures were kept: compute once and save them.
        updates: dict[str, dict[str, MetaValue | None]] = {}
        for start in range(0, len(missing), 256):
            batch = missing[start : start + 256]
            for aid, body in self._index.get_bodies(batch).items():
                minhash = signature(body)
                if minhash is not None:
                    self._add_lead(aid, _lead(stored_leads[aid], minhash))
                saved = encode_signature(minhash) if minhash is not None else _TOO_SHORT
                updates[aid] = {SIGNATURE_KEY: saved}
        if updates:
            self._index.update_article_fields(updates)
        log.info("syndication index: %d signatures computed", len(updates))


def _lead(fields: dict[str, MetaValue], minhash: MinHash) -> _Lead:
    outlet = fields.get("outlet")
    return _Lead(str(fields.get("scope", "")), outlet if isinstance(outlet, str) else None, minhash)

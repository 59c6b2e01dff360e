"""Knowledge bases against the targets of issue 18.

    .venv/bin/python bench/knowledge_bench.py [--quick]

Prints figures, never asserts, for each backend: a fresh SQLite file in a temporary
folder (WAL mode, as `flowctl store init` makes it), and a fresh schema on the
PostgreSQL server at $FLOWCTL_TEST_POSTGRES (default
postgresql://postgres@127.0.0.1:5432/test; skipped, saying why, when unreachable).

The corpus: 1,000 Markdown documents of 10 sections each, every section one passage
of ~90 words (10,000 chunks in all), drawn from a vocabulary of 8,000 words with
Zipf's law's frequencies, as real text has them (a few words everywhere, most rare);
the same number of chunks again for a second tenant, whose rows the search must pass
over. Queries are questions of 4 content words from the same law, with common words
around them, as a caller asks.

1. Indexing (target: at least 200 chunks/s): every document added through
   ``TenantStore.put_document`` (read into sections, cut into chunks, each chunk
   inserted and indexed by the backend's trigger, one transaction per document), as
   ``flowctl knowledge add`` and the API do.
2. Retrieval over 10,000 chunks (target: p95 under 20 ms): ``TenantStore.search``,
   top 3, as a knowledge tool calls it: the query read into terms, the backend's
   full-text ranking (FTS5 BM25; ``ts_rank_cd`` over a GIN index), scores made
   relative.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flowctl.engine.store import Store, TenantStore, open_store  # noqa: E402

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
VOCABULARY = 8_000
SECTIONS = 10  # per document: one chunk each
WORDS = 90  # per section
FILLER = ["the", "a", "of", "and", "to", "in", "is", "for", "with", "on", "we", "your"]
ASKING = ["what", "is", "the", "how", "do", "i", "can", "you", "are", "my", "about"]


def _words(rng: random.Random) -> list[str]:
    """Pronounceable made-up words, one per rank."""
    onsets, vowels, codas = "bcdfghjklmnprstvwz", "aeiou", ["", "n", "r", "s", "t", "l"]
    found: dict[str, None] = {}
    while len(found) < VOCABULARY:
        syllables = rng.choice((1, 2, 2, 3))
        word = "".join(
            rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas) for _ in range(syllables)
        )
        found.setdefault(word)
    return list(found)


class Corpus:
    """Words drawn by Zipf's law (weight 1/rank), for documents and questions alike."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.words = _words(random.Random(0))  # one vocabulary for every corpus
        self.weights = [1 / rank for rank in range(1, VOCABULARY + 1)]

    def draw(self, n: int) -> list[str]:
        return self.rng.choices(self.words, self.weights, k=n)

    def section(self) -> str:
        words = self.draw(WORDS)
        for k in range(0, len(words), 6):  # the common words of real sentences
            words.insert(k, self.rng.choice(FILLER))
        return " ".join(words).capitalize() + "."

    def document(self, n: int) -> str:
        parts = [f"# Document {n}"]
        for s in range(SECTIONS):
            parts += [f"## {' '.join(self.draw(3)).title()} {s}", self.section()]
        return "\n\n".join(parts) + "\n"

    def question(self) -> str:
        return " ".join(self.rng.sample(ASKING, 3) + self.draw(4)) + "?"


def _ms(value: float) -> str:
    return f"{value * 1000:.2f} ms"


def _pct(samples: list[float], q: float) -> float:
    return sorted(samples)[min(len(samples) - 1, int(len(samples) * q))]


async def _fill(t: TenantStore, corpus: Corpus, documents: int) -> tuple[int, float]:
    """Add ``documents`` documents; the chunks stored and the seconds it took."""
    texts = [corpus.document(n) for n in range(documents)]
    chunks = 0
    start = time.perf_counter()
    for n, text in enumerate(texts):
        put = await t.put_document("handbook", f"doc-{n:04d}.md", text, actor="bench")
        chunks += put.document.chunks
    return chunks, time.perf_counter() - start


async def _searches(t: TenantStore, corpus: Corpus, n: int) -> tuple[list[float], int]:
    samples: list[float] = []
    found = 0
    for _ in range(n):
        question = corpus.question()
        start = time.perf_counter()
        passages = await t.search("handbook", question, top_k=3)
        samples.append(time.perf_counter() - start)
        found += bool(passages)
    return samples, found


async def _bench(store: Store, label: str, documents: int, queries: int) -> None:
    for tenant in ("acme", "globex"):
        await store.create_tenant(tenant, actor="bench")
    acme, globex = store.tenant("acme"), store.tenant("globex")
    await _fill(globex, Corpus(seed=2), documents)  # rows the search must pass over
    chunks, seconds = await _fill(acme, Corpus(seed=1), documents)
    print(f"\n{label}")
    print(
        f"  1. indexing: {chunks:,} chunks of {documents:,} documents in {seconds:.2f} s: "
        f"{chunks / seconds:,.0f} chunks/s (target >= 200)"
    )
    corpus = Corpus(seed=3)
    await _searches(acme, corpus, 20)  # warm the caches and the query plans
    samples, found = await _searches(acme, corpus, queries)
    print(
        f"  2. retrieval over {chunks:,} chunks, top 3, {queries} questions "
        f"({found} found passages): median {_ms(statistics.median(samples))}, "
        f"p95 {_ms(_pct(samples, 0.95))} (target < 20 ms), p99 {_ms(_pct(samples, 0.99))}"
    )


async def _postgres() -> str | None:
    """A fresh schema's URL on the test server, or None (saying why)."""
    import uuid

    try:
        import asyncpg
    except ImportError:
        print("\nPostgreSQL: skipped (asyncpg is not installed)")
        return None
    base = os.environ.get("FLOWCTL_TEST_POSTGRES", PG_DEFAULT)
    try:
        conn = await asyncpg.connect(base, timeout=3)
        await conn.close()
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        print(f"\nPostgreSQL: skipped (no server at {base}: {exc})")
        return None
    schema = f"flowctl_bench_{uuid.uuid4().hex[:12]}"
    return f"{base}{'&' if '?' in base else '?'}schema={schema}"


async def _drop(url: str) -> None:
    import asyncpg

    base, _, schema = url.rpartition("schema=")
    conn = await asyncpg.connect(base.rstrip("?&"))
    await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    await conn.close()


async def main() -> None:
    quick = "--quick" in sys.argv
    documents, queries = (100, 100) if quick else (1_000, 500)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'flowctl.db'}"
        async with await open_store(url, create=True) as store:
            await _bench(store, "SQLite (FTS5, BM25)", documents, queries)
    pg = await _postgres()
    if pg is not None:
        try:
            async with await open_store(pg, create=True) as store:
                await _bench(store, "PostgreSQL (tsvector, GIN, ts_rank_cd)", documents, queries)
        finally:
            await _drop(pg)


if __name__ == "__main__":
    asyncio.run(main())

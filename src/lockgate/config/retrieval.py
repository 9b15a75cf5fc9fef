"""Hybrid retrieval, freshness weighting, and the grounded (`lockgate`) answer model."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from lockgate.config._base import Strict
from lockgate.config.resilience import DegradeConfig


class VectorEngineConfig(Strict):
    """Where the vector side of hybrid retrieval searches (docs/vector-db.md). "numpy": the
    embedded exact scan held in each process's memory (retrieval/vector.py). "milvus": a
    Milvus server or cluster at `uri`, kept in step with the document store; tenant and
    group filters are part of the engine's query."""

    engine: Literal["numpy", "milvus"] = "numpy"
    # http(s)://host:19530 of Milvus standalone, a cluster's proxy, or Zilliz Cloud.
    uri: str | None = None
    # The environment variable holding the credential ("user:password" or an API key);
    # None: the server needs none.
    token_env: str | None = None
    db_name: str = Field("default", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
    collection: str = Field("lockgate_chunks", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
    # The engine's index on the vectors: FLAT is exact (the embedded scan's results);
    # IVF_FLAT scans `nprobe` of `nlist` lists; HNSW (Milvus servers only) a graph. FLAT by
    # default: on the milvus-lite engine an IVF index kept ~25 % of the exact top 10 on
    # MiniLM-like vectors whatever `nprobe` (BENCHMARKS.md, bench/bench_vector_engine.py).
    index: Literal["FLAT", "IVF_FLAT", "HNSW", "AUTOINDEX"] = "FLAT"
    nlist: int = Field(1024, ge=1, le=65536)
    nprobe: int = Field(64, ge=1, le=65536)
    hnsw_m: int = Field(16, ge=2, le=2048)
    hnsw_ef_construction: int = Field(200, ge=1)
    hnsw_ef: int = Field(128, ge=1)
    # "Strong": a search sees every write acknowledged before it, so a retired chunk is
    # never found once the index has synced (other levels trade that for latency).
    consistency: Literal["Strong", "Bounded", "Session", "Eventually"] = "Strong"
    timeout_s: float = Field(10.0, gt=0)
    # Rows per insert call: the engine takes many small batches faster than a few big ones.
    batch_size: int = Field(500, ge=1, le=100000)
    # Most groups one chunk's access list may carry (the engine's array capacity).
    max_groups: int = Field(256, ge=1, le=4096)

    @field_validator("uri")
    @classmethod
    def _scheme(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL (e.g. http://milvus:19530)")
        return v

    @model_validator(mode="after")
    def _needs_uri(self) -> VectorEngineConfig:
        if self.engine == "milvus" and not self.uri:
            raise ValueError("engine 'milvus' needs retrieval.vector.uri")
        return self


class RetrievalConfig(Strict):
    top_k: int = Field(5, ge=1, le=100)
    # Chunks each side proposes. Documents are scored from all of them, so more candidates
    # find a document's second and third good chunk (200: best on the manual-page KB's dev
    # split, BENCHMARKS.md, for a few ms more than 50).
    candidates: int = Field(200, ge=1, le=1000)
    # How BM25 and vector candidates combine (retrieval/fusion.py): "minmax" and "zscore"
    # normalise each side's scores per query, so a side that is sure of one chunk (BM25 on
    # an exact product or plan name) keeps that, and mix them convexly with the weights
    # below; "rrf" (reciprocal-rank fusion, `rrf_k`) looks at ranks only. Chosen on the KB's
    # dev split and the bundled gold set together: on the KB the weights mattered most (the
    # vector side at 2-4x beat equal weights by 4-6 points with every method);
    # on the gold set rank fusion lost the plan-name questions that score fusion keeps.
    fusion: Literal["rrf", "minmax", "zscore"] = "minmax"
    rrf_k: int = Field(60, ge=1)
    bm25_weight: float = Field(1.0, ge=0)
    vector_weight: float = Field(3.0, ge=0)
    # Results are ranked by document, each document giving `chunks_per_document` chunks
    # before the next one's; None: chunks ranked on their own, several of one long document
    # possibly crowding every other document out. A document's score: its best chunk
    # ("max"), the mean of its best 2 or 3 ("top2", "top3": one-chunk documents such as a
    # price table lose half), or "decay": the best plus a quarter of the second and a
    # sixteenth of the third, so of two documents with equally good best chunks the one
    # that matches in more places comes first.
    doc_score: Literal["max", "top2", "top3", "decay"] = "decay"
    chunks_per_document: int | None = Field(1, ge=1)
    # A first document scoring at least `dominant_ratio` times the second's gives
    # `dominant_chunks` chunks in its turn instead of `chunks_per_document`: the question is
    # about that document (a manual's options are in chunks of their own). None: never.
    dominant_ratio: float | None = Field(None, gt=1)
    dominant_chunks: int = Field(4, ge=1, le=20)
    # From this many chunks on, vector search scans only the `ivf_probe` nearest k-means
    # lists. Off by default: on real MiniLM vectors of similar texts, probing 10 % of the
    # lists kept under half of the exact top 10 (BENCHMARKS.md), while the exact scan of
    # 100k chunks is ~10 ms. For millions of chunks, with a high probe, or a vector DB.
    ivf_min_rows: int | None = Field(None, ge=1)
    ivf_probe: int = Field(32, ge=1)
    # Query terms found in more than this share of chunks are left out of the BM25 query
    # when rarer terms remain: they barely move BM25 scores but make FTS5 score most rows.
    bm25_max_df: float = Field(0.05, gt=0, le=1)
    vector: VectorEngineConfig = VectorEngineConfig()


class FreshnessConfig(Strict):
    """What retrieval does with stale (past review-by) and superseded documents."""

    stale: Literal["downweight", "exclude", "ignore"] = "downweight"
    superseded: Literal["downweight", "exclude", "ignore"] = "downweight"
    stale_weight: float = Field(0.5, ge=0, le=1)
    superseded_weight: float = Field(0.25, ge=0, le=1)


class ExtractiveConfig(Strict):
    """When the model's answer is not supported by its sources (the grounding check), answer
    with the best-matching source sentences and their citations instead (`answer_mode:
    extractive` in the reply), or refuse when no sentence bears on the question."""

    enabled: bool = True
    max_sentences: int = Field(2, ge=1, le=5)
    # Share (idf-weighted) of the question's content words a quoted sentence must have.
    min_lexical: float = Field(0.2, ge=0, le=1)
    # ... and either half of those words, or this cosine with the question (MiniLM).
    min_similarity: float = Field(0.55, ge=-1, le=1)
    # Rank the candidate sentences by embedding similarity too (the few of the prompt).
    semantic: bool = True
    # Quote from every chunk the prompt's sentences were chosen from (`sentence_pool`), not
    # only from the sentences the prompt kept: those are chosen by shared words, and a
    # paraphrased question's answer is often among the others.
    pool: bool = True
    # A sentence this close to the question in meaning (MiniLM cosine) may be quoted
    # although it shares few of its words, if it shares a topic word (or gives the figure,
    # name or price asked for). Above 1: never.
    min_semantic: float = Field(0.6, ge=-1, le=1.1)
    # A model's answer to a figure question (how many, how much, which date) whose figures
    # are not those of the source sentences that best answer it by shared words is replaced
    # by the extract: a neighbouring table row's figure is supported, but wrong.
    check_figures: bool = True
    # A question asking two things, answered on one of them by the model: the source
    # sentences that answer the other are added to its answer, with their citations.
    complete_parts: bool = True
    # A later part referring back to an earlier part's answer ("..., and what support
    # channel comes with it?") that no retrieved sentence answers is searched again with
    # the names that answer gave ("what support channel comes with it? team"): the second
    # hop's fact is often in a document the question's own words did not retrieve.
    second_hop: bool = True
    # The weight of that similarity against shared words when ranking the candidates.
    semantic_weight: float = Field(0.6, ge=0, le=1)
    # Where no sentence passes the rules above (a paraphrase sharing no topic word with its
    # source: "departs" / "leave the company"), the retrieved documents' sentence closest to
    # the question in meaning is quoted if its cosine is at least `min_paraphrase` and
    # `paraphrase_margin` above the next sentence's. Above 1: never (the turn is refused).
    min_paraphrase: float = Field(0.58, ge=-1, le=1.1)
    paraphrase_margin: float = Field(0.08, ge=0, le=2)


class GroundedConfig(Strict):
    """The `lockgate` model: retrieval-augmented answers with citations."""

    model: str = "gemma-3-270m"
    # The registry prompt grounded answers use (`lockgate prompts`): the version its label
    # points at, re-read from the store at most every `prompt_cache_ttl_s` seconds, so a
    # label moved by any process takes effect without a restart. `prompt_version` pins one
    # version number instead of following the label.
    prompt: str = Field("grounded_answer", pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    prompt_label: str = Field("production", pattern=r"^[a-z0-9][a-z0-9_-]*$")
    prompt_version: int | None = Field(None, ge=1)
    prompt_cache_ttl_s: float = Field(2.0, ge=0, le=300)
    context_chunks: int = Field(3, ge=1, le=20)
    context_chars: int = Field(3000, ge=200)
    # "sentences": only the chunks' sentences that bear on the question (plus neighbours)
    # go into the prompt, at most `prompt_chars`: a short prompt to prefill on long
    # documents. "chunks": the chunks whole, as they were retrieved.
    context_select: Literal["chunks", "sentences"] = "sentences"
    context_sentences: int = Field(6, ge=1, le=50)
    sentence_pool: int = Field(5, ge=1, le=20)  # retrieved chunks the sentences come from
    context_neighbours: int = Field(1, ge=0, le=5)
    prompt_chars: int = Field(800, ge=100)
    # Rank the prompt's sentences by their embedding similarity to the question too, not
    # only by shared words: ~0.4-0.7 s more to the first token on this 2-vCPU box (some 40
    # sentences embedded per turn), for no more right answers on the dev questions.
    context_semantic: bool = False
    # Chunks of each document retrieved for an answer (None: `retrieval.chunks_per_document`,
    # which search keeps at 1 to show more documents). A paraphrased question's sentence is
    # often in its document's second chunk (2: the dev questions, BENCHMARKS.md).
    chunks_per_document: int | None = Field(2, ge=1, le=20)
    # ... and of a document far ahead of the rest (`retrieval.dominant_ratio`, which search
    # leaves off to show more documents), this many: a long manual's answer is often in
    # its third or fourth chunk, which the other documents' turns would push out.
    dominant_ratio: float | None = Field(3.0, gt=1)
    dominant_chunks: int = Field(4, ge=1, le=20)
    # A question asking two things ("Which plan ..., and what uptime does it guarantee?") is
    # also searched part by part, and each part's best chunks join the sentence pool: the
    # second part's fact is often in another document that the whole question does not
    # rank high enough (the first part's words dominate it).
    part_retrieval: bool = True
    # Cosine similarity of the best chunk under which the assistant refuses instead of guessing.
    min_relevance: float = Field(0.3, ge=-1, le=1)
    max_tokens: int = Field(192, ge=1)
    # "generate": the model answers and the answer check replaces an unsupported answer by
    # the extract. "extract_first": the extract of the sources' best sentences is the answer
    # whenever one fits the question, and the model is asked only when none does. "auto":
    # extract_first for the built-in Gemma 3 270M (on the dev questions its checked answers
    # were no more often right than the extract alone, and a stream waits ~2 s for its first
    # sentence), generate for any other model the turn is routed to.
    answer_mode: Literal["auto", "generate", "extract_first"] = "auto"
    refusal_message: str = "I can't answer that from the available documents."
    degrade: DegradeConfig = DegradeConfig()  # extractive answer when models are down
    extractive: ExtractiveConfig = ExtractiveConfig()  # ... and when the answer is unsupported

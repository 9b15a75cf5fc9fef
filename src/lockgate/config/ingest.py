"""Ingest: chunking, formats (OCR, archives), normalisation, near-duplicates and sources."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from lockgate.config._base import Strict


class NormalizeConfig(Strict):
    boilerplate: bool = True  # running headers/footers, page numbers
    hyphenation: bool = True  # "implemen-\ntation" -> "implementation"
    language: bool = True  # detect and store the language of each document
    day_first: bool = True  # 03/04/2024 is 3 April unless a part is above 12
    annotate_dates: bool = False  # write "(2024-03-01)" after dates found in the text


class NearDuplicateConfig(Strict):
    enabled: bool = True
    # Estimated Jaccard similarity of 3-word shingles from which two documents are versions
    # of one another.
    threshold: float = Field(0.6, gt=0, le=1)
    # SimHash bits two chunks may differ by and still be one passage (random pairs: ~32).
    chunk_max_bits: int = Field(10, ge=0, le=24)


class RetryConfig(Strict):
    attempts: int = Field(3, ge=1, le=10)
    backoff_s: float = Field(0.5, ge=0)
    max_backoff_s: float = Field(8.0, ge=0)


class AlertsConfig(Strict):
    # Alert when a run leaves at least this many more quarantined files than before (0: off).
    quarantine_growth: int = Field(5, ge=0)
    webhook_url: str | None = None  # POSTed the alert as JSON; always logged and stored


class SourceSpec(Strict):
    """A named source; `lockgate ingest --source NAME` syncs it."""

    name: str = Field(min_length=1)
    # folder, url, sitemap, s3, or a plugin's (register_sources); checked when synced.
    kind: str
    uri: str = Field(min_length=1)  # a path, an http(s) URL, or s3://bucket/prefix
    include: list[str] = Field(default_factory=list)  # globs on the path relative to the root
    exclude: list[str] = Field(default_factory=list)
    endpoint_url: str | None = None  # S3-compatible servers (MinIO, moto, Ceph…)
    region: str = "us-east-1"
    access_key_env: str | None = None  # names of variables, never the secrets themselves
    secret_key_env: str | None = None

    @model_validator(mode="after")
    def _uri_matches_kind(self) -> SourceSpec:
        if self.kind in ("url", "sitemap") and not self.uri.startswith(("http://", "https://")):
            raise ValueError(f"source '{self.name}': a {self.kind} source needs an http(s) URL")
        if self.kind == "s3" and not self.uri.startswith("s3://"):
            raise ValueError(f"source '{self.name}': an s3 source needs s3://bucket/prefix")
        return self


class OcrConfig(Strict):
    """OCR of image-only PDF pages and image files (rapidocr; its models ship in the wheel)."""

    enabled: bool = True
    dpi: int = Field(150, ge=50, le=600)  # PDF pages are rendered at this resolution
    # A page whose mean recognition confidence (weighted by characters) is below this is
    # flagged as low quality.
    min_confidence: float = Field(0.8, ge=0, le=1)
    # exclude: flagged pages are recorded and reported but not indexed (the default: garbage
    # in the index is worse than a gap the run report shows). mark: indexed anyway, with the
    # low confidence kept on each chunk for the reader to judge.
    low_confidence: Literal["exclude", "mark"] = "exclude"
    max_pages: int = Field(50, ge=1)  # per document; further image-only pages are skipped
    # Largest image (each TIFF frame, each rendered PDF page) OCR may decode: about 100 MB
    # as 8-bit grey. A 600-dpi A3 scan is ~70 Mpx. Larger ones are quarantined (too_large).
    max_pixels: int = Field(100_000_000, ge=10_000)
    threads: int | None = Field(None, ge=1)  # onnxruntime intra-op threads; None = its default
    # Otsu binarisation before OCR: keeps word spaces on JPEG scans (see ingest/ocr.py).
    binarize: bool = True


class ArchiveConfig(Strict):
    """Limits for zip archives (and zips inside them) against zip bombs."""

    max_members: int = Field(1000, ge=1)
    max_total_mb: float = Field(200.0, gt=0)  # uncompressed, for one archive
    max_ratio: float = Field(100.0, gt=1)  # uncompressed / compressed size of one member
    max_depth: int = Field(3, ge=1)  # archives inside archives


class FetchConfig(Strict):
    """Egress policy for URL and sitemap sources: what ingest may connect to.

    Every resolved address of every hop (the URL and each redirect) is checked, and the
    connection goes to the address that was checked, so a DNS answer cannot change between
    the check and the connect.
    """

    allow_schemes: list[Literal["http", "https"]] = ["http", "https"]
    # Host names (or IP literals) fetched even when they resolve to a denied address; their
    # pages may also be listed by a sitemap on another host.
    allow_hosts: list[str] = Field(default_factory=list)
    # Networks (CIDR) allowed despite deny_private, e.g. "10.1.2.0/24" for an intranet wiki.
    allow_networks: list[str] = Field(default_factory=list)
    # Extra networks (CIDR) always refused, whatever deny_private says.
    deny_networks: list[str] = Field(default_factory=list)
    # Loopback, RFC 1918, link-local (cloud metadata), CGNAT, IPv6 ULA and link-local,
    # unspecified, multicast and reserved addresses.
    deny_private: bool = True
    max_redirects: int = Field(5, ge=0, le=20)
    max_sitemaps: int = Field(100, ge=1)  # sitemap files (index and children) per source

    @field_validator("allow_networks", "deny_networks")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        import ipaddress

        for net in v:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError as exc:
                raise ValueError(f"not a network: {net!r}") from exc
        return v

    @field_validator("allow_hosts")
    @classmethod
    def _lower(cls, v: list[str]) -> list[str]:
        return [h.strip().lower().strip("[]") for h in v]


class AccessRule(Strict):
    """Who may see documents whose source matches `match` (a glob over the path, URL or key;
    `hr/*` also matches `/any/where/hr/x.pdf`). The first matching rule wins over the run's
    `--tenant`/`--groups`."""

    match: str = Field(min_length=1)
    tenant: str = Field("default", min_length=1)
    groups: list[str] = Field(default_factory=list)


class IngestQueueConfig(Strict):
    """`lockgate ingest --queue` and `lockgate worker ingest`: jobs on a Redis stream (the
    `redis.url` server, keys under `redis.prefix`), one consumer group of workers."""

    stream: str = Field("ingest:jobs", min_length=1)
    dead_letter_stream: str = Field("ingest:dead", min_length=1)
    group: str = Field("ingest-workers", min_length=1)
    # A job a worker has held this long without a heartbeat is taken by another worker:
    # the worker that had it is taken for dead (kill -9, a lost node).
    visibility_timeout_s: float = Field(60.0, gt=0)
    # How often a worker tells the queue it still holds its job, well inside the timeout.
    heartbeat_s: float = Field(10.0, gt=0)
    # A failure that is not the document's fault (the embedder down, the store away): the
    # job is tried again after a backoff, at most this many times, then dead-lettered.
    max_failures: int = Field(3, ge=1, le=100)
    backoff_s: float = Field(1.0, ge=0)
    # Deliveries of one job in all, the crashed ones included: a file that kills every
    # worker that opens it is dead-lettered instead of taking them all down in turn.
    max_deliveries: int = Field(10, ge=1, le=1000)
    # How long one read waits for a job before the worker looks for abandoned ones again.
    block_s: float = Field(2.0, gt=0, le=60)

    @model_validator(mode="after")
    def _heartbeat_inside_timeout(self) -> IngestQueueConfig:
        if self.heartbeat_s * 2 > self.visibility_timeout_s:
            raise ValueError("heartbeat_s must be at most half of visibility_timeout_s")
        return self


class IngestConfig(Strict):
    # Field order is the order `lockgate config show` prints them in.
    # Format (as detected: pdf, markdown, xlsx, pptx…) -> strategy; others use the default.
    # Strategies are plugins (register_chunkers): the names are checked against them when
    # the ingestor is built (lockgate.ingest.strategies.check).
    strategies: dict[str, str] = Field(default_factory=dict)
    default_strategy: str = "structure"
    include: list[str] = Field(default_factory=list)  # globs for ad-hoc folder paths
    exclude: list[str] = Field(default_factory=list)
    normalize: NormalizeConfig = NormalizeConfig()
    near_duplicates: NearDuplicateConfig = NearDuplicateConfig()
    sources: list[SourceSpec] = Field(default_factory=list)
    retry: RetryConfig = RetryConfig()
    alerts: AlertsConfig = AlertsConfig()
    watch_interval_s: float = Field(2.0, gt=0)
    http_timeout_s: float = Field(30.0, gt=0)
    max_sitemap_urls: int = Field(10000, ge=1)
    fetch: FetchConfig = FetchConfig()  # egress policy for url and sitemap sources
    chunk_target_chars: int = Field(1000, ge=100)
    chunk_overlap_chars: int = Field(150, ge=0)
    max_file_mb: float = Field(100.0, gt=0)
    follow_symlinks: bool = False
    ocr: OcrConfig = OcrConfig()  # OCR of scans and images
    archives: ArchiveConfig = ArchiveConfig()  # zip-bomb limits
    access: list[AccessRule] = Field(default_factory=list)  # tenant and groups by source
    queue: IngestQueueConfig = IngestQueueConfig()  # queued ingest (docs/ingest-queue.md)

    @property
    def max_file_bytes(self) -> int:
        """The most any source may read for one document (and a sitemap)."""
        return int(self.max_file_mb * 1024 * 1024)

    @field_validator("sources")
    @classmethod
    def _unique(cls, v: list[SourceSpec]) -> list[SourceSpec]:
        names = [s.name for s in v]
        if len(names) != len(set(names)):
            raise ValueError("source names must be unique")
        return v

    @field_validator("chunk_overlap_chars")
    @classmethod
    def _overlap_small(cls, v: int) -> int:
        if v > 2000:
            raise ValueError("overlap larger than 2000 characters makes every chunk a copy")
        return v

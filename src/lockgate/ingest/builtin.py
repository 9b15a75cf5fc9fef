"""The parsers, chunking strategies and document sources that ship with Lockgate, registered
through the same hooks a plugin uses. Parser and connector modules are imported when a hook
runs, not when the plugin manager starts (every CLI command)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lockgate.plugins import hookimpl
from lockgate.plugins.hookspecs import Register

if TYPE_CHECKING:
    from pathlib import Path

    from lockgate.config import IngestConfig, SourceSpec
    from lockgate.ingest.sources import Connector


@hookimpl
def register_parsers(register: Register) -> None:
    from lockgate.ingest.parsers.archive import ArchiveParser
    from lockgate.ingest.parsers.csv_table import CsvParser
    from lockgate.ingest.parsers.docx import DocxParser
    from lockgate.ingest.parsers.epub import EpubParser
    from lockgate.ingest.parsers.html import HtmlParser
    from lockgate.ingest.parsers.image import ImageParser
    from lockgate.ingest.parsers.json_doc import JsonParser
    from lockgate.ingest.parsers.mail import EmlParser, MboxParser
    from lockgate.ingest.parsers.markdown import MarkdownParser
    from lockgate.ingest.parsers.odt import OdtParser
    from lockgate.ingest.parsers.pdf import PdfParser
    from lockgate.ingest.parsers.pptx import PptxParser
    from lockgate.ingest.parsers.rtf import RtfParser
    from lockgate.ingest.parsers.sheets import OdsParser, XlsParser, XlsxParser
    from lockgate.ingest.parsers.text import TextParser
    from lockgate.ingest.parsers.xml_doc import XmlParser

    for fmt, parser in (
        ("text", TextParser()),
        ("markdown", MarkdownParser()),
        ("html", HtmlParser()),
        ("pdf", PdfParser()),
        ("docx", DocxParser()),
        ("csv", CsvParser()),
        ("json", JsonParser()),
        ("image", ImageParser()),
        ("xlsx", XlsxParser()),
        ("xls", XlsParser()),
        ("ods", OdsParser()),
        ("pptx", PptxParser()),
        ("odt", OdtParser()),
        ("epub", EpubParser()),
        ("rtf", RtfParser()),
        ("xml", XmlParser()),
        ("eml", EmlParser()),
        ("mbox", MboxParser()),
        ("zip", ArchiveParser()),
    ):
        register(fmt, parser)


@hookimpl
def register_chunkers(register: Register) -> None:
    from lockgate.ingest import strategies

    register("structure", strategies.structure)
    register("fixed", strategies.fixed)
    register("page", strategies.per_page)
    register("sheet", strategies.per_page)  # a spreadsheet parser numbers its sheets as pages
    register("slide", strategies.per_page)  # and a deck its slides
    register("semantic", strategies.semantic)


def folder(spec: SourceSpec, cfg: IngestConfig, skip: tuple[Path, ...]) -> Connector:
    from lockgate.ingest.sources.folder import FolderConnector

    return FolderConnector(
        spec.uri,
        spec.include or cfg.include,
        spec.exclude or cfg.exclude,
        cfg.follow_symlinks,
        skip,
        cfg.max_file_bytes,
    )


def url(spec: SourceSpec, cfg: IngestConfig, skip: tuple[Path, ...]) -> Connector:
    from lockgate.ingest.egress import EgressPolicy
    from lockgate.ingest.sources.url import UrlConnector

    return UrlConnector(
        [spec.uri],
        cfg.http_timeout_s,
        policy=EgressPolicy.from_config(cfg.fetch),
        max_bytes=cfg.max_file_bytes,
    )


def sitemap(spec: SourceSpec, cfg: IngestConfig, skip: tuple[Path, ...]) -> Connector:
    from lockgate.ingest.egress import EgressPolicy
    from lockgate.ingest.sources.url import SitemapConnector

    return SitemapConnector(
        spec.uri,
        cfg.http_timeout_s,
        cfg.max_sitemap_urls,
        policy=EgressPolicy.from_config(cfg.fetch),
        max_bytes=cfg.max_file_bytes,
    )


def s3(spec: SourceSpec, cfg: IngestConfig, skip: tuple[Path, ...]) -> Connector:
    from lockgate.ingest.sources.s3 import S3Connector

    return S3Connector(
        spec.uri,
        spec.endpoint_url,
        spec.region,
        spec.access_key_env,
        spec.secret_key_env,
        spec.include,
        spec.exclude,
        max_bytes=cfg.max_file_bytes,
    )


@hookimpl
def register_sources(register: Register) -> None:
    register("folder", folder)
    register("url", url)
    register("sitemap", sitemap)
    register("s3", s3)

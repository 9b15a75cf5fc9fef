"""EPUB: the OPF spine gives the reading order; each XHTML chapter goes through the HTML
parser. Read with zipfile + lxml (no entity expansion) rather than an ebook library."""

from __future__ import annotations

import io
import posixpath
import zipfile

from lockgate.ingest.parsers._common import finish, squash
from lockgate.ingest.parsers.html import HtmlParser
from lockgate.ingest.parsers.sheets import safe_xml
from lockgate.ingest.types import Block, ParsedDocument, ParseError, ParseOptions

_CONTAINER = "{urn:oasis:names:tc:opendocument:xmlns:container}"
_OPF = "{http://www.idpf.org/2007/opf}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_MAX_CHAPTERS = 2000


class EpubParser:
    name = "epub"
    version = "1"

    def parse(
        self, data: bytes, filename: str, options: ParseOptions | None = None
    ) -> ParsedDocument:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            container = safe_xml(zf.read("META-INF/container.xml"))
            rootfile = container.find(f".//{_CONTAINER}rootfile")
            if rootfile is None or not rootfile.get("full-path"):
                raise ParseError("corrupted", "EPUB without a rootfile")
            opf_path = rootfile.get("full-path", "")
            opf = safe_xml(zf.read(opf_path))
            base = posixpath.dirname(opf_path)
            manifest = {
                item.get("id"): item.get("href", "")
                for item in opf.iter(f"{_OPF}item")
            }
            spine = [ref.get("idref") for ref in opf.iter(f"{_OPF}itemref")]
            html = HtmlParser()
            blocks: list[Block] = []
            for idref in spine[:_MAX_CHAPTERS]:
                href = manifest.get(idref)
                if not href:
                    continue
                name = posixpath.normpath(posixpath.join(base, href.split("#", 1)[0]))
                try:
                    chapter = html.parse(zf.read(name), name)
                except (KeyError, ParseError):
                    continue  # a missing or empty chapter: keep the rest of the book
                blocks.extend(chapter.blocks)
            found = opf.find(f".//{_DC}title")
            title = squash(found.text or "") if found is not None else ""
            creator = opf.find(f".//{_DC}creator")
        meta = {"author": squash(creator.text or "")} if creator is not None else {}
        return finish(blocks, self.name, self.version, title=title or None, metadata=meta)

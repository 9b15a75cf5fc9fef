"""Zip archives: every member becomes its own document (source `archive.zip#dir/file`),
linked to the archive, and archives inside archives are opened in turn.

Zip-bomb limits (ingest.archives), checked before anything is inflated and again while
inflating, since the sizes in the directory are the archive's own claim:
- more than `max_members` files, or more than `max_total_mb` uncompressed in all: the whole
  archive is quarantined (`archive_limit`);
- a member whose uncompressed/compressed ratio exceeds `max_ratio`: quarantined as a bomb
  (`zip_bomb`) and so is the archive, since one bomb says the rest is not to be trusted;
- deeper than `max_depth` archives inside archives: the archive is quarantined.
A member that cannot be read (bad CRC, unsupported compression, truncated data) is returned
with its error and quarantined on its own; the other members are still ingested.
"""

from __future__ import annotations

import io
import zipfile

from lockgate.ingest.parsers.zipguard import check_members
from lockgate.ingest.types import Attachment, ParsedDocument, ParseError, ParseOptions

_CHUNK = 1 << 16


def _read_bounded(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """Inflate one member, stopping at `limit` bytes whatever its header claims."""
    out = bytearray()
    with zf.open(info) as fh:
        while chunk := fh.read(_CHUNK):
            out += chunk
            if len(out) > limit:
                raise ParseError("zip_bomb", f"{info.filename}: inflates past its declared size")
    return bytes(out)


def _check_limits(infos: list[zipfile.ZipInfo], options: ParseOptions) -> None:
    cfg = options.archives
    if options.depth >= cfg.max_depth:
        raise ParseError("archive_limit", f"archive nested deeper than {cfg.max_depth}")
    check_members(infos, cfg)


class ArchiveParser:
    name = "zip"
    version = "1"

    def parse(
        self, data: bytes, filename: str, options: ParseOptions | None = None
    ) -> ParsedDocument:
        options = options or ParseOptions()
        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise ParseError("corrupted", f"zip: {str(exc)[:180]}") from exc
        with zf:
            infos = [
                i
                for i in zf.infolist()
                if not i.is_dir() and not i.filename.startswith(("__MACOSX/", "/"))
                and ".." not in i.filename.split("/")
            ]
            _check_limits(infos, options)
            budget = int(options.archives.max_total_mb * 1024 * 1024) - options.inflated[0]
            declared = sum(i.file_size for i in infos)
            if declared > budget:
                raise ParseError(
                    "archive_limit",
                    f"{declared} bytes uncompressed with the archives around it "
                    f"(max {options.archives.max_total_mb} MB in all)",
                )
            members: list[Attachment] = []
            for info in infos:
                # A member name becomes part of a source path: '#' would read as nesting.
                name = info.filename.replace("#", "_")
                if info.flag_bits & 0x1:
                    members.append(Attachment(name, error=ParseError("encrypted", name)))
                    continue
                try:
                    payload = _read_bounded(zf, info, min(info.file_size, budget))
                except ParseError:
                    raise  # a lying header: treat the whole archive as hostile
                except Exception as exc:  # bad CRC, unsupported method, truncated member
                    reason = ParseError("corrupted", f"zip member: {str(exc)[:180]}")
                    members.append(Attachment(name, error=reason))
                    continue
                budget -= len(payload)
                options.inflated[0] += len(payload)
                members.append(Attachment(name, payload))
        doc = ParsedDocument(
            blocks=[],
            parser=self.name,
            parser_version=self.version,
            metadata={"members": str(len(members))},
        )
        doc.attachments = members
        return doc

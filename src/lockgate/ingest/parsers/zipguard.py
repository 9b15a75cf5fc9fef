"""Zip-bomb limits (ingest.archives) for every zip-based format, not only `.zip`.

DOCX, XLSX, PPTX, ODT, ODS and EPUB are zips that python-docx, openpyxl, python-pptx and
lxml inflate in full. Their members are checked here, from the central directory, before any
of those libraries sees the bytes. The directory's sizes are the archive's own claim, but
every reader here inflates through Python's zipfile, which stops at the declared size (and
fails the CRC check when the data goes on), so the claim is also the most that is inflated.
"""

from __future__ import annotations

import io
import zipfile

from lockgate.config import ArchiveConfig
from lockgate.ingest.types import ParseError

# Formats whose parsers read a zip container.
ZIP_FORMATS = frozenset({"docx", "xlsx", "pptx", "odt", "ods", "odp", "epub"})
# Tiny members compress badly or not at all; the ratio test only means something above
# this. The total cap still bounds many small members.
RATIO_MIN_BYTES = 1 << 20


def check_members(infos: list[zipfile.ZipInfo], cfg: ArchiveConfig) -> None:
    """Refuse too many members (`archive_limit`), too much uncompressed data in all
    (`archive_limit`), or one member inflating more than `max_ratio` (`zip_bomb`)."""
    if len(infos) > cfg.max_members:
        raise ParseError("archive_limit", f"{len(infos)} members (max {cfg.max_members})")
    total = sum(i.file_size for i in infos)
    if total > cfg.max_total_mb * 1024 * 1024:
        raise ParseError(
            "archive_limit", f"{total} bytes uncompressed (max {cfg.max_total_mb} MB)"
        )
    for info in infos:
        ratio = info.file_size / max(1, info.compress_size)
        if info.file_size > RATIO_MIN_BYTES and ratio > cfg.max_ratio:
            raise ParseError(
                "zip_bomb", f"{info.filename}: ratio {ratio:.0f}:1 (max {cfg.max_ratio:.0f})"
            )


def check_container(data: bytes, cfg: ArchiveConfig) -> None:
    """Apply the archive limits to a zip-based document; an unreadable zip is left to its
    parser, which reports it as corrupted."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return
    check_members(infos, cfg)

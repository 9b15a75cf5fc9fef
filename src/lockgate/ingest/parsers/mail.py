"""E-mail: single messages (.eml) and mailboxes (.mbox).

Each message becomes a level-1 heading (its subject), a header paragraph (From/To/Cc/Date,
so a chunk says who wrote what when) and its body (text/plain preferred, else the HTML
part). Headers also go to the document's metadata. Attachments are not inlined: they are
returned as `Attachment`s that the pipeline ingests as their own documents linked to the
mail, named `<message no>/<filename>` in a mailbox and `<filename>` in a single message.
"""

from __future__ import annotations

import re
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import parsedate_to_datetime

from lockgate.ingest.parsers._common import finish, squash
from lockgate.ingest.parsers.html import HtmlParser
from lockgate.ingest.parsers.text import text_to_blocks
from lockgate.ingest.types import Attachment, Block, ParsedDocument, ParseError, ParseOptions

_MBOX_SEP = re.compile(rb"^From [^\r\n]*\r?\n", re.M)
_MAX_MESSAGES = 10_000
_HEADERS = ("from", "to", "cc", "date")


def _iso_date(raw: str) -> str:
    try:
        return parsedate_to_datetime(raw).isoformat()
    except (TypeError, ValueError, IndexError):
        return raw


def _body_blocks(msg: EmailMessage, page: int | None) -> list[Block]:
    body = msg.get_body(preferencelist=("plain", "html"))
    if body is None:
        return []
    try:
        content = body.get_content()
    except (LookupError, ValueError):  # unknown charset: decode leniently
        raw = body.get_payload(decode=True) or b""
        content = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
    if body.get_content_subtype() == "html":
        try:
            blocks = HtmlParser().parse(str(content).encode("utf-8"), "body.html").blocks
        except ParseError:
            return []
        return [Block(b.kind, b.text, level=b.level, page=page) for b in blocks]
    return text_to_blocks(str(content).replace("\r\n", "\n"), page=page)


def _safe_name(name: str, taken: set[str]) -> str:
    # Attachment names end up inside a source path: no directories, no '#' separators.
    base = re.sub(r"[\\/#\x00-\x1f]", "_", name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1])
    base = base.strip(" .") or "attachment"
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}~{n}"
    taken.add(candidate)
    return candidate


def _attachments(msg: EmailMessage, prefix: str) -> list[Attachment]:
    out: list[Attachment] = []
    taken: set[str] = set()
    for part in msg.iter_attachments():
        filename = part.get_filename()
        if part.get_content_type() == "message/rfc822":
            inner = part.get_payload()
            attached = inner[0] if isinstance(inner, list) and inner else None
            data = attached.as_bytes() if isinstance(attached, Message) else b""
            filename = filename or "message.eml"
        else:
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
        if not filename:
            continue  # an unnamed inline part (signature image, calendar stub)
        out.append(Attachment(prefix + _safe_name(filename, taken), data))
    return out


def message_blocks(msg: EmailMessage, page: int | None) -> tuple[list[Block], dict[str, str]]:
    subject = squash(str(msg.get("subject", "") or "")) or "(no subject)"
    meta = {"subject": subject}
    lines = []
    for key in _HEADERS:
        value = msg.get(key)
        if value:
            text = squash(str(value))
            meta[key] = _iso_date(text) if key == "date" else text
            lines.append(f"{key.capitalize()}: {text}")
    if msg.get("message-id"):
        meta["message_id"] = str(msg["message-id"]).strip()
    blocks = [Block("heading", subject, level=1, page=page)]
    if lines:
        blocks.append(Block("paragraph", "\n".join(lines), page=page))
    blocks.extend(_body_blocks(msg, page))
    return blocks, meta


def _parse(raw: bytes) -> EmailMessage:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    return msg


class EmlParser:
    name = "eml"
    version = "1"

    def parse(
        self, data: bytes, filename: str, options: ParseOptions | None = None
    ) -> ParsedDocument:
        msg = _parse(data)
        blocks, meta = message_blocks(msg, None)
        attachments = _attachments(msg, "")
        if not any(b.kind != "heading" for b in blocks) and not attachments:
            raise ParseError("no_text", "message without a body")
        doc = finish(blocks, self.name, self.version, title=meta["subject"], metadata=meta)
        doc.attachments = attachments
        return doc


def split_mbox(data: bytes) -> list[bytes]:
    """Messages of an mbox; `>From ` escapes (mboxo/mboxrd) are undone."""
    starts = [m.start() for m in _MBOX_SEP.finditer(data) if m.start() == 0 or
              data[m.start() - 1 : m.start()] == b"\n"]
    out = []
    for a, b in zip(starts, [*starts[1:], len(data)], strict=True):
        body = _MBOX_SEP.sub(b"", data[a:b], count=1)
        out.append(re.sub(rb"^>(>*From )", rb"\1", body, flags=re.M))
    return out


class MboxParser:
    name = "mbox"
    version = "1"

    def parse(
        self, data: bytes, filename: str, options: ParseOptions | None = None
    ) -> ParsedDocument:
        raws = split_mbox(data)
        if not raws:
            raise ParseError("corrupted", "no 'From ' separator lines")
        blocks: list[Block] = []
        attachments: list[Attachment] = []
        first_meta: dict[str, str] = {}
        for n, raw in enumerate(raws[:_MAX_MESSAGES], start=1):
            msg = _parse(raw)
            msg_blocks, meta = message_blocks(msg, n)
            first_meta = first_meta or meta
            blocks.extend(msg_blocks)
            attachments.extend(_attachments(msg, f"{n}/"))
        meta = {"messages": str(len(raws)), "from": first_meta.get("from", "")}
        doc = finish(blocks, self.name, self.version, pages=len(raws), metadata=meta,
                     title_from_heading=False)
        doc.attachments = attachments
        return doc

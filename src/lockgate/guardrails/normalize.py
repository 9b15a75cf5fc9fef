"""Text normalisation for guardrail scanners: undo the tricks people use to slip words past a
matcher, and keep a map back to the caller's original offsets.

Attackers hide "ignore previous instructions" behind zero-width characters, Cyrillic look-alikes,
fullwidth letters, leetspeak ("1gn0re"), letter spacing ("i g n o r e"), HTML comments and
hidden spans, or a base64/hex/rot13 payload. `normalize()` produces several *views* of one text:

- ``text``: NFKC/NFKD-folded, look-alikes mapped to ASCII, invisible and bidi controls removed,
  HTML tags removed (their text kept), letter-spaced words joined. Each character keeps the
  index of the original character it came from (``offsets``), so a match maps back to a span.
- ``folded``: ``text`` lower-cased with leetspeak folded; one character per character of
  ``text``, so it shares the same offsets. Matching only: it is not meant to be read.
- ``hidden``: content a human reader would not see (HTML comments, ``display:none`` elements,
  ``title``/``alt`` attributes, markdown link titles and ``[//]: #`` comments).
- ``base64``/``hex``/``rot13``: decoded payloads. A decoded string has no character-level map
  to the original, so a match there is reported over the encoded run (or the whole message
  for rot13, which is not a local encoding).

Everything is bounded: input capped at ``max_chars``, every regex is either anchored on a
fixed token or has bounded repetition, payload decoding is limited in count, size and depth.
Reusable by any scanner (toxicity uses ``folded`` for the same reasons)."""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
from dataclasses import dataclass, field

MAX_CHARS = 64_000
MAX_PAYLOADS = 8  # decoded payloads per call, all depths together
MAX_PAYLOAD_CHARS = 8_192  # longest encoded run we try to decode
MAX_DEPTH = 2  # base64 inside base64 is decoded once more, no further

# Zero-width, joiners, bidi embeddings/overrides/isolates, soft hyphen, BOM, Mongolian vowel
# separator, variation selectors and Unicode "tag" characters (used for invisible prompts).
_INVISIBLE = {
    0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180B, 0x180C, 0x180D, 0x180E,
    0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E,
    0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0x2066, 0x2067, 0x2068, 0x2069, 0x206A, 0x206B,
    0x206C, 0x206D, 0x206E, 0x206F, 0x3164, 0xFEFF, 0xFFA0,
}
_INVISIBLE_RANGES = ((0xFE00, 0xFE0F), (0xE0000, 0xE007F), (0xE0100, 0xE01EF))

# Look-alikes that NFKD does not fold to ASCII: Cyrillic, Greek, Armenian, Cherokee and a few
# symbols that render like Latin letters. Not the whole Unicode confusables table (which is
# large and mostly irrelevant to English attack words) but the letters seen in real attacks.
_CONFUSABLES: dict[str, str] = {
    # Cyrillic
    "а": "a", "в": "b", "с": "c", "ԁ": "d", "е": "e", "ё": "e", "һ": "h", "і": "i", "ї": "i",
    "ј": "j", "к": "k", "ӏ": "l", "м": "m", "н": "h", "о": "o", "р": "p", "ԛ": "q", "г": "r",
    "ѕ": "s", "т": "t", "ц": "u", "ѵ": "v", "ԝ": "w", "х": "x", "у": "y", "з": "3", "ь": "b",
    "А": "A", "В": "B", "С": "C", "Е": "E", "Ё": "E", "Н": "H", "І": "I", "Ї": "I", "Ј": "J",
    "К": "K", "М": "M", "О": "O", "Р": "P", "Ѕ": "S", "Т": "T", "Х": "X", "У": "Y", "Ԝ": "W",
    "Ү": "Y", "ү": "y", "Ғ": "F", "ԍ": "g", "ɡ": "g",
    # Greek
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "γ": "y", "ϲ": "c", "ϳ": "j", "ω": "w",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    # Armenian, Cherokee, Latin extras
    "օ": "o", "ս": "u", "ց": "g", "հ": "h", "ո": "n", "Ꭺ": "A", "Ꭼ": "E", "Ꮋ": "H", "Ꭵ": "i",
    "Ꮇ": "M", "Ꮪ": "S", "Ꭲ": "T", "ı": "i", "ȷ": "j", "ſ": "s", "ƅ": "b", "ɑ": "a",
    "ø": "o", "Ø": "O", "ð": "d", "ł": "l", "Ł": "L", "đ": "d", "ħ": "h", "ŧ": "t",
    "ß": "ss", "æ": "ae", "œ": "oe",
    # punctuation look-alikes that NFKC leaves alone
    "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "―": "-", "−": "-",
    "‘": "'", "’": "'", "‚": "'", "‛": "'", "“": '"', "”": '"', "„": '"', "‟": '"',
    "ǀ": "|", "∣": "|", "⁄": "/", "∕": "/",
}

# Leetspeak, folded only inside a word (see fold_leet).
_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g",
         "@": "a", "$": "s", "!": "i", "|": "l", "+": "t", "€": "e", "¡": "i"}

# Tags and HTML are removed from the main view; hidden content is also surfaced on its own.
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9:-]{0,30}(?:\s[^<>]{0,800})?/?>")
_COMMENT = re.compile(r"<!--(.{0,20000}?)-->", re.S)
_HIDDEN_ELEMENT = re.compile(
    r"<([A-Za-z][A-Za-z0-9]{0,15})\b[^<>]{0,800}?"
    r"(?:display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0|opacity\s*:\s*0(?![.\d])"
    r"|color\s*:\s*(?:white|#fff\b|#ffffff)|\shidden(?:[\s=>]|$)|aria-hidden\s*=\s*.?true)"
    r"[^<>]{0,800}>(.{0,20000}?)</\1\s*>",
    re.S | re.I,
)
_ATTRIBUTE = re.compile(
    r"""\b(?:title|alt|aria-label|data-[a-z-]{1,30})\s*=\s*(["'])(.{1,2000}?)\1""",
                        re.S | re.I)
_MD_LINK_TITLE = re.compile(r"""\]\([^()\s]{0,2000}\s+(["'])(.{1,2000}?)\1\s*\)""")
_MD_COMMENT = re.compile(r"^\[//\]:\s*#\s*[(\"'](.{0,2000})[)\"']\s*$", re.M)
_MD_ALT = re.compile(r"!\[([^\]\n]{1,2000})\]\(")

# "i g n o r e", "i.g.n.o.r.e", "i-g-n-o-r-e": four or more single letters with one separator.
_SPACED = re.compile(r"(?<![A-Za-z])(?:[A-Za-z][ .\-_*|/]){3,200}[A-Za-z](?![A-Za-z])")

_B64 = re.compile(rf"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{{16,{MAX_PAYLOAD_CHARS}}}={{0,2}}")
# Hex-encoded text starts with a byte 0x20-0x7f, i.e. a digit 2-7: anchoring on that digit
# keeps the scan of ordinary prose cheap (most positions fail on the first character).
_HEX = re.compile(
    r"(?<![0-9A-Fa-f])(?:0x)?[2-7][0-9A-Fa-f][\s:,]?(?:(?:0x)?[0-9A-Fa-f]{2}[\s:,]?)"
    + f"{{7,{MAX_PAYLOAD_CHARS // 2}}}"
)
_HEX_ESC = re.compile(r"(?:\\x[0-9A-Fa-f]{2})" + f"{{4,{MAX_PAYLOAD_CHARS // 4}}}")
_ROT13_HINT = re.compile(r"rot[\s_-]?13|caesar", re.I)
_WORD = re.compile(r"[a-z]{2,20}")
_COMMON = frozenset(
    "the and you your are for that this with what all have not but from they will can any "
    "now how was ignore previous instructions system prompt say tell give show write must "
    "please following above rules reveal print secret password is of to in it be me my".split()
)


@dataclass
class View:
    """One string to scan, and how its matches map back to the original text."""

    kind: str  # text | markup | hidden | attribute | base64 | hex | rot13
    text: str
    # offsets[i] is the original index of text[i]; None for decoded payloads.
    offsets: list[int] | None
    # The original span this view stands for (the encoded run, the hidden element, ...).
    span: tuple[int, int]
    # Lower-cased, leet-folded text; same length as `text`, so it shares `offsets`.
    folded: str = ""

    def __post_init__(self) -> None:
        if not self.folded:
            self.folded = fold_leet(self.text)

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        if self.offsets is None or not self.offsets:
            return self.span
        start = min(max(start, 0), len(self.offsets) - 1)
        last = min(max(end - 1, start), len(self.offsets) - 1)
        return self.offsets[start], self.offsets[last] + 1


@dataclass
class Normalized:
    original: str
    text: str
    offsets: list[int]
    folded: str
    views: list[View] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)
    truncated: bool = False


def _invisible(cp: int) -> bool:
    if cp in _INVISIBLE:
        return True
    return any(lo <= cp <= hi for lo, hi in _INVISIBLE_RANGES)


# Runs of characters that need per-character work: non-ASCII or control characters.
_SPECIAL = re.compile(r"[^\x09\x0a\x0d\x20-\x7e]+")
_LEET_RE = re.compile(
    r"(?<=[a-z])[01345789@$\u20ac\xa1]|[01345789@$\u20ac\xa1](?=[a-z])|(?<=[a-z])[!|+](?=[a-z])"
)


def _fold_one(ch: str, i: int, out: list[str], offs: list[int], flags: set[str]) -> None:
    cp = ord(ch)
    if cp < 0x80:  # an ASCII control character
        flags.add("control")
        return
    if _invisible(cp):
        flags.add("bidi" if 0x202A <= cp <= 0x202E or 0x2066 <= cp <= 0x2069 else "invisible")
        return
    cat = unicodedata.category(ch)
    if cat in ("Cc", "Cf", "Cs", "Co"):
        flags.add("control")
        return
    if ch in _CONFUSABLES:
        flags.add("homoglyph")
        for c in _CONFUSABLES[ch]:
            out.append(c)
            offs.append(i)
        return
    decomposed = unicodedata.normalize("NFKD", ch)
    if decomposed != ch:
        flags.add("compat")
    for c in decomposed:
        # Accents on Latin letters are an obfuscation ("ïgnörë"); in other scripts the mark
        # is part of the letter and stays.
        if unicodedata.combining(c) and out and out[-1].isascii():
            continue
        mapped = _CONFUSABLES.get(c, c)
        if mapped != c:
            flags.add("homoglyph")
        for m in mapped:
            out.append(m)
            offs.append(i)


def fold_chars(text: str, flags: set[str] | None = None) -> tuple[str, list[int]]:
    """Per character: drop invisibles and controls, compatibility-fold, strip accents from Latin
    letters, map look-alikes to ASCII. Returns the new text and its offsets into ``text``.

    Plain ASCII is copied in bulk; only the runs that need it are handled character by
    character, which keeps a mostly-English 500-token prompt well under a millisecond."""
    flags = flags if flags is not None else set()
    if _SPECIAL.search(text) is None:
        return text, list(range(len(text)))
    out: list[str] = []
    offs: list[int] = []
    pos = 0
    for m in _SPECIAL.finditer(text):
        if m.start() > pos:
            out.append(text[pos : m.start()])
            offs.extend(range(pos, m.start()))
        for i in range(m.start(), m.end()):
            _fold_one(text[i], i, out, offs, flags)
        pos = m.end()
    if pos < len(text):
        out.append(text[pos:])
        offs.extend(range(pos, len(text)))
    return "".join(out), offs


def fold_leet(text: str) -> str:
    """Lower-case and fold leetspeak inside words ("1gn0re" -> "ignore"); same length as
    ``text``. Digits fold only next to a letter, so "version 3.1" stays as it is; sentence
    punctuation (! | +) folds only between two letters."""
    out = text.lower()
    # A second pass folds digits whose neighbour was itself a digit ("p455w0rd" -> "pa5sword"
    # -> "password"); three passes at most, so the work stays linear.
    for _ in range(3):
        folded = _LEET_RE.sub(lambda m: _LEET[m.group(0)], out)
        if folded == out:
            break
        out = folded
    return out


def _remove_spans(
    text: str, offs: list[int], spans: list[tuple[int, int, str]]
) -> tuple[str, list[int]]:
    """Replace sorted, non-overlapping (start, end, replacement) spans; replacement characters
    take the offset of the span's first character."""
    if not spans:
        return text, offs
    out: list[str] = []
    new_offs: list[int] = []
    pos = 0
    for start, end, repl in spans:
        if start < pos:
            continue
        out.append(text[pos:start])
        new_offs.extend(offs[pos:start])
        if repl:
            anchor = offs[start] if start < len(offs) else (offs[-1] if offs else 0)
            out.append(repl)
            new_offs.extend([anchor] * len(repl))
        pos = end
    out.append(text[pos:])
    new_offs.extend(offs[pos:])
    return "".join(out), new_offs


def _strip_markup(
    text: str, offs: list[int], views: list[View], flags: set[str]
) -> tuple[str, list[int]]:
    """Surface hidden HTML/markdown content as views; drop tags and comment markers from text."""
    def sub_view(kind: str, start: int, end: int) -> None:
        if end > start and len(views) < 64:
            seg_offs = offs[start:end]
            views.append(View(kind, text[start:end], seg_offs, (seg_offs[0], seg_offs[-1] + 1)))

    has_html = "<" in text and ">" in text
    if has_html:
        for m in _COMMENT.finditer(text):
            flags.add("html_comment")
            sub_view("hidden", m.start(1), m.end(1))
        for m in _HIDDEN_ELEMENT.finditer(text):
            flags.add("html_hidden")
            sub_view("hidden", m.start(2), m.end(2))
        for m in _ATTRIBUTE.finditer(text):
            # Attribute values vanish with the tags from the main text; keep them as a view.
            sub_view("attribute", m.start(2), m.end(2))
    if "](" in text:
        for m in _MD_LINK_TITLE.finditer(text):
            flags.add("md_title")
            sub_view("hidden", m.start(2), m.end(2))
        for m in _MD_ALT.finditer(text):
            sub_view("hidden", m.start(1), m.end(1))
    if "[//]" in text:
        for m in _MD_COMMENT.finditer(text):
            flags.add("md_comment")
            sub_view("hidden", m.start(1), m.end(1))
    if not has_html:
        return text, offs
    spans: list[tuple[int, int, str]] = []
    for m in re.finditer(r"<!--|-->", text):
        spans.append((m.start(), m.end(), " "))
    for m in _TAG.finditer(text):
        spans.append((m.start(), m.end(), " "))
    spans.sort()
    return _remove_spans(text, offs, spans)


def _join_spaced(text: str, offs: list[int], flags: set[str]) -> tuple[str, list[int]]:
    spans: list[tuple[int, int, str]] = []
    for m in _SPACED.finditer(text):
        run = m.group(0)
        letters = run[0::2]
        # Initialisms like "U.S.A." are short; four or more spaced letters is a word spelled out.
        if len(letters) >= 4:
            flags.add("spaced")
            spans.append((m.start(), m.end(), ""))
            # Keep letters with their own offsets: rebuild via per-letter spans below.
    if not spans:
        return text, offs
    out: list[str] = []
    new_offs: list[int] = []
    pos = 0
    for start, end, _ in spans:
        out.append(text[pos:start])
        new_offs.extend(offs[pos:start])
        for j in range(start, end, 2):
            out.append(text[j])
            new_offs.append(offs[j])
        pos = end
    out.append(text[pos:])
    new_offs.extend(offs[pos:])
    return "".join(out), new_offs


def _printable_text(raw: bytes) -> str | None:
    """Decoded bytes that read as text (UTF-8, mostly printable, has letters) or None."""
    if len(raw) < 6:
        return None
    try:
        s = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    printable = sum(1 for c in s if c.isprintable() or c in "\n\t\r")
    letters = sum(1 for c in s if c.isalpha())
    if printable < 0.95 * len(s) or letters < 0.6 * len(s.replace(" ", "")):
        return None
    # Random-looking ids that happen to decode (keys, hashes) rarely contain a space.
    if " " not in s and len(s) > 12:
        return None
    return s


def _decode_b64(run: str) -> str | None:
    if run.isalpha() and (run.islower() or run.isupper()):
        return None  # one long word, not an encoding
    body = run.rstrip("=")
    body = body + "=" * (-len(body) % 4)
    try:
        raw = base64.b64decode(body.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None
    return _printable_text(raw)


def _decode_hex(run: str) -> str | None:
    digits = re.sub(r"0x|\\x|[\s:,]", "", run)
    if len(digits) % 2 or len(digits) < 16:
        return None
    try:
        raw = bytes.fromhex(digits)
    except ValueError:
        return None
    return _printable_text(raw)


def _common_words(text: str) -> int:
    return sum(1 for w in _WORD.findall(text.lower()) if w in _COMMON)


def _payloads(norm: Normalized, text: str, offs: list[int], depth: int, budget: list[int]) -> None:
    """Find encoded runs in ``text`` and add their decoded forms (normalised again) as views."""
    if depth > MAX_DEPTH:
        return

    def add(kind: str, decoded: str, span: tuple[int, int]) -> None:
        if budget[0] <= 0:
            return
        budget[0] -= 1
        norm.flags.add(kind)
        inner, _ = fold_chars(decoded[:MAX_CHARS])
        norm.views.append(View(kind, inner, None, span))
        _payloads(norm, inner, [span[0]] * len(inner), depth + 1, budget)

    def span_of(m: re.Match[str]) -> tuple[int, int]:
        if not offs:
            return 0, 0
        return offs[m.start()], offs[min(m.end(), len(offs)) - 1] + 1

    for m in _B64.finditer(text):
        if budget[0] <= 0:
            return
        decoded = _decode_b64(m.group(0))
        if decoded:
            add("base64", decoded, span_of(m))
    for pattern in (_HEX_ESC, _HEX):
        for m in pattern.finditer(text):
            if budget[0] <= 0:
                return
            decoded = _decode_hex(m.group(0))
            if decoded:
                add("hex", decoded, span_of(m))
    # rot13 is not a local encoding: try the whole text when it names rot13, or when it has
    # few common English words and its rotation has many.
    head = text[:2000]  # enough to tell English from rot13; keeps the check bounded
    if len(head) < 12 or budget[0] <= 0:
        return
    hinted = bool(_ROT13_HINT.search(text))
    plain = _common_words(head)
    if not hinted and plain * 12 >= len(head.split()):
        return  # reads as English already
    rotated = codecs.decode(text, "rot13")
    if hinted or _common_words(rotated[:2000]) >= max(3, 2 * plain + 1):
        budget[0] -= 1
        norm.flags.add("rot13")
        span = (offs[0], offs[-1] + 1) if offs else (0, 0)
        norm.views.append(View("rot13", rotated, None, span))


def normalize(text: str, max_chars: int = MAX_CHARS, decode: bool = True) -> Normalized:
    """All views of ``text`` for matching; see the module docstring."""
    truncated = len(text) > max_chars
    original = text[:max_chars]
    flags: set[str] = set()
    views: list[View] = []
    folded_chars, offs = fold_chars(original, flags)
    markup_offs = offs
    stripped, offs = _strip_markup(folded_chars, offs, views, flags)
    if stripped != folded_chars:
        # Tags are gone from the main view, but "<system>" or "</user>" *is* the attack for
        # delimiter injection: keep the text with its markup as a view too.
        views.insert(0, View("markup", folded_chars, markup_offs, (0, len(original))))
    joined, offs = _join_spaced(stripped, offs, flags)
    leet = fold_leet(joined)
    norm = Normalized(original, joined, offs, leet, [], flags, truncated)
    span = (0, len(original))
    norm.views.append(View("text", joined, offs, span, leet))
    if leet != joined.lower():
        flags.add("leet")
    for v in views:
        norm.views.append(v)
    if decode:
        _payloads(norm, joined, offs, 1, [MAX_PAYLOADS])
    return norm


def canonical_of(norm: Normalized) -> str:
    """One matching string for classifiers: the folded text, then any decoded payloads (the
    classifier should see what the model would see). Hidden HTML content is already part of
    the folded text (only the markup is removed)."""
    extra = [v.folded for v in norm.views if v.kind in ("attribute", "base64", "hex", "rot13")]
    return " \n".join([norm.folded, *extra])


def canonical(text: str, max_chars: int = MAX_CHARS) -> str:
    return canonical_of(normalize(text, max_chars))

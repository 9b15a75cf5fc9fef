"""Regex + checksum PII recognizers. Every pattern is written to run in linear time.

Python's `re` backtracks, so a careless `\\w+@\\w+` is quadratic on a long run of word
characters. The rules followed here, and checked by the 1 MB adversarial inputs in
`bench/guardrails/bench_pii.py`:

* every pattern starts with a negative look-behind on its own character class, so a match can
  only start at a token boundary: a million-character run offers one start, not a million;
* repetitions are bounded (`{1,64}`) or possessive (`{8,4096}+`, Python >= 3.11), so a failed
  start gives up after a constant amount of work instead of retrying every split;
* anything unbounded (PEM bodies) is found with `str.find`, not a lazy `[\\s\\S]*?`.

Speed on ordinary text comes from two more habits: patterns begin with a consuming character
class and re-check the boundary with a two-character look-behind right after it
(`\\d(?<![\\w.]\\d)`), which lets `re` skip non-candidate characters in C instead of trying
every position; and keyword-led patterns run only when a cheap `in` test finds the keyword.

A regex only proposes; the validators in `checks` (Luhn, IBAN mod-97, SSN ranges, real dates,
entropy) and a look at the few words before the match decide. Context is read from a fixed
window (`_CTX` characters), so it costs the same however long the text is.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from lockgate.guardrails.pii.checks import (
    IBAN_LENGTHS,
    card_brand,
    char_classes,
    iban_ok,
    luhn_ok,
    plausible_birth_date,
    shannon_bits,
    ssn_ok,
)

STRUCTURED_TYPES = ("EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "SSN", "IP", "DOB", "SECRET")
ALL_TYPES = (*STRUCTURED_TYPES, "ADDRESS", "PERSON")


@dataclass(frozen=True)
class Candidate:
    type: str
    start: int
    end: int
    score: float
    detail: str = ""


_CTX = 32  # characters of left context read for keyword checks

# Words that, right before a number, say it is an identifier and not a phone/card/SSN.
_ID_CONTEXT = re.compile(
    r"(?:(?<![a-z])(?:order|invoice|inv|ref(?:erence)?|ticket|tracking|track|sku|po|case|id|"
    r"no|nr|serial|version|ver|build|release|item|product|part|model|confirmation|booking|receipt|batch|"
    r"shipment|parcel|transaction|txn|account\s+id|customer\s+id|isbn)|#)"
    r"[\s:#.\-=]{0,4}(?:number|num|no\.?|id|#)?[\s:#.\-=]{0,3}(?:is\s|was\s)?$",
    re.IGNORECASE,
)
_PHONE_CONTEXT = re.compile(
    r"(?:phone|tel|telephone|mobile|cell|call|text|sms|whatsapp|fax|reach|contact|dial|ring|"
    r"number)\b",
    re.IGNORECASE,
)
# Words after which a dotted quad is a version number, not an address. Checked with
# str.endswith on a stripped window: a regex search per hit was the main cost on texts that
# are full of addresses.
_VERSION_WORDS = frozenset((
    "version", "ver", "release", "build", "firmware", "fw", "rev", "revision", "patch",
    "update", "upgrade", "v", "python", "node", "chrome", "firefox", "android", "ios", "kernel",
))
_VERSION_MARKS = ("==", ">=", "<=", "~=")


def _version_context(text: str, start: int) -> bool:
    window = text[max(0, start - 24) : start].rstrip()
    if window.endswith(_VERSION_MARKS):
        return True
    window = window.rstrip(":=").rstrip().lower()
    i = len(window)
    while i and window[i - 1].isalpha():
        i -= 1
    return window[i:] in _VERSION_WORDS


def _has_any(haystack: str, needles: Iterable[str]) -> bool:
    return any(n in haystack for n in needles)


def _left(text: str, start: int, width: int = _CTX) -> str:
    return text[max(0, start - width) : start]


def _id_context(text: str, start: int) -> bool:
    return _ID_CONTEXT.search(_left(text, start)) is not None


# --- EMAIL -----------------------------------------------------------------------------------
# RFC 5321 limits: 64-char local part, 63-char labels. The look-behind stops a run of
# 'aaaa...@' from being retried at every position. A little whitespace around the '@' is
# allowed: a model told to hide an address writes "bob.secret\n@\nexample.com", and a
# stream would release it line by line.
_EMAIL = re.compile(
    r"(?<![\w.+%\-])[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}[ \t\r\n]{0,3}@[ \t\r\n]{0,3}"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}(?![\w\-])"
)


def _emails(text: str) -> Iterable[Candidate]:
    if "@" not in text:
        return
    for m in _EMAIL.finditer(text):
        local, _, domain = m.group(0).partition("@")
        spaced = local != local.rstrip() or domain != domain.lstrip()
        local = local.rstrip()
        if ".." in local or local.endswith("."):
            continue
        yield Candidate("EMAIL", m.start(), m.end(), 0.9 if spaced else 0.95)


# --- PHONE -----------------------------------------------------------------------------------
# A number not continued by more digits or word characters ("555-1234-Office" is fine).
_NE = r"(?!\w|-\d|[.,/:]\d)"
# The same end for a phone number, which an extension may follow ("555-123-4567x89").
_NE_PHONE = r"(?!(?!x\d)\w|-\d|[.,/:]\d)"
# +CC or 00CC then up to six groups; possessive so a failed match never re-splits the digits.
_PHONE_INTL = re.compile(
    r"[+0](?<![\w+\-./#@][+0])(?:(?<=\+)|(?<=0)0)[1-9]\d{0,2}(?:[ .\-]?\(0\))?"
    r"(?:[ .\-]?\(?\d{1,5}\)?){1,6}+" + _NE_PHONE
)
# North American: (555) 123-4567, 555-123-4567, 555.123.4567, optional +1/1 handled above.
_PHONE_NANP = re.compile(
    r"[(\d](?<![\w\-.+/#@][(\d])(?:(?<=\()\d{3}\)[ .\-]?|(?<=\d)\d{2}[ .\-])\d{3}[ .\-]\d{4}"
    + _NE_PHONE
)
# National format with trunk prefix 0: 020 7946 0958, 030-1234567, 06 12 34 56 78.
_PHONE_NATIONAL = re.compile(
    r"[(0](?<![\w\-.+/#@][(0])(?:(?<=\()0\d{1,4}\)|(?<=0)\d{1,4})[ \-](?:\d{2,4}[ \-]){0,3}\d{2,8}"
    + _NE_PHONE
)
# A bare digit string is only a phone number when the words right before say so.
_PHONE_KEYED = re.compile(
    r"(?i)(?:phone|tel|telephone|mobile|cell|whatsapp|fax)(?:\s?(?:number|no\.?|#))?"
    r"[\s:.#=\-]{0,4}(?:is\s)?(\+?\d{7,15})(?!\d)"
)
# "1 (599) 844-9481", "001-207-843-9150": a North American number with its trunk or exit code.
_PHONE_NANP_TRUNK = re.compile(
    r"(?<![\w\-.+/#@])(?:001|1)[ \-.]?(?:\(\d{3}\)|\d{3})[ \-.]?\d{3}[ \-.]\d{4}" + _NE
)
# "0493822842": ten national digits without separators, a phone number only beside words
# that say so (left or right), since order and booking numbers look the same.
_PHONE_COMPACT = re.compile(r"0(?<![\w\-.+/#@]0)[1-9]\d{7,9}" + _NE)
_PHONE_WORDS_RIGHT = re.compile(
    r"(?i)^[\s,;:)\-]{0,3}(?:is\s+)?(?:the\s+|my\s+)?(?:phone|mobile|cell|number|tel)\b"
)
# An extension after the number belongs to it: "943-415-8232 x335", "891.960.1108x4364".
_PHONE_EXT = re.compile(r"(?i)[ ]?(?:x|ext\.?|extension)[ ]?\d{1,6}(?!\w)")
_DATE_LIKE = re.compile(r"^\d{4}[-./]\d{1,2}[-./]\d{1,2}$|^\d{1,2}[-./]\d{1,2}[-./]\d{2,4}$")
# 3-2-4 with dashes is the SSN shape; an invalid SSN must not come back as a phone number.
_SSN_SHAPE = re.compile(r"^\d{3}-\d{2}-\d{4}$")


# "DE89 3704 0044 0532 0130 01": a phone-shaped tail of a longer grouped number (an invalid
# IBAN, an account number) is not a phone number.
_NUMBER_BEFORE = re.compile(r"[A-Za-z0-9]*\d[A-Za-z0-9]*[ \-]$")


def _continues_number(text: str, start: int) -> bool:
    return _NUMBER_BEFORE.search(text, max(0, start - 12), start) is not None


def _phone_score(text: str, start: int, base: float) -> float:
    return min(0.95, base + 0.25) if _PHONE_CONTEXT.search(_left(text, start, 40)) else base


def _with_extension(text: str, cand: Candidate) -> Candidate:
    m = _PHONE_EXT.match(text, cand.end)
    return Candidate(cand.type, cand.start, m.end(), cand.score, cand.detail) if m else cand


def _phones(text: str) -> Iterable[Candidate]:
    for cand in _phone_candidates(text):
        yield _with_extension(text, cand)


def _phone_candidates(text: str) -> Iterable[Candidate]:
    for m in _PHONE_INTL.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        if m.group(0).startswith("00"):
            digits = digits[2:]
        # E.164 allows at most 15 digits; fewer than 8 is a short code, not a subscriber.
        if 8 <= len(digits) <= 15 and not (
            _id_context(text, m.start()) or _continues_number(text, m.start())
        ):
            yield Candidate("PHONE", m.start(), m.end(), _phone_score(text, m.start(), 0.85))
    for m in _PHONE_NANP.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        # NANP area codes and exchanges never start with 0 or 1.
        if digits[0] in "01" or digits[3] in "01" or _id_context(text, m.start()):
            continue
        if _continues_number(text, m.start()):
            continue
        yield Candidate("PHONE", m.start(), m.end(), _phone_score(text, m.start(), 0.75))
    for m in _PHONE_NANP_TRUNK.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))[-10:]
        if digits[0] in "01" or digits[3] in "01" or _id_context(text, m.start()):
            continue
        yield Candidate("PHONE", m.start(), m.end(), _phone_score(text, m.start(), 0.7))
    for m in _PHONE_NATIONAL.finditer(text):
        value = m.group(0)
        digits = re.sub(r"\D", "", value)
        if not 9 <= len(digits) <= 12 or _DATE_LIKE.match(value) or _SSN_SHAPE.match(value):
            continue
        if _id_context(text, m.start()):
            continue
        if _continues_number(text, m.start()):
            continue
        yield Candidate("PHONE", m.start(), m.end(), _phone_score(text, m.start(), 0.6))
    lowered = text.lower()
    if _has_any(lowered, ("phone", "tel", "mobile", "cell", "number", "call", "text", "reach")):
        for m in _PHONE_COMPACT.finditer(text):
            if _id_context(text, m.start()):
                continue
            if _PHONE_CONTEXT.search(_left(text, m.start(), 64)) or _PHONE_WORDS_RIGHT.match(
                text[m.end() : m.end() + 40]
            ):
                yield Candidate("PHONE", m.start(), m.end(), 0.75, "keyed")
    if not _has_any(lowered, ("phone", "tel", "mobile", "cell", "whatsapp", "fax")):
        return
    for m in _PHONE_KEYED.finditer(text):
        yield Candidate("PHONE", m.start(1), m.end(1), 0.8, "keyed")


# --- CREDIT_CARD -----------------------------------------------------------------------------
# 4-4-4-4(-3) with one consistent separator (or none), and Amex's 4-6-5.
_CARD = re.compile(
    r"\d(?<![\w\-.+/#@]\d)"
    r"(?:\d{3}([ \-]?)\d{4}\1\d{4}\1\d{1,7}(?:\1\d{1,4})?|\d{3}([ \-]?)\d{6}\2\d{4,5})"
    + _NE
)


# "card # 4111..." or "card no 4111...": the id words that veto other numbers do not veto a
# checksummed card number that the text itself calls a card.
_CARD_CONTEXT = re.compile(r"(?i)card|\bcc\b|visa|master|amex|credit|debit|pay")


def _cards(text: str) -> Iterable[Candidate]:
    for m in _CARD.finditer(text):
        value = m.group(0)
        sep = m.group(1) or m.group(2) or ""
        groups = value.split(sep) if sep else [value]
        # A trailing group may be a following number (an expiry year): retry without it.
        tries = [groups, groups[:-1]] if len(groups) == 5 else [groups]
        for g in tries:
            digits = "".join(g)
            if 13 <= len(digits) <= 19 and luhn_ok(digits) and (brand := card_brand(digits)):
                if _id_context(text, m.start()) and not _CARD_CONTEXT.search(
                    _left(text, m.start())
                ):
                    break
                end = m.start() + len(sep.join(g))
                yield Candidate("CREDIT_CARD", m.start(), end, 0.95, brand)
                break
            # A checksummed 16-digit number the text itself calls a card, from a range the
            # brand table does not list (a new or regional scheme).
            if len(digits) == 16 and luhn_ok(digits) and _CARD_CONTEXT.search(
                _left(text, m.start(), 40)
            ):
                end = m.start() + len(sep.join(g))
                yield Candidate("CREDIT_CARD", m.start(), end, 0.8, "unlisted")
                break


# --- IBAN ------------------------------------------------------------------------------------
_IBAN = re.compile(r"[A-Z](?<![A-Za-z0-9][A-Z])[A-Z]\d{2}(?:[ ]?[A-Z0-9]){11,30}+")


def _ibans(text: str) -> Iterable[Candidate]:
    for m in _IBAN.finditer(text):
        value = m.group(0)
        length = IBAN_LENGTHS.get(value[:2])
        if length is None:
            continue
        # The possessive run may swallow a following upper-case word: cut at the country's
        # length, then require that the IBAN does not run on into more alphanumerics.
        compact, end = [], m.start()
        for i, ch in enumerate(value):
            if ch != " ":
                compact.append(ch)
                if len(compact) == length:
                    end = m.start() + i + 1
                    break
        if len(compact) != length or (end < len(text) and text[end].isalnum()):
            continue
        if iban_ok("".join(compact)):
            yield Candidate("IBAN", m.start(), end, 0.95)


# --- SSN -------------------------------------------------------------------------------------
_SSN = re.compile(r"(\d(?<![\w\-.+/#@]\d)\d{2})([\- ])(\d{2})\2(\d{4})" + _NE)
_SSN_COMPACT = re.compile(r"\d(?<![\w\-.+/#@]\d)\d{8}" + _NE)
# The label people write next to a social security number, before or after it. A label says
# more than the words that otherwise veto a number ("Social Security No. 123-45-6789": "No."
# alone would mark an identifier). "social" by itself names one only right before the number
# ("her social is ..."): a few words earlier it is as likely social media.
_SSN_LABEL = re.compile(
    r"(?i)(?<![a-z])(?:ssn|ss\s?#|ss\s+(?:number|no\b)|social\s+security)(?![a-z])"
)
_SSN_SOCIAL = re.compile(r"(?i)(?<![a-z])social\s*(?:#|no\.?|number)?\s*(?:is\s+)?[:#\-]?\s*$")


def _ssn_labelled(text: str, start: int, end: int) -> bool:
    return bool(
        _SSN_LABEL.search(text, max(0, start - 48), start)
        or _SSN_LABEL.search(text, end, min(len(text), end + 40))
        or _SSN_SOCIAL.search(text, max(0, start - 24), start)
    )


def _ssns(text: str) -> Iterable[Candidate]:
    lowered = text.lower()
    may_be_labelled = _has_any(lowered, ("ssn", "social", "ss"))
    for m in _SSN.finditer(text):
        if not ssn_ok(m.group(1), m.group(3), m.group(4)):
            continue
        labelled = may_be_labelled and _ssn_labelled(text, m.start(), m.end())
        if labelled:
            yield Candidate("SSN", m.start(), m.end(), 0.95)
        elif not _id_context(text, m.start()):
            # Space-separated 3-2-4 is rarer for SSNs and collides with other numbers.
            yield Candidate("SSN", m.start(), m.end(), 0.85 if m.group(2) == "-" else 0.6)
    if not may_be_labelled:
        return
    # Nine bare digits are an SSN only when the text calls them one.
    for m in _SSN_COMPACT.finditer(text):
        value = m.group(0)
        if ssn_ok(value[:3], value[3:5], value[5:]) and _ssn_labelled(text, m.start(), m.end()):
            yield Candidate("SSN", m.start(), m.end(), 0.9, "keyed")


# --- IP --------------------------------------------------------------------------------------

def _octets_ok(value: str) -> bool:
    """Each part 0-255 without a leading zero (checked here so the regex stays a plain run)."""
    return all(p == "0" or (p[0] != "0" and int(p) <= 255) for p in value.split("."))


_IPV4 = re.compile(r"\d(?<![\w.:\-]\d)\d{0,2}(?:\.\d{1,3}){3}(?![\w\-]|\.\d)")
# Hex-and-colon run with at least two colons, validated by `ipaddress`; bounded to 39 chars
# (the longest full form) plus an optional embedded IPv4 tail and zone id.
_IPV6 = re.compile(
    r"(?<![\w:.\-])(?=[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:)[0-9A-Fa-f:]{2,39}"
    r"(?:(?<=:)\d{1,3}(?:\.\d{1,3}){3})?(?:%[A-Za-z0-9]{1,15})?(?![\w:]|\.\w)"
)


def _ip_score(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> float:
    # Loopback, unspecified, link-local and netmask-like values identify no one: kept below the
    # default threshold (0.5) so they are reported only to a policy that asks for them.
    if ip.is_loopback or ip.is_unspecified or ip.is_link_local or ip.is_multicast:
        return 0.3
    if isinstance(ip, ipaddress.IPv4Address) and str(ip).startswith("255."):
        return 0.3
    return 0.7 if ip.is_private else 0.85


def _ipv4_score(value: str) -> float:
    """`_ip_score` for IPv4 without building an `ipaddress` object (10x cheaper per hit, which
    matters on a text that is nothing but addresses)."""
    a, b = (int(x) for x in value.split(".")[:2])
    if a in (0, 127, 255) or a >= 224 or (a == 169 and b == 254):
        return 0.3
    if a == 10 or (a == 172 and 16 <= b <= 31) or (a == 192 and b == 168) or a == 100 and (
        64 <= b <= 127
    ):
        return 0.7
    return 0.85


def _ips(text: str) -> Iterable[Candidate]:
    for m in _IPV4.finditer(text):
        if not _octets_ok(m.group(0)) or _version_context(text, m.start()):
            continue
        yield Candidate("IP", m.start(), m.end(), _ipv4_score(m.group(0)))
    if text.count(":") < 2:
        return
    for m in _IPV6.finditer(text):
        value = m.group(0).split("%", 1)[0]
        if value.count(":") < 2:
            continue
        try:
            ip6 = ipaddress.IPv6Address(value)
        except ValueError:
            continue
        yield Candidate("IP", m.start(), m.end(), _ip_score(ip6), "v6")


# --- DOB -------------------------------------------------------------------------------------
_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
# The date is only a DOB when a birth keyword stands shortly before it ("born on", "DOB:",
# "date of birth. It's"). Two patterns keep that linear: dates that start with a digit take a
# possessive digit-free filler (one attempt per keyword); "March 5, 1985" may follow up to
# three short words, tried word by word rather than character by character.
_BIRTH_WORD = r"(?i)(?<![a-z])(?:born|d\.?o\.?b|date\sof\sbirth|birth\s?date|birthday)(?![a-z])"
_DOB_NUMERIC = re.compile(
    _BIRTH_WORD + r"[^\d\n]{0,24}+"
    r"(?:(?P<iy>\d{4})-(?P<im>\d{1,2})-(?P<id>\d{1,2})"
    r"|(?P<na>\d{1,2})[/.\-](?P<nb>\d{1,2})[/.\-](?P<ny>\d{4}|\d{2})"
    r"|(?P<d2>\d{1,2})(?:st|nd|rd|th)?\s(?:of\s)?(?P<m2>" + _MONTH + r")\.?,?\s(?P<y2>\d{4}))"
    r"(?![\d/.\-]\d)"
)
_DOB_MONTH = re.compile(
    _BIRTH_WORD + r"(?:[^\w\n]{1,4}+[a-z']{1,10}+){0,3}?[^\w\n]{1,4}+"
    r"(?P<m1>" + _MONTH + r")\.?\s(?P<d1>\d{1,2})(?:st|nd|rd|th)?,?\s(?P<y1>\d{4})(?!\d)"
)


def _year(y: str) -> int:
    if len(y) == 4:
        return int(y)
    # Two-digit years: a birth year is in the past, so '85' is 1985 and '07' is 2007.
    return 2000 + int(y) if int(y) <= 25 else 1900 + int(y)


def _dobs(text: str) -> Iterable[Candidate]:
    if not _has_any(text.lower(), ("born", "birth", "dob", "d.o.b")):
        return
    for m in [*_DOB_NUMERIC.finditer(text), *_DOB_MONTH.finditer(text)]:
        g = m.groupdict(default="")
        if g.get("iy"):
            ok = plausible_birth_date(int(g["iy"]), int(g["im"]), int(g["id"]))
            start, end = m.start("iy"), m.end("id")
        elif g.get("na"):
            a, b, y = int(g["na"]), int(g["nb"]), _year(g["ny"])
            # Day-first or month-first: either reading will do.
            ok = plausible_birth_date(y, a, b) or plausible_birth_date(y, b, a)
            start, end = m.start("na"), m.end("ny")
        elif g.get("m1"):
            ok = plausible_birth_date(int(g["y1"]), _MONTHS[g["m1"][:3].lower()], int(g["d1"]))
            start, end = m.start("m1"), m.end("y1")
        else:
            ok = plausible_birth_date(int(g["y2"]), _MONTHS[g["m2"][:3].lower()], int(g["d2"]))
            start, end = m.start("d2"), m.end("y2")
        if ok:
            yield Candidate("DOB", start, end, 0.9)


# --- SECRET ----------------------------------------------------------------------------------
_TB = r"(?<![A-Za-z0-9_\-])"  # token boundary
_TE = r"(?![A-Za-z0-9_\-])"
_SECRET_PREFIXED = re.compile(
    _TB
    + r"(?:"
    r"sk-(?:proj-|svcacct-|admin-|ant-(?:api|admin)\d{2}-)?[A-Za-z0-9_\-]{20,200}+"
    r"|[sr]k_(?:live|test)_[0-9A-Za-z]{16,128}+"
    r"|gh[pousr]_[A-Za-z0-9]{36,251}+"
    r"|github_pat_[A-Za-z0-9_]{22,244}+"
    r"|(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[A-Z0-9]{16}"
    r"|xox[baprs]-[A-Za-z0-9\-]{10,200}+"
    r"|AIza[0-9A-Za-z_\-]{35}"
    r"|glpat-[0-9A-Za-z_\-]{20,64}+"
    r"|eyJ[A-Za-z0-9_\-]{8,4096}+\.eyJ[A-Za-z0-9_\-]{8,8192}+\.[A-Za-z0-9_\-]{16,4096}+"
    r")"
    + _TE
)
_KEY_WORD = (
    r"(?:api[_\-.]?key|apikey|secret(?:[_\-.]?key)?|access[_\-.]?(?:key|token)|"
    r"auth[_\-.]?token|refresh[_\-.]?token|token|password|passwd|pwd|private[_\-.]?key|"
    r"client[_\-.]?secret|bearer)"
)
_SECRET_KEYED = re.compile(
    r"(?i)(?<![a-z0-9])(?:[a-z0-9]{1,20}[_\-.])?" + _KEY_WORD
    + r"[\"']?\s{0,3}(?:[:=]|=>|:=|\sis|\s)\s{0,3}[\"']?(?P<v>[A-Za-z0-9_\-+/=.~]{6,256}+)"
)
_PEM_BEGIN = re.compile(r"-----BEGIN (?:[A-Z0-9]{1,12} ){0,2}PRIVATE KEY-----")
_PEM_BODY = re.compile(r"[A-Za-z0-9+/=\r\n: \-]{0,16384}+")
_PLACEHOLDER_VALUES = re.compile(
    r"(?i)^(?:x+|\*+|changeme|example|redacted|none|null|undefined|your[_\-].*|.*here|<.*>)$"
)


def _secret_value_ok(value: str, word: str) -> bool:
    value = value.rstrip(".")
    if _PLACEHOLDER_VALUES.match(value):
        return False
    if word.lower() in ("password", "passwd", "pwd"):
        # Passwords are short and human-made: any mixed value after the key word counts.
        return len(value) >= 6 and char_classes(value) >= 2
    if len(value) >= 32 and all(c in "0123456789abcdefABCDEF" for c in value):
        return True  # hex API keys (and, in key context only, SHA-like tokens)
    return len(value) >= 16 and shannon_bits(value) >= 3.2 and char_classes(value) >= 2


_PREFIXES = ("sk-", "sk_", "rk_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "AKIA",
             "ASIA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "xox", "AIza", "glpat-", "eyJ")
_KEY_HINTS = ("key", "secret", "token", "pass", "pwd", "bearer")


def _secrets(text: str) -> Iterable[Candidate]:
    if _has_any(text, _PREFIXES):
        for m in _SECRET_PREFIXED.finditer(text):
            yield Candidate("SECRET", m.start(), m.end(), 0.95, "prefix")
    if _has_any(text.lower(), _KEY_HINTS):
        yield from _keyed_secrets(text)
    if "-----BEGIN" in text:
        yield from _pem_blocks(text)


def _keyed_secrets(text: str) -> Iterable[Candidate]:
    for m in _SECRET_KEYED.finditer(text):
        word = re.search(_KEY_WORD + r"(?=[^a-z_\-.]*$)", m.group(0)[: m.start("v") - m.start()],
                         re.IGNORECASE)
        value = m.group("v").rstrip(".")
        if _secret_value_ok(value, word.group(0) if word else ""):
            yield Candidate("SECRET", m.start("v"), m.start("v") + len(value), 0.8, "keyed")


def _pem_blocks(text: str) -> Iterable[Candidate]:
    covered = -1
    for m in _PEM_BEGIN.finditer(text):
        if m.start() < covered:
            continue
        # Unbounded body: found with str.find (linear) rather than a lazy regex.
        end_at = text.find("-----END", m.end())
        if end_at != -1:
            close = text.find("-----", end_at + 8)
            end = close + 5 if close != -1 else end_at + 8
        else:
            body = _PEM_BODY.match(text, m.end())
            end = body.end() if body else m.end()
        covered = end
        yield Candidate("SECRET", m.start(), end, 0.99, "pem")


# --- ADDRESS (street form; the NER model adds place names) ------------------------------------
_STREET_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|"
    r"Terrace|Ter|Square|Sq|Parkway|Pkwy|Highway|Hwy|Circle|Cir|Trail|Trl|Crescent|Close|Row|"
    r"Alley|Plaza|Gardens|Grove|Hill|Park|Path|Pike|Point|Ridge|Run|View|Walk)"
)
_ADDRESS = re.compile(
    r"\d(?<![\w\-.]\d)\d{0,4}[A-Za-z]?(?:\s(?:[NSEW]\.?|North|South|East|West))?"
    r"(?:\s[A-Z][a-z]{1,20}|\s\d{1,3}(?:st|nd|rd|th)){1,4}?\s" + _STREET_SUFFIX + r"\b\.?"
    r"(?:\s(?:NW|NE|SW|SE|N|S|E|W)\b)?"
    r"(?:,?\s(?:Apt|Apartment|Suite|Ste|Unit|Flat|Fl|Floor|#)\.?\s?#?[A-Za-z0-9\-]{1,6})?"
    r"(?:,\s[A-Z][A-Za-z]{1,20}(?:\s[A-Z][A-Za-z]{1,20}){0,2}){0,2}"
    r"(?:,?\s[A-Z]{2}(?![A-Za-z]))?(?:,?\s\d{5}(?:-\d{4})?(?!\d))?"
)


def _addresses(text: str) -> Iterable[Candidate]:
    for m in _ADDRESS.finditer(text):
        end = m.end()
        while end > m.start() and text[end - 1] in ".,":
            end -= 1
        yield Candidate("ADDRESS", m.start(), end, 0.7, "street")


RECOGNIZERS: dict[str, Callable[[str], Iterable[Candidate]]] = {
    "EMAIL": _emails,
    "PHONE": _phones,
    "CREDIT_CARD": _cards,
    "IBAN": _ibans,
    "SSN": _ssns,
    "IP": _ips,
    "DOB": _dobs,
    "SECRET": _secrets,
    "ADDRESS": _addresses,
}

# When two candidates overlap, the more specific type wins over the generic number shapes:
# a card number is not also reported as a phone number.
PRIORITY = {
    "SECRET": 9, "EMAIL": 8, "IBAN": 7, "CREDIT_CARD": 6, "SSN": 5, "DOB": 4, "IP": 3,
    "ADDRESS": 2, "PHONE": 1, "PERSON": 0,
}  # fmt: skip


def resolve_overlaps(cands: Iterable[Candidate]) -> list[Candidate]:
    """Keep non-overlapping candidates, preferring priority, then score, then length.

    Candidates are grouped into clusters of transitively overlapping spans by one sweep (so a
    text with 100k findings stays O(n log n)); the greedy choice runs inside each cluster."""
    ordered = sorted(cands, key=lambda c: (c.start, -c.end))
    out: list[Candidate] = []
    cluster: list[Candidate] = []
    reach = -1
    for c in [*ordered, None]:
        if c is not None and c.start < reach:
            cluster.append(c)
            reach = max(reach, c.end)
            continue
        if cluster:
            ranked = sorted(
                cluster, key=lambda k: (-PRIORITY.get(k.type, 0), -k.score, k.start - k.end)
            )
            kept: list[Candidate] = []
            for k in ranked:
                if all(k.end <= o.start or k.start >= o.end for o in kept):
                    kept.append(k)
            out.extend(sorted(kept, key=lambda k: k.start))
        if c is not None:
            cluster, reach = [c], c.end
    return out


def detect(text: str, types: Iterable[str] = STRUCTURED_TYPES) -> list[Candidate]:
    """All regex-recognized PII in `text` for the given types, overlaps resolved."""
    found: list[Candidate] = []
    for t in types:
        fn = RECOGNIZERS.get(t)
        if fn is not None:
            found.extend(fn(text))
    return resolve_overlaps(found)

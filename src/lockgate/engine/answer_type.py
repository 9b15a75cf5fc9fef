"""What kind of answer a question asks for, and whether a sentence gives one.

A tiny model's answer can be supported by the sources and still not answer the question: a
"how many" question answered without a figure, "who founded it?" answered with the year it
was founded, "how much does it cost?" answered with a page header's date. The answer check
(`stages/answer_check.py`) and the extractive answer (`engine/extractive.py`) both hold a
sentence to the kind of answer the question asks for; a question whose kind is not clear
from its wording asks for nothing in particular (every sentence fits)."""

from __future__ import annotations

import re
from enum import Enum

from lockgate.guardrails.grounding import entities, numbers


class Kind(Enum):
    ANY = "any"
    NUMBER = "a figure"  # how many, how much, what percentage, which port
    MONEY = "a price"  # how much does it cost
    DATE = "a date"  # which day, what date, when was it born
    PERSON = "who"  # a name, or a role
    NAME = "a name"  # what is the name of
    VALUE = "a value"  # which port / level / library ... by default: the setting's value
    PHONE = "a phone number"  # what number do I call
    PLACE = "a place"  # where do I book / report / find it


_MONEY_Q = re.compile(
    # The money word near the question word ("what does an extra seat on the Team plan
    # cost"); "what happens if the customer disputes the charge" asks what is done.
    r"\b(how much|what)\b(?!\s+happens)(?:\s+[\w'-]+){0,8}?\s+(cost|costs|charge|charged|pay|"
    r"price|priced|"
    r"fee|fees)\b"
    r"|\bwhat (is|are) the (price|fee|cost)s?\b",
    re.I,
)
# "Is there a maximum amount I can spend on a taxi?": the bound, or that there is none
# ("Overtime must be agreed in advance" is about overtime, not its limit).
_BOUND = (
    r"\b(?:is there|are there|any)\s+(?:a |an |any )?(?:max|maximum|min|minimum|cap|limit|"
    r"ceiling|upper limit|spending limit)s?\b"
)
_BOUND_Q = re.compile(_BOUND, re.I)
_NUMBER_Q = re.compile(
    # "How soon", "how quickly", "how fast" ask for a period as "how long" does.
    r"\bhow (many|much|long|often|soon|quickly|fast|large|big|far|old)\b|\bwithin how\b"
    r"|\bwhat (percentage|percent|share|amount|number|size|limit|port|version)\b"
    r"|\b(which|what) (port|version|year|status code|http status|error code|response code|"
    r"percentage)\b"
    # "Which HTTP error does it never retry?": an HTTP error is its status code.
    r"|\b(which|what) https? (?:errors?|status(?:es)?|responses?)\b"
    r"|\b(up to|at most|at least) how\b"
    # "What is the daily meal allowance", "what's the maximum length", "what service credit
    # do we get": a quantity asked for by its name.
    r"|\bwhat(?:'s| is| are| was)?\s+(?:the |a |an |our |my |your )?(?:[\w-]+ ){0,3}?"
    r"(?:allowance|budget|length|discount|deadline|threshold|maximum|minimum|cap|limit|quota|"
    r"duration|credit|reimbursement|per diem|notice period|cutoff|cut-off)s?\b"
    rf"|{_BOUND}",
    re.I,
)
_NO_BOUND = re.compile(r"\b(?:unlimited|no (?:limit|maximum|minimum|cap)|not limited)\b", re.I)
_HTTP_Q = re.compile(
    r"\b(?:which|what) (?:https? )?(?:errors?|status(?:es)?|responses?)(?: codes?)?\b"
    r"|\bhttp status\b|\b(?:error|response|status) codes?\b",
    re.I,
)
_HTTP_CODE = re.compile(r"(?<!\d)(?<!\d\.)[1-5]\d\d(?!\d|\.\d)")
_PERIOD_Q = re.compile(r"\bhow (long|often|soon|quickly|fast)\b", re.I)
_DATE_Q = re.compile(
    r"\b(which|what) (day|date|month)\b|\bwhen was\b[^?]*\bborn\b"
    # "Is there a deadline to use them?": a date or a period, not "yes".
    r"|\b(?:is there|are there|any) (?:a |any )?(?:deadline|cut-?off|expiry date)s?\b",
    re.I,
)
_DATE = re.compile(
    r"\d|\b(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\b"
    r"|\b(mon|tues|wednes|thurs|fri|satur|sun)day\b",
    re.I,
)
_WHO_Q = re.compile(r"^\s*(?:\w+\s+){0,3}?who(m|se)?\b", re.I)
_NAME_Q = re.compile(
    r"\bwhat(?: is|'s|are) the names? of\b"
    # "Which company carries out the test?": a firm's name, not "an independent firm".
    r"|\b(?:which|what)\s+(?:[\w-]+\s+)?(?:company|companies|firm|vendor|supplier|provider|"
    r"auditor|agency|contractor|bank|insurer)\b",
    re.I,
)
_PHONE_Q = re.compile(
    r"\b(?:phone|telephone|hotline|fax|contact|mobile)\s+(?:number|no\.?)s?\b"
    r"|\bnumbers? (?:to|i can|we can|you can) (?:call|ring|dial)\b"
    r"|\bwhat number\b[^?]*\b(?:call|ring|dial)\b",
    re.I,
)
# Asking where ("Where do I book flights", "..., and where do we claim it?"), not "the
# region where the data is kept" (a relative clause after a noun).
_PLACE_Q = re.compile(r"(?:^\s*|[,;:?.]\s*|\band\s+|\bor\s+)where\b", re.I)
# A place, a channel or an address answers where: "through the Northwind Travel Desk", "in
# the finance portal", "at ethics.northwind.example", "Settings > Export".
_PLACE = re.compile(
    r"[\w.+-]+@[\w-]+\.[\w.]+|\b[\w-]+\.(?:example|com|org|net|io)\b|https?://|\w\s*>\s*\w"
    r"|\b(?:portal|desk|page|site|website|form|office|offices|settings|menu|dashboard|"
    r"hotline|inbox|app|tool|region|regions|city|cities|country|building|floor|room|"
    r"channel|team|department|link|banner|folder|system)\b",
    re.I,
)
# A phone number: seven digits or more, with the separators people write.
_PHONE = re.compile(r"(?<![\w.])\+?\(?\d[\d ()./-]{5,}\d(?![\w])")
# A currency's code is never the name asked for ("approved by the Head of Finance" above
# "USD 5,000" names nobody).
_CODES = frozenset({"usd", "eur", "gbp", "chf", "jpy", "cad", "aud"})
# Where a question asks two things ("How many seats come with it, and what does an extra
# one cost?"): each part asks for its own kind of answer.
_SPLIT = re.compile(
    r",?\s+and\s+(?=(?:(?:by|until|till|from|for|in|on|at|to|with)\s+)?"
    r"(?:what|how|who|whom|which|when|where|why|is|are|does|do|can|will)\b)"
    r"|[?;]\s+(?=\w)",
    re.I,
)
# "How long" and "how often" are answered without a figure too: "daily", "a year",
# "until the contract ends".
_FREQUENCY = re.compile(
    r"\b(hourly|daily|weekly|monthly|quarterly|yearly|annually|annual|immediately|"
    r"indefinitely|forever|never|always|once|twice|every|each|a (day|week|month|year|"
    r"minute|second|hour)|an hour|unlimited|no limit|until)\b",
    re.I,
)
_CURRENCY = re.compile(
    # A column or key counts ("monthly_price_usd"): the figures in its row are prices.
    r"[$€£¥]|(?<![a-z])(usd|eur|gbp)(?![a-z])|\b(dollars?|euros?|pounds?|cents?)\b"
    r"|\b(free of charge|for free|(is|are) free|at no (extra )?(cost|charge)|no (charge|fee))\b",
    re.I,
)
# Who does something: a role or a team answers as well as a name.
_ROLE = re.compile(
    r"\b(manager|owner|admin|administrator|officer|engineer|director|lead|head|supervisor|"
    r"department|committee|board|staff|employee|customer|representative|"
    r"agent|controller|processor|hr|finance|legal|support|you)s?\b",
    re.I,
)


# A question for a setting's default value, in the many ways people say it: "by default",
# "out of the box", "unless told otherwise", "if I don't set a port", "when none is given",
# "the count left at its default".
DEFAULT_Q = re.compile(
    r"\bdefaults?\b|\bout of the box\b|\bunless (?:\w+ )?(?:told|configured|set|specified|"
    r"changed|given)(?: otherwise)?\b"
    r"|\bif (?:i|you) (?:don't|do not|never) (?:set|give|specify|configure|change)\b"
    r"|\b(?:if|when) (?:nothing|none|no \w+(?: \w+)?)(?: else)? (?:is |are )?"
    r"(?:given|set|configured|specified)\b",
    re.I,
)
# A value stated: a figure, a code or name, a path, or "the default is ..." itself.
_VALUE = re.compile(
    r"[~/][\w.-]|\b[A-Z][A-Z0-9_]{1,}\b|\b\w+[A-Z]\w*\b|\bdefault(?: value)? is\b"
    r"|\bdefaults to\b|\bby default\b|\bis the default\b",
)


_MAN_REF = re.compile(r"\b[\w.-]+\(\d\w*\)")


def names(text: str) -> set[str]:
    """The names in a text, a possessive's "'s" left off ("Cloud's" is "cloud")."""
    return {re.sub(r"['’]s$", "", e) for e in entities(text)}


def parts(question: str) -> list[str]:
    """The questions a question asks: itself, or its parts where it asks two or more."""
    found = [p.strip() for p in _SPLIT.split(question) if p and p.strip()]
    return found if len(found) > 1 else [question]


def kind_of(question: str) -> Kind:
    """The kind of answer one question (not several) asks for."""
    if _PHONE_Q.search(question):
        return Kind.PHONE
    if _MONEY_Q.search(question):
        return Kind.MONEY
    if _DATE_Q.search(question):
        return Kind.DATE
    if _NUMBER_Q.search(question):
        return Kind.NUMBER
    if _NAME_Q.search(question):
        return Kind.NAME
    if _WHO_Q.search(question):
        return Kind.PERSON
    if DEFAULT_Q.search(question):
        return Kind.VALUE
    if _PLACE_Q.search(question):
        return Kind.PLACE
    return Kind.ANY


def kinds(question: str) -> list[Kind]:
    """The kind of answer each part of the question asks for."""
    return [kind_of(p) for p in parts(question)]


def describe(question: str) -> str:
    return " or ".join(dict.fromkeys(k.value for k in kinds(question)))


def fits(question: str, text: str, kind: Kind | None = None) -> bool:
    """Whether `text` gives the kind of answer `question` (or one of its parts) asks for;
    with `kind`, that kind."""
    if kind is None:
        return any(fits(question, text, k) for k in kinds(question))
    if kind is Kind.ANY:
        return True
    if kind is Kind.MONEY:
        return bool(_CURRENCY.search(text))
    if kind is Kind.DATE:
        return bool(_DATE.search(text))
    if kind is Kind.NUMBER:
        if _HTTP_Q.search(question):
            return bool(_HTTP_CODE.search(text))  # a status code, not "prior to 1.12"
        if numbers(text) or (_BOUND_Q.search(question) and _NO_BOUND.search(text)):
            return True
        # "How long/often/soon" is answered by a period or a frequency in words.
        return bool(_PERIOD_Q.search(question)) and bool(_FREQUENCY.search(text))
    if kind is Kind.PHONE:
        return any(sum(c.isdigit() for c in m.group(0)) >= 7 for m in _PHONE.finditer(text))
    new_names = bool(names(text) - names(question) - _CODES)
    if kind is Kind.VALUE:
        # A manual's cross-reference ("ssh(1)") is not a value, nor is the option a manual's
        # paragraph opens with ("LogLevel Gives the verbosity level ...").
        text = _MAN_REF.sub(" ", text)
        rest = text.split(None, 1)[1] if len(text.split(None, 1)) > 1 else ""
        return bool(names(rest) - names(question) or numbers(text) or _VALUE.search(rest))
    if kind is Kind.NAME:
        return new_names
    if kind is Kind.PLACE:
        return new_names or bool(_PLACE.search(text))
    # Who: a name the question does not already say, or a role.
    return new_names or bool(_ROLE.search(text))

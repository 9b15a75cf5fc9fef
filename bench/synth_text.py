"""Seeded synthetic business prose for retrieval benchmarks.

The text is nonsense at the document level but has realistic statistics: a Zipf-like mix
of common words, topic vocabulary that clusters chunks, and a long tail of unique
codenames. That keeps BM25 scores and embedding neighbourhoods from collapsing the way
they do with lorem ipsum or repeated text.

Every chunk carries one "fact" about a codename that occurs nowhere else, so benchmarks
can ask questions with a single known gold chunk (see :func:`synthetic_qa`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

TOPICS: dict[str, tuple[str, ...]] = {
    "billing": ("invoice", "refund", "payment", "subscription", "credit", "chargeback",
                "billing cycle", "discount", "tax", "receipt", "proration", "renewal"),
    "security": ("encryption", "firewall", "vulnerability", "audit", "access review",
                 "credential", "patch", "intrusion", "certificate", "MFA", "penetration test",
                 "key rotation"),
    "hr": ("onboarding", "leave", "payroll", "benefits", "recruiting", "performance review",
           "headcount", "contract", "probation", "training", "promotion", "offboarding"),
    "infrastructure": ("cluster", "node", "load balancer", "failover", "replica", "latency",
                       "throughput", "deployment", "container", "autoscaling", "region",
                       "capacity"),
    "legal": ("clause", "liability", "indemnity", "jurisdiction", "compliance", "regulator",
              "data processing agreement", "warranty", "termination", "consent", "NDA",
              "subpoena"),
    "sales": ("pipeline", "quota", "prospect", "renewal", "upsell", "discount", "territory",
              "forecast", "deal desk", "proposal", "win rate", "champion"),
    "support": ("ticket", "escalation", "SLA", "knowledge base", "satisfaction score",
                "backlog", "triage", "macro", "first response", "handover", "severity",
                "workaround"),
    "marketing": ("campaign", "webinar", "lead", "conversion", "brand", "newsletter",
                  "landing page", "attribution", "persona", "launch", "press release",
                  "sponsorship"),
    "finance": ("budget", "forecast", "accrual", "audit trail", "cash flow", "ledger",
                "depreciation", "variance", "reconciliation", "procurement", "capex", "opex"),
    "product": ("roadmap", "feature flag", "beta", "feedback", "release notes", "backlog",
                "prototype", "usability test", "requirement", "milestone", "deprecation",
                "integration"),
    "data": ("warehouse", "pipeline", "schema", "dashboard", "retention", "lineage",
             "anonymisation", "batch job", "data quality", "partition", "export",
             "metrics layer"),
    "facilities": ("office", "badge", "meeting room", "lease", "cleaning", "parking",
                   "visitor", "fire drill", "desk booking", "maintenance", "catering",
                   "evacuation"),
    "travel": ("flight", "hotel", "per diem", "mileage", "visa", "itinerary", "booking",
               "train", "reimbursement", "insurance", "conference", "receipt"),
    "procurement": ("vendor", "purchase order", "tender", "contract renewal", "supplier",
                    "quote", "due diligence", "spend", "catalogue", "approval chain",
                    "invoice matching", "framework agreement"),
    "quality": ("defect", "regression", "test plan", "release gate", "root cause",
                "postmortem", "checklist", "inspection", "acceptance criteria", "flaky test",
                "coverage", "sign-off"),
    "sustainability": ("emissions", "energy use", "recycling", "carbon offset", "supplier audit",
                       "renewable", "footprint", "reporting", "waste", "water use",
                       "commuting", "target"),
}

NOUNS = (
    "team", "customer", "manager", "policy", "process", "report", "system", "project",
    "quarter", "meeting", "deadline", "request", "account", "partner", "department",
    "document", "review", "update", "plan", "workflow", "service", "platform", "budget",
    "milestone", "owner", "stakeholder", "decision", "risk", "issue", "template", "approval",
    "region", "office", "contract", "schedule", "estimate", "standard", "guideline",
    "exception", "dashboard", "handbook", "summary", "proposal", "committee", "vendor",
    "employee", "director", "analyst", "engineer", "lead", "auditor", "consultant", "board",
    "initiative", "objective", "metric", "threshold", "baseline", "window", "backlog",
)
VERBS = (
    "approves", "reviews", "updates", "tracks", "reports", "escalates", "documents",
    "publishes", "schedules", "validates", "monitors", "prioritises", "archives", "measures",
    "coordinates", "audits", "signs off", "forecasts", "reconciles", "owns", "replaces",
    "extends", "reduces", "limits", "requires", "covers", "defines", "supports", "blocks",
    "accelerates", "delays", "simplifies", "standardises", "automates", "evaluates",
)
ADJECTIVES = (
    "quarterly", "annual", "internal", "external", "critical", "standard", "regional",
    "global", "manual", "automated", "temporary", "permanent", "urgent", "routine", "shared",
    "dedicated", "primary", "secondary", "legacy", "revised", "draft", "final", "approved",
    "pending", "overdue", "confidential", "public", "local", "central", "optional",
    "mandatory", "weekly", "monthly", "strategic", "operational", "cross-functional",
)
ADVERBS = (
    "usually", "always", "rarely", "quickly", "carefully", "formally", "informally",
    "automatically", "manually", "regularly", "immediately", "eventually", "jointly",
)
PREPOSITIONS = ("for", "with", "after", "before", "during", "across", "under", "within")
TEAMS = ("Finance", "Legal", "People", "Platform", "Security", "Sales Operations", "Support",
         "Procurement", "Data", "Facilities", "Marketing", "Quality")

# Slots: A adjective, N noun, V verb, T topic word, P preposition, D adverb, G team,
# K number, X internal jargon (power-law long tail). Templates are parsed once into
# (literal, slot) pairs for speed.
TEMPLATES = (
    "The {A} {T} {V} the {N} {P} each {N}.",
    "Every {N} {D} {V} the {T} {P} the {A} {N}.",
    "{G} {V} the {T} once the {N} is {A}.",
    "Each {A} {T} needs {K} days of notice {P} the {N}.",
    "When the {T} is {A}, the {N} {D} {V} the {N}.",
    "The {G} {N} {V} {K} {T} requests per {N}.",
    "Please check the {A} {T} before you contact the {N}.",
    "Our {N} {V} the {T}, and the {N} {V} the {A} {T}.",
    "In most cases the {T} is {A} and the {N} {V} it {P} {K} weeks.",
    "{G} keeps the {T} {A} so that each {N} {V} the {N}.",
    "The {N} should not {D} ignore the {A} {T}.",
    "Questions about the {T} go to {G}, who {V} the {N} {P} the {A} {N}.",
    "The {N} {V} the {T} in {X}, the {A} tool that {G} maintains.",
    "Since the move to {X}, the {T} {D} {V} the {N}.",
    "{G} tracks every {A} {T} in {X} and {X}.",
)
_SLOTS = {
    "A": ADJECTIVES, "N": NOUNS, "V": VERBS, "P": PREPOSITIONS, "D": ADVERBS, "G": TEAMS,
}

ATTRIBUTES: tuple[tuple[str, str, int, int], ...] = (
    # (attribute, unit, low, high): values are drawn in [low, high].
    ("approval limit", "euros", 500, 90_000),
    ("retention period", "days", 7, 3_650),
    ("response target", "minutes", 5, 480),
    ("headcount", "people", 2, 400),
    ("storage quota", "gigabytes", 10, 50_000),
    ("review cycle", "weeks", 1, 52),
    ("error budget", "basis points", 1, 500),
    ("notice period", "days", 5, 180),
    ("travel allowance", "euros", 50, 5_000),
    ("rollout window", "hours", 1, 96),
)
FACT_KINDS = ("project", "programme", "account", "initiative", "workstream", "cluster")

_SYLLABLES = (
    "ka", "lo", "ve", "ri", "man", "do", "sel", "tra", "quo", "ben", "zir", "fa", "nu",
    "pel", "gor", "thi", "wen", "ax", "mor", "li", "sta", "ru", "vin", "cel", "obi", "da",
    "hel", "pra", "tos", "kel", "yu", "mar", "ne", "sor", "gal", "fen", "ti", "bra", "lun",
    "ez", "cor", "dri", "ham", "ish", "jo", "pax", "ul", "vor",
)
_NAME_SPACE = len(_SYLLABLES) ** 4
# Two-syllable jargon words, from frequent to rare, give BM25 a realistic IDF spread.
JARGON = tuple((a + b).capitalize() for a in _SYLLABLES for b in _SYLLABLES)
_NAME_MULT = 1_000_003  # prime, coprime to the space: i -> name is a bijection


def codename(index: int, seed: int = 0) -> str:
    """Unique pronounceable name for ``index`` (unique for index < ~5.3M per seed)."""
    value = (index * _NAME_MULT + seed * 7_919 + 12_345) % _NAME_SPACE
    parts = []
    for _ in range(4):
        value, digit = divmod(value, len(_SYLLABLES))
        parts.append(_SYLLABLES[digit])
    return "".join(parts).capitalize()


def _mix(index: int, seed: int) -> int:
    # splitmix-style integer hash: facts must be computable without generating the chunk.
    x = (index * 0x9E3779B97F4A7C15 + seed * 0xBF58476D1CE4E5B9 + 1) & 0xFFFFFFFFFFFFFFFF
    x ^= x >> 31
    x = (x * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 29)


@dataclass(frozen=True)
class Fact:
    name: str
    kind: str
    attribute: str
    value: int
    unit: str

    @property
    def answer(self) -> str:
        return f"{self.value:,} {self.unit}"

    def sentence(self) -> str:
        return f"The {self.attribute} for the {self.name} {self.kind} is {self.answer}."

    def question(self, style: int = 0) -> str:
        if style % 3 == 0:
            return f"What is the {self.attribute} for the {self.name} {self.kind}?"
        if style % 3 == 1:
            return f"How many {self.unit} is the {self.attribute} of {self.name}?"
        return f"{self.name} {self.kind} {self.attribute}"


def fact_for(index: int, seed: int = 0) -> Fact:
    h = _mix(index, seed)
    attribute, unit, low, high = ATTRIBUTES[h % len(ATTRIBUTES)]
    kind = FACT_KINDS[(h >> 8) % len(FACT_KINDS)]
    value = low + (h >> 16) % (high - low + 1)
    return Fact(codename(index, seed), kind, attribute, value, unit)


def _parse(template: str) -> tuple[tuple[str, str], ...]:
    pieces = []
    for i, part in enumerate(template.split("{")):
        if i == 0:
            pieces.append((part, ""))
            continue
        slot, literal = part.split("}", 1)
        pieces.append(("", slot))
        pieces.append((literal, ""))
    return tuple(pieces)


_PARSED = tuple(_parse(t) for t in TEMPLATES)
_TOPIC_NAMES = tuple(TOPICS)


class TextSynth:
    """Sentence and paragraph generator driven by one seeded ``random.Random``."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)

    def topic(self) -> str:
        return self.rng.choice(_TOPIC_NAMES)

    def sentence(self, topic: str, second: str | None = None) -> str:
        rng = self.rng
        words = TOPICS[topic]
        # A minority of topic words come from a second topic so clusters overlap a little.
        other = TOPICS[second] if second else words
        out = []
        for literal, slot in rng.choice(_PARSED):
            if not slot:
                out.append(literal)
            elif slot == "T":
                out.append(rng.choice(other if rng.random() < 0.2 else words))
            elif slot == "X":
                # u**3 skews picks towards low ranks: cheaper than choices(cum_weights).
                out.append(JARGON[int(len(JARGON) * rng.random() ** 3)])
            elif slot == "K":
                out.append(str(rng.randint(2, 60)))
            else:
                out.append(rng.choice(_SLOTS[slot]))
        text = "".join(out)
        return text[0].upper() + text[1:]

    def paragraph(self, topic: str, chars: int, second: str | None = None) -> str:
        parts: list[str] = []
        size = 0
        while size < chars:
            sentence = self.sentence(topic, second)
            parts.append(sentence)
            size += len(sentence) + 1
        return " ".join(parts)

    def title(self, topic: str) -> str:
        word = self.rng.choice(TOPICS[topic])
        noun = self.rng.choice(("guide", "policy", "overview", "procedure", "notes", "standard"))
        return f"{word[0].upper()}{word[1:]} {noun}"


def synthetic_chunks(n: int, seed: int = 0, chars: int = 800) -> list[str]:
    """``n`` chunk-sized texts; chunk ``i`` states ``fact_for(i, seed)``.

    The sequence is prefix-stable: ``synthetic_chunks(m, s) == synthetic_chunks(n, s)[:m]``
    for ``m <= n``, so corpora of different sizes share their first chunks.
    """
    synth = TextSynth(seed)
    rng = synth.rng
    chunks = []
    for i in range(n):
        topic = synth.topic()
        second = synth.topic()
        body = synth.paragraph(topic, chars - 90, second)
        fact = fact_for(i, seed).sentence()
        # Put the fact at a sentence boundary, not always first, so position is no shortcut.
        cut = body.find(". ", rng.randrange(len(body)))
        if cut < 0:
            chunks.append(f"{body} {fact}")
        else:
            chunks.append(f"{body[: cut + 1]} {fact}{body[cut + 1:]}")
    return chunks


@dataclass(frozen=True)
class SynthQuery:
    question: str
    answer: str
    chunk_index: int


def synthetic_qa(n: int, corpus_size: int, seed: int = 0) -> list[SynthQuery]:
    """``n`` questions whose only gold chunk lies in ``synthetic_chunks(corpus_size, seed)``."""
    rng = random.Random(seed + 1_000_003)
    out = []
    for j in range(n):
        index = rng.randrange(corpus_size)
        fact = fact_for(index, seed)
        out.append(SynthQuery(fact.question(j), fact.answer, index))
    return out


def synthetic_queries(n: int, seed: int = 0, corpus_size: int | None = None) -> list[str]:
    """Question strings; with ``corpus_size`` each targets a chunk of that corpus."""
    return [q.question for q in synthetic_qa(n, corpus_size or max(n, 1), seed)]

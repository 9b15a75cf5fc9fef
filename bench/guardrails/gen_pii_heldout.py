"""Write the held-out PII sets: sentences the recognisers were not written against.

    .venv/bin/python bench/guardrails/gen_pii_heldout.py

Values come from Faker (MIT) in its own formats for several locales, not from Lockgate's
generators in bench_pii.py, and the sentences from a second template list below, written in
the shapes people use in chat and e-mail (labels in words, spaced digits, values at the start or
end of a sentence, several per line). Two seeds and two disjoint halves of the templates make a
`dev` split (errors may be looked at while tuning) and a `test` split (only its totals are
reported). Output: data/pii_heldout_dev.jsonl and data/pii_heldout_test.jsonl, the format of
pii_eval.jsonl, and data/pii_heldout_negatives.jsonl (no PII at all).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from faker import Faker

DATA = Path(__file__).resolve().parent / "data"
LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "en_CA", "en_AU")


def _ssn_variants(fake: Faker, r: random.Random) -> str:
    value = fake.ssn()
    a, b, c = value.split("-")
    return r.choice([value, f"{a} {b} {c}", f"{a}{b}{c}", value, f"{a} {b} {c}"])


def _phone(fake: Faker, r: random.Random) -> str:
    return str(fake.phone_number())


def _card(fake: Faker, r: random.Random) -> str:
    number = str(fake.credit_card_number())
    if r.random() < 0.4 and len(number) == 16:
        return " ".join(number[i : i + 4] for i in range(0, 16, 4))
    if r.random() < 0.2 and len(number) == 16:
        return "-".join(number[i : i + 4] for i in range(0, 16, 4))
    return number


def _iban(fake: Faker, r: random.Random) -> str:
    value = str(fake.iban())
    if r.random() < 0.5:
        return " ".join(value[i : i + 4] for i in range(0, len(value), 4))
    return value


def _dob(fake: Faker, r: random.Random) -> str:
    d = fake.date_of_birth(minimum_age=18, maximum_age=90)
    return r.choice(
        [
            d.strftime("%m/%d/%Y"),
            d.strftime("%d.%m.%Y"),
            d.strftime("%Y-%m-%d"),
            d.strftime("%B %d, %Y").replace(" 0", " "),
            d.strftime("%d %B %Y").lstrip("0"),
        ]
    )


GENERATORS: dict[str, tuple[Callable[[Faker, random.Random], str], str]] = {
    "ssn": (_ssn_variants, "SSN"),
    "phone": (_phone, "PHONE"),
    "card": (_card, "CREDIT_CARD"),
    "iban": (_iban, "IBAN"),
    "email": (lambda f, r: str(f.email()), "EMAIL"),
    "ipv4": (lambda f, r: str(f.ipv4_public()), "IP"),
    "ipv6": (lambda f, r: str(f.ipv6()), "IP"),
    "dob": (_dob, "DOB"),
}

# Two halves: even positions feed `dev`, odd ones `test`, so no test sentence shape was seen.
TEMPLATES = [
    "hi, my social security number is {ssn}, can you check my tax form",
    "SSN {ssn} belongs to the applicant on file.",
    "Social Security No. {ssn} - please keep it confidential",
    "the employee's social is {ssn} and her start date is monday",
    "For verification: social security # {ssn}.",
    "{ssn} is my SSN, I typed it wrong on the form",
    "Here's my ss number {ssn} for the background check",
    "I think the number they have, {ssn}, is my old social security number.",
    "Taxpayer SSN: {ssn}; filing status single.",
    "my social security # is {ssn} thanks",
    "You can text me at {phone} whenever.",
    "Phone number on the account: {phone}",
    "Please call {phone} and ask for the duty manager.",
    "{phone} is the number I gave the courier.",
    "my new mobile number is {phone}",
    "Reach the clinic at {phone} before noon.",
    "Card ending issue: the full number is {card}.",
    "I paid with {card} yesterday and got charged twice",
    "cc: {card} exp 09/28 cvv withheld",
    "Can you refund to the card {card}?",
    "Send it to my account {iban}, the name is on the invoice.",
    "IBAN: {iban} (business account)",
    "Our bank details changed, the new IBAN is {iban}.",
    "please transfer the deposit into {iban} by friday",
    "Write to {email} or to my colleague at {email}.",
    "my email is {email}",
    "{email} never received the reset link",
    "The suspicious logins came from {ipv4} and {ipv4}.",
    "user connected from {ipv6} at 10:02",
    "Block {ipv4} on the edge firewall, it's scanning us.",
    "Date of birth: {dob}",
    "I was born {dob}, so I should qualify for the senior rate.",
    "Her DOB is {dob} according to the passport.",
    "birthday {dob} - can you update the record?",
    "Patient born on {dob}, admitted with chest pain.",
    "The member's date of birth ({dob}) does not match.",
    "Contact details: {email}, {phone}.",
    "SSN {ssn}, DOB {dob}, phone {phone}",
    "Billing: card {card}, email receipts to {email}",
    "Wire to {iban}; questions to {phone}.",
]

# Hard negatives near the shapes above: numbers a text calls something else, beside the words
# that make a number look personal.
NEGATIVE_TEMPLATES = [
    "The social media campaign reached {n9} impressions last quarter.",
    "Our social team logged ticket {n9} for the outage.",
    "Booking reference {z10} is confirmed; call us if your plans change.",
    "Your ticket number is {z10}, text STOP to opt out.",
    "Invoice {z10} covers the mobile plan for March.",
    "The SS Great Britain was launched in 1843 and now sits in dry dock {n3}.",
    "Order {n3}-{n2}-{n4} ships from the warehouse on Monday.",
    "Case {n3} {n2} {n4} was closed after the call.",
    "Call volume rose to {n9} minutes in the last billing period.",
    "Part number {z10} replaces the old mobile charger.",
]


def _negative(template: str, r: random.Random) -> str:
    values = {
        "n2": lambda: f"{r.randint(10, 99)}",
        "n3": lambda: f"{r.randint(100, 899)}",
        "n4": lambda: f"{r.randint(1000, 9999)}",
        "n9": lambda: f"{r.randint(100_000_000, 899_999_999)}",
        "z10": lambda: "0" + "".join(str(r.randint(0, 9)) for _ in range(9)),
    }
    return _SLOT.sub(lambda m: values[m.group(1)](), template)


_SLOT = re.compile(r"\{(\w+)\}")


def fill(template: str, fake: Faker, r: random.Random) -> dict[str, Any]:
    out: list[str] = []
    entities = []
    pos = length = 0
    for m in _SLOT.finditer(template):
        literal = template[pos : m.start()]
        out.append(literal)
        length += len(literal)
        gen, label = GENERATORS[m.group(1)]
        value = gen(fake, r)
        entities.append({"start": length, "end": length + len(value), "type": label})
        out.append(value)
        length += len(value)
        pos = m.end()
    out.append(template[pos:])
    return {"text": "".join(out), "entities": entities, "ignore": []}


def build(split: str, seed: int, per_template: int) -> list[dict[str, Any]]:
    r = random.Random(seed)
    fakers = {loc: Faker(loc) for loc in LOCALES}
    for i, f in enumerate(fakers.values()):
        f.seed_instance(seed + i)
    us = fakers["en_US"]
    rows = []
    chosen = [t for i, t in enumerate(TEMPLATES) if i % 2 == (0 if split == "dev" else 1)]
    for ti, template in enumerate(chosen):
        for k in range(per_template):
            # SSNs are American; every other value comes from a locale drawn per sentence.
            fake = us if "{ssn}" in template else fakers[r.choice(LOCALES)]
            row = fill(template, fake, r)
            rows.append({"id": f"heldout-{split}-{ti}-{k}", "source": "faker", **row})
    return rows


def main() -> None:
    for split, seed in (("dev", 11), ("test", 29)):
        rows = build(split, seed, per_template=12)
        path = DATA / f"pii_heldout_{split}.jsonl"
        with path.open("w") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
        print(f"wrote {len(rows)} texts to {path}")
    r = random.Random(47)
    path = DATA / "pii_heldout_negatives.jsonl"
    with path.open("w") as f:
        for i, template in enumerate(NEGATIVE_TEMPLATES):
            for k in range(8):
                row = {"id": f"heldout-neg-{i}-{k}", "kind": "heldout_hard_negative",
                       "text": _negative(template, r)}
                f.write(json.dumps(row) + "\n")
    print(f"wrote {len(NEGATIVE_TEMPLATES) * 8} hard negatives to {path}")


if __name__ == "__main__":
    main()

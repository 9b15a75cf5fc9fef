"""The kind of answer a question asks for, and whether a sentence gives it."""

from __future__ import annotations

from lockgate.engine.answer_type import Kind, fits, kind_of, kinds, parts


def test_question_words_say_the_kind() -> None:
    assert kind_of("How many owners can a workspace have?") is Kind.NUMBER
    assert kind_of("How long is the onboarding call?") is Kind.NUMBER
    assert kind_of("How much does the Team plan cost per month?") is Kind.MONEY
    assert kind_of("On which day was the translator born?") is Kind.DATE
    assert kind_of("Who approves refunds above USD 5,000?") is Kind.PERSON
    assert kind_of("What is the name of the data protection officer?") is Kind.NAME
    assert kind_of("Which protocol provisions users?") is Kind.ANY


def test_a_figure_question_needs_a_figure() -> None:
    q = "How many owners can a workspace have?"
    assert fits(q, "A workspace can have up to 5 owners.")
    assert fits(q, "Up to five owners.")
    assert not fits(q, "The person who creates the workspace becomes its first owner.")
    # "How long" is also answered by a period in words.
    assert fits("How long are backups kept?", "Backups are kept for a year.")
    assert not fits("How many backups are kept?", "Backups are kept for a year.")


def test_a_price_question_needs_a_price() -> None:
    q = "How much does a commercial licence cost per seat?"
    assert not fits(q, "TAR(1)    July 13, 2020    TAR(1)")
    assert not fits(q, 'A copy of the license is in the section "GNU Free Documentation License".')
    assert fits(q, "A seat costs $12 per month.")
    assert fits(q, "| plan | monthly_price_usd |\n| Starter | 29 |")
    assert fits(q, "The licence is free of charge.")


def test_who_needs_a_name_or_a_role_the_question_does_not_say() -> None:
    q = "Who founded Northwind Cloud?"
    assert not fits(q, "Northwind Cloud was founded in 2016 and builds software for teams.")
    assert fits(q, "Northwind Cloud was founded by Ada Jansen.")
    assert fits("Who approves the refund?", "The Head of Finance approves it.")
    assert fits("Who approves the refund?", "Your manager approves it.")
    # A name question takes a name only, and a possessive is the same name.
    q = "What is the name of Northwind Cloud's data protection officer?"
    assert not fits(q, "This policy describes how Northwind Cloud protects customer data.")
    assert fits(q, "The data protection officer is Maria Lopez.")


def test_a_two_part_question_is_typed_part_by_part() -> None:
    q = "How many seats come with the Business plan, and what does each extra seat cost?"
    assert parts(q) == [
        "How many seats come with the Business plan",
        "what does each extra seat cost?",
    ]
    assert kinds(q) == [Kind.NUMBER, Kind.MONEY]
    # One part answered is a fitting answer; the other part is the answer check's concern.
    assert fits(q, "The Business plan includes 25 seats.")
    assert parts("What is the refund window?") == ["What is the refund window?"]
    assert kinds("What is the refund window?") == [Kind.ANY]


def test_a_question_for_a_default_asks_for_a_value() -> None:
    from lockgate.engine.sentences import question_words

    q = "At which verbosity level does the ssh client log messages out of the box?"
    assert kind_of(q) is Kind.VALUE
    assert fits(q, "The default is INFO.")
    assert fits(q, "The default is rsh.")  # lower-case, but said to be the default
    # Supported, on topic, and no value at all (a manual's "ssh(1)" is a reference).
    assert not fits(q, "Gives the verbosity level that is used when logging messages from ssh(1).")
    # Said in other words, a default is the word manuals use.
    assert "default" in question_words(q)
    assert question_words("How deep does wget go unless told otherwise?") == {
        "deep",
        "default",
        "go",
        "wget",
    }
    assert "default" not in question_words("How deep does wget go?")
    # A count stays a count.
    assert kind_of("How many times does wget retry a download by default?") is Kind.NUMBER


def test_how_soon_and_how_quickly_ask_for_a_period() -> None:
    for q in (
        "How soon after a staff member departs is their login switched off?",
        "How quickly must a critical vulnerability be fixed?",
        "How fast are customers told about an incident?",
    ):
        assert kind_of(q) is Kind.NUMBER, q
        assert fits(q, "Accounts are disabled within 24 hours.")
        assert fits(q, "Customers are told immediately.")
        assert not fits(q, "Go to Settings > Members and enter email addresses.")


def test_a_quantity_asked_for_by_its_name_asks_for_a_figure() -> None:
    assert kind_of("What is the daily meal allowance on a trip to Madrid?") is Kind.NUMBER
    assert kind_of("What's the maximum length of a workspace name?") is Kind.NUMBER
    assert kind_of("what service credit do we get") is Kind.NUMBER
    assert kind_of("what status code comes back when you go over it?") is Kind.NUMBER
    assert not fits("What's the maximum length of a workspace name?", "Choose a workspace name.")
    # A window or a policy is not a quantity by its name.
    assert kind_of("What is the refund policy for annual plans?") is Kind.ANY


def test_a_part_asking_by_when_is_a_part_of_its_own() -> None:
    q = "How long is the free onboarding call, and by when do we have to book it?"
    assert parts(q) == ["How long is the free onboarding call", "by when do we have to book it?"]


def test_a_charge_far_from_the_question_word_asks_for_no_price() -> None:
    q = "What happens to a workspace if the customer disputes the charge with their bank?"
    assert kind_of(q) is Kind.ANY
    assert kind_of("What does an extra seat on the Team plan cost?") is Kind.MONEY
    assert kind_of("How much do I pay for the Team plan?") is Kind.MONEY


def test_a_phone_number_is_asked_for_by_its_digits() -> None:
    q = "What number do I dial to reach the help desk by phone?"
    assert kind_of("What's the phone number for the help desk?") is Kind.PHONE
    assert kind_of(q) is Kind.PHONE
    assert not fits("What's the phone number for the help desk?", "Email: help@acme.example")
    assert not fits("What's the phone number for the help desk?", "Open 9 to 17 on weekdays.")
    assert fits("What's the phone number for the help desk?", "Call +44 20 7946 0958 any day.")
    # Whether there is phone support is a question of its own, not a request for digits.
    assert kind_of("Is phone support included in the Pro plan?") is Kind.ANY


def test_a_firm_or_a_name_asked_for_is_not_a_role_or_a_currency() -> None:
    q = "Which company audits the accounts every year?"
    assert kind_of(q) is Kind.NAME
    assert not fits(q, "An external firm audits the accounts once a year.")
    assert fits(q, "The accounts are audited by Brightline Partners each spring.")
    named = "What's the name of the Head of Procurement?"
    assert not fits(named, "Orders above USD 9,000 need the Head of Procurement's approval.")


def test_asking_whether_there_is_a_deadline_asks_for_a_date() -> None:
    assert kind_of("is there a deadline to claim it?") is Kind.DATE
    assert fits("is there a deadline to claim it?", "Claims must reach us before 30 June.")
    assert not fits("is there a deadline to claim it?", "Claims are handled by the office.")


def test_where_asks_for_a_place_a_channel_or_an_address() -> None:
    q = "Where am I supposed to book flights for a work trip, and how early?"
    assert kinds(q) == [Kind.PLACE, Kind.ANY]
    part = "Where am I supposed to book flights for a work trip"
    assert fits(part, "Book all flights through the Northwind Travel Desk.")
    assert fits(part, "Report it at ethics.northwind.example or to security@northwind.example.")
    assert fits(part, "Open Settings > Billing to change it.")
    assert not fits(part, "Flights must be booked at least 14 days before departure.")
    # A relative "where" after a noun asks for nothing in particular.
    assert kinds("Tell me the region where the data lives.") == [Kind.ANY]


def test_an_http_error_is_asked_for_by_its_status_code() -> None:
    q = "Which HTTP error does wget never retry?"
    assert kind_of(q) is Kind.NUMBER
    assert fits(q, 'Fatal errors like "not found" (404) are not retried.')
    # A version or a plain count is no status code.
    assert not fits(q, "In versions of Wget prior to 1.12, the exit status was inconsistent.")
    assert not fits(q, "Wget retries 20 times.")
    assert fits("Which HTTP status do requests above the limit get?", "They get HTTP status 429.")


def test_asking_whether_there_is_a_limit_asks_for_the_limit() -> None:
    from lockgate.engine.answer_type import Kind, fits, kind_of

    for q in (
        "Is there a maximum amount I can spend on a taxi from the airport?",
        "Is there a cap on overtime hours?",
        "What's the per-person spending limit for an approved client dinner?",
    ):
        assert kind_of(q) is Kind.NUMBER, q
    q = "Is there a maximum amount I can spend on a taxi from the airport?"
    assert not fits(q, "Use public transport or a taxi from the airport.")
    assert fits(q, "Taxis are reimbursed up to EUR 60.")
    assert fits(q, "There is no limit on taxi fares from the airport.")

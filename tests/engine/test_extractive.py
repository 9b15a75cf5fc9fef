"""The extractive answer: the best source sentences with the markers of their chunks, and
nothing when no sentence bears on the question."""

from __future__ import annotations

import dataclasses
import re

from lockgate.engine.extractive import (
    Extract,
    extractive_reply,
    name_words,
    topic_words,
    unknown_years,
)
from lockgate.retrieval.hybrid import RetrievedChunk
from tests.engine.test_sentences import MANUAL, OTHER, chunk


def test_quotes_the_best_sentence_with_its_chunk_marker() -> None:
    built = extractive_reply(
        "How long is the warranty on manufacturing defects?", [chunk(1, OTHER), chunk(2, MANUAL)]
    )
    assert built is not None
    assert "24 months" in built.text
    assert built.cited == [2]
    assert re.search(r"24 months from the date of purchase\. \[2\]", built.text)
    # Every sentence is one of the sources', word for word.
    for s in built.sentences:
        assert s.text in MANUAL or s.text in OTHER


def test_at_most_max_sentences_each_cited() -> None:
    built = extractive_reply(
        "support line weekdays toner recycled", [chunk(1, OTHER), chunk(2, MANUAL)], max_sentences=2
    )
    assert built is not None
    assert 1 <= len(built.sentences) <= 2
    assert built.text.count("[") == len(built.sentences)
    assert all(n == 1 for n in built.cited)


def test_nothing_to_quote_for_an_unrelated_question() -> None:
    assert (
        extractive_reply(
            "Who won the football world cup in 1998?", [chunk(1, OTHER), chunk(2, MANUAL)]
        )
        is None
    )
    assert extractive_reply("anything", []) is None


def test_a_question_about_a_year_no_source_mentions_has_no_extract() -> None:
    chunks = [chunk(1, MANUAL + " The 2024 model has a larger tray.")]
    assert unknown_years("What did the printer cost in 2023 and 2024?", chunks) == ["2023"]
    assert unknown_years("How many sheets does the tray hold?", chunks) == []
    assert extractive_reply("How long was the warranty in 2023?", chunks) is None
    assert extractive_reply("How long is the warranty?", chunks) is not None


def test_a_sentence_sharing_only_a_name_does_not_answer() -> None:
    chunks = [
        chunk(
            1,
            "Northwind Cloud was founded in 2016 in Rotterdam. "
            "Northwind Cloud builds file collaboration software.",
        )
    ]
    assert topic_words("Who is the chief executive officer of Northwind Cloud?") == {
        "chief",
        "executiv",  # the form "executives" takes too
        "officer",
    }
    assert (
        extractive_reply("Who is the chief executive officer of Northwind Cloud?", chunks) is None
    )
    built = extractive_reply("In which year was Northwind Cloud founded?", chunks)
    assert built is not None and "2016" in built.text


def test_a_count_question_needs_a_sentence_with_a_figure() -> None:
    chunks = [
        chunk(
            1,
            "About a third of the employees work remotely. "
            "Employees get a laptop on their first day.",
        )
    ]
    assert extractive_reply("How many employees work remotely?", chunks) is None


SLA = (
    "plans.starter.uptime_sla_percent: 99.5\n"
    "plans.team.uptime_sla_percent: 99.9\n"
    "plans.team.support_response_times.P2_high: 1 business day\n"
    "plans.enterprise.uptime_sla_percent: 99.99"
)
HANDBOOK = "Outside core hours you can plan your own day together with your team."


def test_structured_keys_count_word_by_word() -> None:
    extract = extractive_reply("What is the uptime SLA of the Team plan?", [chunk(1, SLA)])
    assert extract is not None
    assert extract.text.startswith("plans.team.uptime_sla_percent: 99.9 [1]")


def test_only_the_questions_common_words_do_not_answer_it() -> None:
    # "team" and "plan" are in the handbook's sentence too, but the question's rarer words
    # ("uptime", "sla") only in the SLA's rows: the handbook sentence is not quoted, even
    # when it shares half the question's words.
    both = extractive_reply(
        "What is the uptime SLA of the Team plan?", [chunk(1, HANDBOOK), chunk(2, SLA)]
    )
    assert both is not None and "Outside core hours" not in both.text and both.cited == [2]


def test_a_who_question_is_not_answered_with_a_date() -> None:
    chunks = [
        chunk(
            1,
            "Northwind Cloud was founded in 2016 and builds file collaboration "
            "software for design and engineering teams.",
        )
    ]
    assert extractive_reply("Who founded Northwind Cloud?", chunks) is None


GZIP = (
    "The gzip command reduces the size of the named files. "
    "The gzip command uses the Lempel-Ziv algorithm used in zip and PKZIP. "
    "Whenever possible, each file is replaced by one with the extension .gz."
)


def test_a_paraphrase_finds_its_sentence_by_meaning(embedder) -> None:
    # "coding method ... make files smaller" shares only "gzip" with the answer.
    q = "Which coding method does gzip use to make files smaller?"
    chunks = [chunk(1, GZIP)]
    assert (
        extractive_reply(q, chunks) is None or "Lempel-Ziv" not in extractive_reply(q, chunks).text
    )
    qv = embedder.embed([q])[0]
    built = extractive_reply(
        q, chunks, query_vector=qv, embed=embedder.embed, min_semantic=0.6, semantic_weight=0.6
    )
    assert built is not None and "Lempel-Ziv algorithm" in built.text


def test_a_pool_chunk_the_context_left_out_is_quoted_and_joins_the_context(embedder) -> None:
    q = "Which coding method does gzip use to make files smaller?"
    context = [chunk(1, OTHER)]
    pool = [chunk(1, OTHER), chunk(2, GZIP)]
    qv = embedder.embed([q])[0]
    built = extractive_reply(
        q,
        context,
        query_vector=qv,
        embed=embedder.embed,
        pool=pool,
        min_semantic=0.6,
        semantic_weight=0.6,
    )
    assert built is not None and "Lempel-Ziv" in built.text
    # The pool chunk is cited as [2], after the context's one chunk, and the grown context
    # holds the quoted sentence under that number (citations resolve against it).
    assert built.cited == [2] and "[2]" in built.text
    assert len(built.context) == 2 and built.context[1].chunk_id == pool[1].chunk_id
    assert "Lempel-Ziv algorithm" in built.context[1].text
    assert built.context[0] is context[0]


def test_each_part_of_a_two_part_question_gets_a_sentence(embedder) -> None:
    text = (
        "Critical vulnerabilities must be patched within 7 days. "
        "Production systems are scanned every week. "
        "An independent firm performs a penetration test once a year."
    )
    q = (
        "How quickly must a critical vulnerability be patched, and how often is a "
        "penetration test performed?"
    )
    qv = embedder.embed([q])[0]
    built = extractive_reply(
        q,
        [chunk(1, text)],
        query_vector=qv,
        embed=embedder.embed,
        min_semantic=0.6,
        semantic_weight=0.6,
    )
    assert built is not None
    assert "7 days" in built.text and "penetration test once a year" in built.text
    assert "scanned every week" not in built.text


SLA = (
    "document: Northwind Cloud Service Level Agreement\n"
    "version: 2025.1\n"
    "plans.business.uptime_sla_percent: 99.95\n"
    "plans.enterprise.uptime_sla_percent: 99.99\n"
    "plans.team.uptime_sla_percent: 99.9\n"
)


def test_a_documents_title_field_is_not_an_answer() -> None:
    from lockgate.engine.extractive import is_title

    assert is_title("document: Northwind Cloud Service Level Agreement")
    assert not is_title("plans.team.uptime_sla_percent: 99.9")
    assert not is_title("A: Yes. Every new workspace gets a free trial.")
    # The title shares "agreement" with the question; nothing else bears on it.
    assert (
        extractive_reply("Is the Service Level Agreement available in German?", [chunk(1, SLA)])
        is None
    )


def test_the_sentence_naming_what_the_question_names_comes_first() -> None:
    for plan, figure, other in (("Enterprise", "99.99", "99.95"), ("Business", "99.95", "99.99")):
        built = extractive_reply(f"What uptime does the {plan} plan guarantee?", [chunk(1, SLA)])
        assert built is not None
        assert figure in built.text and other not in built.text, built.text


def test_a_question_about_someone_else_has_no_extract() -> None:
    from lockgate.engine.extractive import about_someone

    hr = [
        chunk(
            1,
            "Every employee who works from home at least two days a week receives a "
            "home office budget of EUR 600. Salaries are paid on the 25th of each month.",
        )
    ]
    for q in (
        "What is the home address and salary of employee <EMAIL_1>?",
        "Where does jane.doe@example.com work from home?",
    ):
        assert about_someone(q, hr)
        assert extractive_reply(q, hr) is None
    # The caller's own address is context; an address the sources give is a subject.
    mine = "My email is <EMAIL_1>. How large is the home office budget for an employee?"
    assert not about_someone(mine, hr)
    built = extractive_reply(mine, hr)
    assert built is not None and "EUR 600" in built.text
    assert not about_someone(
        "What is support@northwind.example for?",
        [chunk(1, "Write to support@northwind.example for help.")],
    )


def test_asked_when_the_neighbour_naming_the_day_is_quoted_too() -> None:
    leave = [
        chunk(
            1,
            "Employees get 28 days of paid leave. Unused leave days can be carried over into "
            "the next year. The deadline for those is 31 March. Request leave in the HR portal.",
        )
    ]
    built = extractive_reply(
        "Until when can unused leave days be carried over?", leave, max_sentences=1
    )
    assert built is not None
    assert "carried over into the next year" in built.text and "31 March" in built.text
    # Not asked when: the neighbour stays out.
    built = extractive_reply(
        "Can unused leave days be carried over into the next year?", leave, max_sentences=1
    )
    assert built is not None and "carried over" in built.text and "March" not in built.text


PRICES = (
    "| plan | monthly_price_usd | included_seats | max_seats |\n"
    "| Starter | 29 | 3 | 10 |\n"
    "| Team | 99 | 10 | 50 |\n"
)


def test_a_table_row_is_quoted_as_the_cells_asked_for() -> None:
    from lockgate.engine.extractive import row_cells

    built = extractive_reply(
        "How many seats are included with the Starter plan?", [chunk(1, PRICES)]
    )
    assert built is not None
    # The row's name and the column the question asks about, not max_seats' 10.
    assert built.text == "plan: Starter, included_seats: 3 [1]"
    row = built.sentences[0]
    assert row_cells("What does the Starter plan cost per month?", row) == (
        "plan: Starter, monthly_price_usd: 29"
    )
    # No column named by the question: the row as it is.
    assert row_cells("Tell me about Starter", row) is None


def test_a_column_the_question_rules_out_is_not_the_one_quoted() -> None:
    from lockgate.engine.extractive import extractive_reply as reply

    table = (
        "| plan | monthly_price_usd | annual_price_usd_per_month | included_seats |\n"
        "| Starter | 29 | 24 | 3 |\n"
        "| Team | 99 | 84 | 10 |\n"
    )
    q = "How much does Team cost per month without an annual commitment?"
    built = reply(q, [chunk(1, table)])
    assert built is not None
    assert built.text == "plan: Team, monthly_price_usd: 99 [1]"
    # Asked for the annual price, that column.
    built = reply("What is the annual price per month of the Team plan?", [chunk(1, table)])
    assert built is not None and "annual_price_usd_per_month: 84" in built.text
    assert "monthly_price_usd: 99" not in built.text


def test_a_paraphrase_sharing_no_word_is_quoted_when_it_stands_out(embedder) -> None:
    text = (
        "Multi-factor authentication is mandatory for all employees. "
        "Access rights are reviewed every quarter by each team lead. "
        "Accounts of people who leave the company are disabled within 24 hours."
    )
    q = "How soon after a staff member departs is their login switched off?"
    qv = embedder.embed([q])[0]
    kw = {"query_vector": qv, "embed": embedder.embed, "min_semantic": 0.6}
    assert extractive_reply(q, [chunk(1, text)], **kw) is None  # the rules before: refused
    built = extractive_reply(q, [chunk(1, text)], paraphrase=(0.55, 0.08), **kw)
    assert built is not None and "disabled within 24 hours. [1]" in built.text
    # Not when another sentence is about as close: nothing stands out.
    assert extractive_reply(q, [chunk(1, text)], paraphrase=(0.55, 0.9), **kw) is None
    # Nor for a question the sentences do not answer at all.
    off = "What is the capital of Australia?"
    ov = embedder.embed([off])[0]
    assert (
        extractive_reply(off, [chunk(1, text)], ov, embedder.embed, paraphrase=(0.55, 0.08)) is None
    )


TRIAL = "Every new workspace gets a 14-day free trial of the Business plan."
UPTIME = (
    "plans.starter.uptime_sla_percent: 99.5\n"
    "plans.team.uptime_sla_percent: 99.9\n"
    "plans.business.uptime_sla_percent: 99.95\n"
    "plans.enterprise.uptime_sla_percent: 99.99\n"
)


def test_a_part_referring_back_is_answered_for_what_the_first_part_named() -> None:
    q = "Which plan does the free trial give you, and what uptime does that plan guarantee?"
    built = extractive_reply(q, [chunk(1, TRIAL), chunk(2, UPTIME)])
    assert built is not None
    assert "Business plan. [1]" in built.text
    # The Business row (named by the first part's answer), not the first uptime row.
    assert "plans.business.uptime_sla_percent: 99.95 [2]" in built.text
    assert "99.5 " not in built.text and "99.99" not in built.text
    # Given the model's answer to the first part, the second part follows it.
    given = extractive_reply(q, [chunk(1, TRIAL), chunk(2, UPTIME)], given="It is Team.")
    assert given is not None and "plans.team.uptime_sla_percent: 99.9 [2]" in given.text


def test_a_name_no_source_mentions_has_no_extract() -> None:
    from lockgate.engine.extractive import unknown_names

    chunks = [chunk(1, UPTIME)]
    assert unknown_names("What uptime does the Platinum plan guarantee?", chunks) == ["platinum"]
    assert extractive_reply("What uptime does the Platinum plan guarantee?", chunks) is None
    assert unknown_names("I'm Jan Vos. What uptime does the Team plan guarantee?", chunks) == []
    # Where the caller's organisation stands is context too: an answer that Business
    # customers get a call need not name the Team plan the caller is on.
    assert unknown_names("We're on the Platinum plan — is a call included?", chunks) == []
    assert unknown_names("Is a call included on the Platinum plan?", chunks) == ["platinum"]


def test_a_short_next_sentence_with_the_value_is_quoted_with_its_sentence() -> None:
    text = (
        "LogLevel Gives the verbosity level that is used when logging messages from ssh(1). "
        "The default is INFO. "
        "Other options are described elsewhere in this manual page."
    )
    q = "At which verbosity level does the ssh client log messages out of the box?"
    built = extractive_reply(q, [chunk(1, text)])
    assert built is not None
    assert "logging messages from ssh(1). The default is INFO. [1]" in built.text


def test_a_long_next_sentence_saying_what_is_asked_about_completes_its_sentence() -> None:
    text = (
        "We expect everyone to treat colleagues with respect. "
        "Harassment and discrimination are never acceptable. "
        "You can report a concern to your manager, to the People team, or anonymously "
        "through the ethics hotline at ethics.northwind.example. "
        "Reports are investigated within 14 days."
    )
    built = extractive_reply(
        "where can I report harassment without giving my name?", [chunk(1, text)]
    )
    assert built is not None
    assert "never acceptable. You can report a concern" in built.text
    assert "ethics.northwind.example" in built.text
    # A long next sentence about something else completes nothing.
    other = (
        "Harassment is never acceptable. Offices are open from 8:00 to 18:00 on weekdays "
        "and closed on every public holiday of the country they are in."
    )
    assert extractive_reply("Where can I report harassment?", [chunk(1, other)]) is None


def test_a_later_part_is_not_taken_as_answered_by_one_word_of_an_earlier_parts_sentence() -> None:
    text = (
        "Full-time employees receive 25 days of paid annual leave per calendar year. "
        "Part-time employees receive leave in proportion to their contract. "
        "Request leave in the HR portal at least two weeks in advance. "
        "You may carry over up to 5 unused leave days into the next year."
    )
    q = (
        "How many days of paid annual leave do full-time employees get? "
        "And how many of those can I take into next year?"
    )
    built = extractive_reply(q, [chunk(1, text)])
    assert built is not None
    assert "25 days" in built.text and "carry over up to 5" in built.text


HOP_SLA = (
    "| plans | uptime_sla_percent | p1_response |\n"
    "| team | 99.9 | 4 business hours |\n"
    "| business | 99.95 | 1 hour |"
)
HOP_PRICES = (
    "| plan | monthly_price_usd | support_level |\n"
    "| Team | 99 | Email (business hours) |\n"
    "| Business | 399 | 24/7 chat and email |"
)


def test_a_later_part_is_searched_again_with_what_the_earlier_part_named() -> None:
    q = (
        "Which plan promises a P1 response within 4 business hours, "
        "and what support level comes with it?"
    )
    asked: list[str] = []

    def search(query: str) -> list:
        asked.append(query)
        return [chunk(2, HOP_PRICES)]

    built = extractive_reply(q, [chunk(1, HOP_SLA)], search=search)
    assert built is not None
    assert "team" in asked[0].lower() and "plan" in asked[0]  # "... team plan"
    assert "4 business hours" in built.text and "Email (business hours)" in built.text
    # The second hop's chunk is cited after the context's and joins it.
    assert built.cited == [1, 2] and built.context[1].chunk_id == chunk(2, HOP_PRICES).chunk_id
    # Without a search the second part has no answer in the context.
    alone = extractive_reply(q, [chunk(1, HOP_SLA)])
    assert alone is not None and "Email" not in alone.text


def test_a_part_referring_back_is_judged_as_about_what_the_earlier_answer_named() -> None:
    offices = "We have offices in Rotterdam and Toronto, and a third of us work remotely."
    tiers = (
        "Hotel and meal limits depend on the city you travel to.\n\n"
        "| City tier | Example cities | Hotel per night | Meals per day |\n"
        "| Tier 1 | London, Tokyo | EUR 220 | EUR 75 |\n"
        "| Tier 2 | Berlin, Toronto | EUR 160 | EUR 55 |"
    )
    q = (
        "Apart from Rotterdam, where else does Northwind have an office, and what's the "
        "max I can spend on a hotel per night when I go there?"
    )
    built = extractive_reply(q, [chunk(1, tiers), chunk(2, offices)])
    assert built is not None
    assert "Toronto" in built.text and "EUR 160" in built.text and "EUR 220" not in built.text


TIERS = (
    "Hotel and meal limits depend on the city you travel to.\n\n"
    "| City tier | Example cities | Hotel per night | Meals per day |\n"
    "| Tier 1 | London, Tokyo | EUR 220 | EUR 75 |\n"
    "| Tier 2 | Berlin, Toronto | EUR 160 | EUR 55 |\n"
    "| Tier 3 | All other cities | EUR 110 | EUR 40 |"
)


def _with_meaning(q: str, chunks: list[RetrievedChunk], embedder) -> Extract | None:
    return extractive_reply(
        q,
        chunks,
        query_vector=embedder.embed([q])[0],
        embed=embedder.embed,
        min_semantic=0.6,
        semantic_weight=0.6,
    )


def test_a_city_the_table_does_not_list_is_asked_as_its_catch_all_row(embedder) -> None:
    q = "Trip to Lisbon next month, not one of the example cities. What hotel budget per night?"
    built = _with_meaning(q, [chunk(1, TIERS)], embedder)
    assert built is not None and "EUR 110" in built.text and "EUR 160" not in built.text
    # Without a word for the kind the row is for, an unknown name is still unknown ...
    assert extractive_reply("Does the Lisbon office have parking?", [chunk(1, TIERS)]) is None
    # ... unless the question puts it where a place goes and the row is for places.
    q = "Going to a workshop in Lisbon. What's the daily limit for meals there?"
    built = _with_meaning(q, [chunk(1, TIERS)], embedder)
    assert built is not None and "EUR 40" in built.text and "EUR 55" not in built.text


def test_a_default_stated_two_sentences_on_is_quoted_from_the_whole_chunk() -> None:
    whole = (
        "LogLevel Gives the verbosity level that is used when logging messages from ssh(1). "
        "The possible values are: QUIET, FATAL, ERROR, INFO, VERBOSE and DEBUG. "
        "The default is INFO. "
        "DEBUG2 and DEBUG3 each specify higher levels of verbose output."
    )
    # The prompt's selection kept the option's description and left its default out.
    shown = dataclasses.replace(chunk(1, whole), text=whole.split(" The possible values")[0])
    q = "At which verbosity level does the ssh client log messages out of the box?"
    assert extractive_reply(q, [shown]) is None
    built = extractive_reply(q, [shown], pool=[chunk(1, whole)])
    assert built is not None
    assert "and DEBUG. The default is INFO. [1]" in built.text
    assert "higher levels" not in built.text
    # The quote joins the context it is cited against.
    assert "The default is INFO." in built.context[0].text


def test_a_default_too_far_from_its_option_is_not_joined_to_it() -> None:
    text = (
        "Sets how many times a download is retried. "
        "Retrying helps when the network is down. "
        "A large value lets a slow host recover. "
        "Each retry waits longer than the last. "
        "The default is 20."
    )
    built = extractive_reply("How many times is a download retried by default?", [chunk(1, text)])
    assert built is None or "Sets how many times a download is retried. Retrying" not in built.text


def test_a_default_question_quotes_the_sentence_with_the_default_once() -> None:
    text = (
        "HTTPS (SSL/TLS) Options. "
        "To support encrypted downloads, Wget must be compiled with an external SSL library. "
        "The current default is GnuTLS. "
        "If Wget is compiled without SSL support, none of these options are available."
    )
    built = extractive_reply("Which TLS library does wget use by default?", [chunk(1, text)])
    assert built is not None and "The current default is GnuTLS. [1]" in built.text
    assert built.text.count("must be compiled with an external SSL library") == 1


def test_tiers_are_told_apart_by_the_questions_figure() -> None:
    table = (
        "| City tier | Example cities | Hotel per night | Meals per day |\n"
        "| Tier 1 | London, New York | EUR 220 | EUR 75 |\n"
        "| Tier 2 | Berlin, Madrid | EUR 160 | EUR 55 |\n"
        "| Tier 3 | All other cities | EUR 110 | EUR 40 |\n"
    )
    q = "What is the hotel limit per night in Tier 1 cities? What about meals?"
    built = extractive_reply(q, [chunk(1, table)])
    assert built is not None
    assert built.text == "City tier: Tier 1, Hotel per night: EUR 220, Meals per day: EUR 75 [1]"


def test_a_possessive_name_is_a_name_not_a_topic_word() -> None:
    # "Cloud's" names the company: "cloud" is then no word the answer must share.
    q = "Which cloud provider hosts Northwind Cloud's servers?"
    assert name_words(q) == {"northwind", "cloud"}
    assert topic_words(q) == {"provider", "host", "server"}
    chunks = [chunk(1, "This handbook explains how we work together at Northwind Cloud.")]
    assert extractive_reply(q, chunks) is None


def test_a_name_and_most_of_the_other_words_answer_without_the_companys_name() -> None:
    # The company's name is in the question, not in the sentence that answers it; the
    # sentence shares the office's city and "office", half of the question's words.
    text = (
        "We have offices in Rotterdam and Toronto, and about a third of our people work "
        "remotely. Our standard working week is 40 hours at Northwind Cloud."
    )
    q = "Besides Rotterdam, in which city does Northwind Cloud have an office?"
    built = extractive_reply(q, [chunk(1, text)])
    assert built is not None and "Toronto" in built.text
    # Without a name in common, half of the other words are not enough.
    assert (
        extractive_reply("In which city does the company have an office?", [chunk(1, text)]) is None
    )


def test_the_second_hop_goes_through_a_sentence_answering_the_first_part() -> None:
    offices = chunk(
        1,
        "Northwind Cloud builds file collaboration software. We have offices in Rotterdam "
        "and Toronto, and about a third of our people work remotely.",
    )
    tiers = chunk(
        2,
        "| City tier | Example cities | Hotel per night | Meals per day |\n"
        "| Tier 1 | London, New York | EUR 220 | EUR 75 |\n"
        "| Tier 2 | Berlin, Toronto, Madrid | EUR 160 | EUR 55 |\n"
        "| Tier 3 | All other cities | EUR 110 | EUR 40 |\n",
    )
    q = (
        "Besides Rotterdam, in which city does Northwind Cloud have an office, and what is "
        "the hotel limit per night there?"
    )
    built = extractive_reply(q, [offices, tiers])
    assert built is not None
    assert "Toronto" in built.text and "EUR 160" in built.text, built.text
    assert "EUR 220" not in built.text and built.cited == [1, 2]


def test_a_question_in_the_sources_is_not_its_own_answer() -> None:
    chunks = [
        chunk(
            1,
            "Q: Do you have a status page? A: Yes, at status.example.org. "
            "Q: What are the API rate limits? A: The API rate limit is 600 requests per minute.",
        )
    ]
    # The FAQ's own question shares every word with the user's; its answer is what counts.
    built = extractive_reply("What are the API rate limits?", chunks)
    assert built is not None and "600 requests" in built.text
    assert all(not s.text.startswith("Q:") and not s.text.endswith("?") for s in built.sentences)


def test_a_sentence_referring_back_completes_the_one_before() -> None:
    text = (
        "Choose a workspace name. It must be 3 to 32 characters long and may contain only "
        "lowercase letters, digits and hyphens, and the name cannot be changed later on."
    )
    built = extractive_reply("What's the maximum length of a workspace name?", [chunk(1, text)])
    assert built is not None and "3 to 32 characters" in built.text
    # The tail's year is when, not how many: no extract from it.
    policy = (
        "This policy covers business travel for all Northwind Cloud employees. It is owned by "
        "the Finance team and was last updated in January 2025 after the yearly review."
    )
    assert (
        extractive_reply("How many employees does Northwind Cloud have?", [chunk(1, policy)])
        is None
    )


def test_a_table_row_naming_what_the_question_names_answers() -> None:
    table = (
        "| City tier | Example cities | Hotel per night | Meals per day |\n"
        "| Tier 1 | London, New York, Tokyo | EUR 220 | EUR 75 |\n"
        "| Tier 2 | Berlin, Toronto, Madrid | EUR 160 | EUR 55 |\n"
        "| Tier 3 | All other cities | EUR 110 | EUR 40 |"
    )
    prose = "Hotel and meal limits depend on the city you travel to."
    built = extractive_reply(
        "What is the daily meal allowance on a business trip to Madrid?",
        [chunk(1, prose + "\n\n" + table)],
    )
    assert built is not None and "55" in built.text and "75" not in built.text


def test_a_sentence_far_ahead_of_the_rest_answers() -> None:
    text = (
        "New employees receive a laptop on their first day. Laptops are replaced every 3 years. "
        "Any single work purchase above EUR 500 needs approval from your manager before you "
        "buy it. Business travel has its own rules."
    )
    q = "Can I buy work equipment on my own, or above what amount do I need my manager's OK?"
    built = extractive_reply(q, [chunk(1, text)])
    assert built is not None and "EUR 500" in built.text and "laptop" not in built.text


def test_a_later_part_short_of_words_is_answered_by_the_next_sentence() -> None:
    text = (
        "Staff may buy back up to 3 unused training days from the yearly allowance. "
        "Bought-back days have to be taken before 30 September, or they lapse. "
        "Training requests go to the learning team."
    )
    other = "Every invoice has a payment deadline of 14 days after it is issued."
    q = "Can I buy back some training days I did not use, and is there a deadline to take them?"
    built = extractive_reply(q, [chunk(1, text), chunk(2, other)])
    assert built is not None
    assert "up to 3" in built.text and "30 September" in built.text
    # The other document's deadline shares the word, not the subject.
    assert "14 days" not in built.text and built.cited == [1]


def test_a_message_leading_in_with_something_else_is_answered_by_its_question() -> None:
    text = (
        "Staff who cycle to work get a bike allowance of EUR 0.19 per kilometre. "
        "Parking at the office is free for visitors. The canteen opens at 11:30."
    )
    q = "Text me at +44 7700 900123 later, but first: what is the bike allowance per kilometre?"
    built = extractive_reply(q, [chunk(1, text)])
    assert built is not None and "EUR 0.19" in built.text
    # The lead-in still counts where it names what the sources do not know.
    other = "Ask Priya Raman about it first. But then: what is the bike allowance per kilometre?"
    assert extractive_reply(other, [chunk(1, text)]) is None


def test_the_callers_own_codes_are_context_not_unknown_names() -> None:
    text = "Payment by bank transfer is accepted on yearly Pro plans. Cards are accepted on all."
    q = "Our IBAN is DE44 5001 0517 5407 3249 31. Can we pay by bank transfer on the Pro plan?"
    built = extractive_reply(q, [chunk(1, text)])
    assert built is not None and "bank transfer" in built.text
    # Redacted by the input guard first, the same.
    redacted = "Our IBAN is <IBAN_CODE_1>. Can we pay by bank transfer on the Pro plan?"
    assert extractive_reply(redacted, [chunk(1, text)]) is not None
    # A place the organisation names about itself is still what it asks about.
    where = "Our team is in Antarctica. Can we pay by bank transfer there on the Pro plan?"
    assert extractive_reply(where, [chunk(1, text)]) is None


def test_a_later_part_in_other_words_is_answered_by_the_next_sentence(embedder) -> None:
    text = (
        "Every engineer has a conference budget of EUR 900 per calendar year. "
        "Unused budget does not carry over. "
        "Laptops are replaced every three years."
    )
    q = "How much can I spend on conferences per year, and does whatever I don't spend roll over?"
    kw = {"query_vector": embedder.embed([q])[0], "embed": embedder.embed}
    built = extractive_reply(q, [chunk(1, text)], **kw)
    assert built is not None
    assert "EUR 900" in built.text and "does not carry over" in built.text
    assert "Laptops" not in built.text
    # Without the embedder, sharing no word, the next sentence is not taken for the answer.
    plain = extractive_reply(q, [chunk(1, text)])
    assert plain is None or "carry over" not in plain.text


def test_the_row_after_a_table_row_is_another_record_not_a_later_parts_answer(embedder) -> None:
    prices = (
        "| plan | monthly_price_usd | annual_price_usd_per_month | support_level |\n"
        "| Team | 99 | 84 | Email |\n"
        "| Business | 399 | 339 | 24/7 chat and email |\n"
        "| Enterprise | custom | custom | 24/7 phone and dedicated success manager |"
    )
    sla = (
        "| plans | uptime_sla_percent | support_response_times.P1_critical |\n"
        "| team | 99.9 | 4 hours |\n"
        "| business | 99.95 | 1 hour |\n"
        "| enterprise | 99.99 | 15 minutes |"
    )
    q = (
        "What is the monthly price of the Business plan, and how quickly is a P1 critical "
        "issue answered on that plan?"
    )
    kw = {"query_vector": embedder.embed([q])[0], "embed": embedder.embed}
    built = extractive_reply(q, [chunk(1, sla), chunk(2, prices)], **kw)
    assert built is not None
    assert "399" in built.text and "1 hour" in built.text
    assert "custom" not in built.text  # the Enterprise row after the Business row


def test_a_comparison_of_two_rows_quotes_both() -> None:
    table = (
        "| plan | monthly_price_usd | storage_gb | support_level |\n"
        "| Starter | 29 | 100 | Community forum |\n"
        "| Team | 99 | 1000 | Email (business hours) |\n"
        "| Business | 399 | 5000 | 24/7 chat and email |\n"
        "| Enterprise | custom | custom | Dedicated manager |\n"
    )
    # Team's row names Business too ("business hours"), so it comes first and, on its
    # own, would be the whole answer.
    q = "How much more storage does Business give you compared to Team?"
    built = extractive_reply(q, [chunk(1, table)])
    assert built is not None
    assert "storage_gb: 5000" in built.text and "storage_gb: 1000" in built.text
    assert "Starter" not in built.text
    # Not a comparison: the one row asked about.
    built = extractive_reply("How much storage does the Business plan give you?", [chunk(1, table)])
    assert built is not None and built.text == "plan: Business, storage_gb: 5000 [1]"


def test_of_two_rules_the_one_whose_threshold_the_case_meets_is_quoted() -> None:
    travel = (
        "Fly economy class on flights shorter than 6 hours. Premium economy is allowed on "
        "flights of 6 hours or longer; business class needs director approval."
    )
    built = extractive_reply(
        "For a nine-hour flight, which cabin class may I book?", [chunk(1, travel)]
    )
    assert built is not None and built.text.startswith("Premium economy")
    built = extractive_reply(
        "For a two-hour flight, which cabin class may I book?", [chunk(1, travel)]
    )
    assert built is not None and built.text.startswith("Fly economy")


def test_a_part_asking_for_a_figure_is_completed_by_the_next_sentence() -> None:
    guide = (
        "Choose a workspace name. It must be 3 to 32 characters long and may contain only "
        "lowercase letters, digits and hyphens. The name cannot be changed later. A workspace "
        "can have up to 5 owners."
    )
    q = "How long can our workspace name be, and can we rename it later?"
    built = extractive_reply(q, [chunk(1, guide)])
    assert built is not None
    assert "3 to 32 characters" in built.text and "cannot be changed" in built.text
    assert "5 owners" not in built.text


def test_an_faq_answer_counts_its_question_heading() -> None:
    faq = (
        "A: Registered nonprofit organisations and accredited schools get 30% off any annual "
        "plan. Apply through the form on our website; we need proof of status."
    )
    under = dataclasses.replace(
        chunk(1, faq), heading_path=["Q: Do you offer discounts for nonprofits or schools?"]
    )
    built = extractive_reply("do charities get a discount?", [under])
    # The answer shares only "get" with the question; its heading has "discount". The
    # heading is matched, never quoted, and the answer's "A:" label is left out.
    assert built is not None and built.text.startswith("Registered nonprofit")
    assert "30% off" in built.text and "Do you offer" not in built.text
    assert extractive_reply("do charities get a discount?", [chunk(1, faq)]) is None


def test_the_table_row_whose_threshold_the_questions_figure_meets_is_quoted() -> None:
    credits = (
        "| service_credits | monthly_uptime_below_percent | credit_percent_of_monthly_fee |\n"
        "| 0 | 95.0 | 50 |\n"
        "| 1 | 99.0 | 25 |\n"
        "| 2 | plan SLA | 10 |"
    )
    q = "Our uptime was 98% last month: what service credit do we get?"
    built = extractive_reply(q, [chunk(1, credits)])
    # Below 99.0 %, not below 95.0 %: the 25 % row, not the 50 % one beside it.
    assert built is not None and "credit_percent_of_monthly_fee: 25" in built.text
    assert "credit_percent_of_monthly_fee: 50" not in built.text


def test_a_name_is_not_mentioned_by_a_lower_case_word_of_another_form() -> None:
    from lockgate.engine.extractive import unknown_names

    guide = chunk(
        1,
        "The nwc command-line tool syncs local folders with Northwind Cloud. Signing in "
        "opens a browser window. | plans | support_response_times.P2_high |",
    )
    # "window" is a word of the guide, not the name "Windows".
    assert unknown_names("Does the nwc command-line tool run on Windows?", [guide]) == ["windows"]
    assert extractive_reply("Does the nwc command-line tool run on Windows?", [guide]) is None
    # A key's part as it is names it; another form of a capitalised word does too.
    assert unknown_names("How fast is a P2 ticket answered?", [guide]) == []
    assert unknown_names("Does it work with Northwind Clouds?", [guide]) == []


def test_the_callers_introduction_is_context_not_the_subject() -> None:
    from lockgate.engine.extractive import (
        about_someone,
        introduces_caller,
        unknown_names,
        without_introduction,
    )

    hr = [chunk(1, "Approved claims are reimbursed with the next monthly payroll.")]
    for intro in (
        "Hi, Marta Jansen here (<EMAIL_1>).",
        "Lena Hoffmann, IBAN <IBAN_1>, <EMAIL_1>.",
        "Hello, Daniel Okafor, customer number NW-448213.",
        "This is Kenji Watanabe, customer number NW-552190, phone <PHONE_1>.",
    ):
        assert introduces_caller(intro), intro
        q = f"{intro} When are approved claims paid?"
        assert not about_someone(q, hr)
        assert unknown_names(q, hr) == []
        assert without_introduction(q) == "When are approved claims paid?"
        built = extractive_reply(q, hr)
        assert built is not None and "next monthly payroll" in built.text
    # A sentence that says more than who the caller is, an amount, or someone else's data
    # is kept: it may be what the question is about.
    for said in (
        "I invited <EMAIL_1> to our workspace ten days ago but the link fails.",
        "A customer is asking for a $7,000 refund.",
        "Her address is <EMAIL_1>.",
        "Is <EMAIL_1> on the Team plan?",
    ):
        assert not introduces_caller(said), said
    assert about_someone("Her address is <EMAIL_1>. What is her salary?", hr)
    # Nothing is dropped: the message as it is, separators and all.
    assert without_introduction("We have 800 staff; is there a way?") == (
        "We have 800 staff; is there a way?"
    )
    assert without_introduction("Hi, Marta here (<EMAIL_1>).") == "Hi, Marta here (<EMAIL_1>)."


def test_sentences_that_do_not_answer_are_not_quoted() -> None:
    text = (
        "Overtime must be agreed with your manager in advance. Extra hours can be taken "
        "back as time off within three months. Employees receive 10 days of paid sick leave "
        "per year. Birth parents receive 16 weeks of fully paid parental leave. This policy "
        "covers business travel for all employees."
    )
    chunks = [chunk(1, text)]
    for q in (
        "Is there a max number of overtime hours I can put in per month?",
        "What happens to my salary if I'm sick for longer than the 10 paid sick days?",
        "How long can I take unpaid leave for?",
        "Does the company cover my health insurance while I'm abroad?",
    ):
        assert extractive_reply(q, chunks) is None, q
    # The same sentences answer what they are about.
    built = extractive_reply("How many days of paid sick leave do employees get?", chunks)
    assert built is not None and "10 days" in built.text
    built = extractive_reply("How many weeks of parental leave do birth parents get?", chunks)
    assert built is not None and "16 weeks" in built.text

"""The answer check through `run_turn` (the default pipeline and guardrail policy, the sample
corpus ingested, a scripted upstream on loopback in place of the model): an unsupported answer
becomes an extractive one with correct citations and is marked; a supported one passes as the
model gave it; a question the sources do not answer is still refused."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from lockgate.config import ModelSpec
from lockgate.engine.extractive import extractive_reply
from lockgate.engine.run import Engine, Reply
from lockgate.engine.stages.answer_check import _other_figures, _rows_agree
from lockgate.engine.turn import Call
from lockgate.ingest.pipeline import Ingestor
from lockgate.services import Services
from tests.conftest import PASSTHROUGH_RESILIENCE, SAMPLES, make_services, make_settings
from tests.engine.test_sentences import chunk
from tests.support.scripted_upstream import create_scripted_upstream
from tests.support.server import serve

RULES = [
    # Garbled: nothing of it is in the sources.
    ("full refund on an annual plan", "Refunds are granted by the moon council every leap year."),
    # Right, in the sources' words.
    ("application logs retained", "Application logs are retained for 90 days."),
    # A good first sentence, then an invented one.
    (
        "critical vulnerabilities",
        "Critical vulnerabilities are patched within 7 days. "
        "The patches are approved by Captain Nemo on Saturn.",
    ),
    ("chief executive officer", "The CEO is Elon Zuckerberg."),
    # Supported by a source, but about something else than the question.
    (
        "how many employees",
        "Northwind Cloud was founded in 2016 and builds file "
        "collaboration software for design and engineering teams.",
    ),
    ("dogs", "I don't know."),
    ("billing records kept", "Billing records are kept for 90 days."),
    (
        "who founded",
        "Northwind Cloud was founded in 2016 and builds file collaboration "
        "software for design and engineering teams.",
    ),
    ("euro area", "It is SEPA."),
    ("customers in mars", "It is Zorblat."),
    ("penetration test", "Critical vulnerabilities are fixed within 7 days."),
    # Supported word by word, but "business uptime" is no figure: the uptime part is open.
    (
        "does the free trial give you",
        "The free trial plan gives you 14 days of business uptime. [1]",
    ),
    ("free trial", "The trial lasts one full moon."),
    # One row's name with another row's figure and notes.
    (
        "attachments of support tickets",
        "| Support tickets | 1 year | Enterprise customers can export them at any time |",
    ),
    # On the topic ("members"), supported, no period.
    (
        "staff member departs",
        "Go to Settings > Members > Invite and enter email addresses, one per line.",
    ),
    # A possessive name: "Cloud's" is not the question's word "cloud".
    ("cloud provider hosts", "This handbook explains how we work together at Northwind Cloud."),
    # Supported, and shares "employee", "home" and "salary" with a question about a person.
    (
        "salary of employee",
        "Every employee who works from home at least two days a week receives a one-time "
        "home office budget of EUR 600 for a desk, chair or monitor, plus an internet "
        "allowance of EUR 40 per month paid with the salary.",
    ),
    # A plan no source names, answered with a row the sources do have (another plan's).
    ("platinum plan", "The Starter plan guarantees 99.5 percent uptime. [1]"),
    # The question said again, then the answer.
    (
        "api tokens expire",
        "When do API tokens expire by default? Answer: Tokens expire after 90 days by default.",
    ),
]


@pytest.fixture(scope="module")
def upstream() -> Iterator[Any]:
    app = create_scripted_upstream(RULES)
    with serve(app) as base:
        app.state.base = base
        yield app


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    # One loop for the module: the upstream client the services keep is bound to it.
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def services(tmp_path_factory, embedder, upstream) -> Services:
    home = tmp_path_factory.mktemp("answer-check") / "home"
    base = make_settings(home, None, guardrails={})  # the default policy
    spec = ModelSpec(
        backend="openai",
        base_url=upstream.state.base + "/v1",
        context_window=8192,
        resilience=PASSTHROUGH_RESILIENCE,
    )
    grounded = base.grounded.model_copy(update={"model": "scripted"})
    settings = base.model_copy(
        update={"models": {**base.models, "scripted": spec}, "grounded": grounded}
    )
    services = make_services(settings, embedder)
    Ingestor(services.documents, services.runs, embedder, settings.ingest).run([str(SAMPLES)])
    return services


def ask(
    loop: asyncio.AbstractEventLoop, services: Services, question: str, stream: bool
) -> tuple[Reply, str]:
    body = {
        "model": "lockgate",
        "stream": stream,
        "lockgate": {"cache": False},
        "messages": [{"role": "user", "content": question}],
    }

    async def go() -> tuple[Reply, str]:
        reply = await Engine(services).run_turn(Call("/v1/chat/completions", body))
        text = ""
        if reply.streaming:
            async for d in reply.deltas():
                text += d.text
        return reply, text

    return loop.run_until_complete(go())


def sources(reply: Reply) -> list[str]:
    return [c["source"] for c in reply.answer.citations]


@pytest.mark.parametrize("stream", [False, True])
def test_an_unsupported_answer_becomes_extractive_with_citations(loop, services, stream) -> None:
    question = "Within how many days can a customer get a full refund on an annual plan?"
    reply, streamed = ask(loop, services, question, stream)
    answer = reply.answer
    assert "moon council" not in answer.text and "moon" not in streamed
    assert "30 days" in answer.text
    assert answer.extractive and not answer.refused
    assert sources(reply) and all(s.endswith("refund-policy.md") for s in sources(reply))
    marked = reply.lockgate_object()
    assert marked["answer_mode"] == "extractive" and marked["extractive"] is True
    if stream:
        assert streamed.startswith(answer.text.split(" [")[0])
    # The trace says why.
    trace = services.traces.get(reply.call.trace_id)
    assert trace is not None
    notes = [s["note"] for s in trace["stages"] if s["stage"] == "answer_check" and s["note"]]
    assert len(notes) == 1 and notes[0].startswith("extractive: unsupported")


@pytest.mark.parametrize("stream", [False, True])
def test_a_supported_answer_passes_unchanged(loop, services, stream) -> None:
    reply, streamed = ask(loop, services, "How long are application logs retained?", stream)
    answer = reply.answer
    assert answer.text.startswith("Application logs are retained for 90 days.")
    assert not answer.extractive and "answer_mode" not in reply.lockgate_object()
    assert any(s.endswith("security-policy.html") for s in sources(reply))
    if stream:
        assert streamed.startswith("Application logs are retained for 90 days.")


@pytest.mark.parametrize("stream", [False, True])
def test_an_unsupported_later_sentence_is_cut(loop, services, stream) -> None:
    reply, streamed = ask(
        loop, services, "How quickly must critical vulnerabilities be patched?", stream
    )
    answer = reply.answer
    assert "7 days" in answer.text and "Nemo" not in answer.text and "Nemo" not in streamed
    assert not answer.extractive


@pytest.mark.parametrize("stream", [False, True])
def test_a_question_the_sources_cannot_answer_is_refused(loop, services, stream) -> None:
    refusal = services.settings.grounded.refusal_message
    reply, _ = ask(loop, services, "Who is the chief executive officer of Northwind Cloud?", stream)
    assert reply.answer.refused and reply.answer.text == refusal
    assert not reply.answer.extractive and "Zuckerberg" not in reply.answer.text
    reply, _ = ask(loop, services, "Which dogs does the refund policy allow in the office?", stream)
    assert reply.answer.refused and not reply.answer.extractive
    reply, _ = ask(loop, services, "How many employees does Northwind Cloud have?", stream)
    assert reply.answer.refused and "2016" not in reply.answer.text


@pytest.mark.parametrize("stream", [False, True])
def test_an_echoed_question_is_not_part_of_the_answer(loop, services, stream) -> None:
    reply, streamed = ask(loop, services, "When do API tokens expire by default?", stream)
    answer = reply.answer
    assert answer.text.startswith("Tokens expire after 90 days by default.")
    assert "?" not in answer.text and "Answer:" not in answer.text
    assert not answer.extractive
    if stream:
        assert streamed.startswith("Tokens expire after 90 days")


def test_a_neighbouring_rows_figure_gives_way_to_the_extract(loop, services) -> None:
    # "90 days" is in the retention table too, on another row: supported, but not the
    # answer; the extract quotes the row the question is about.
    reply, _ = ask(loop, services, "How long are billing records kept?", False)
    answer = reply.answer
    assert answer.extractive and "7 years" in answer.text and "90 days" not in answer.text
    assert any(s.endswith("security-policy.html") for s in sources(reply))


@pytest.mark.parametrize("stream", [False, True])
def test_an_answer_of_the_wrong_kind_is_not_shipped(loop, services, stream) -> None:
    # Asked who, the model says when: supported, no answer; no source names a founder.
    reply, streamed = ask(loop, services, "Who founded Northwind Cloud?", stream)
    assert reply.answer.refused and "2016" not in reply.answer.text and "2016" not in streamed
    assert not reply.answer.extractive


def test_a_short_answer_naming_something_is_checked_and_kept(loop, services) -> None:
    reply, _ = ask(
        loop, services, "Which direct debit scheme can customers in the euro area pay with?", False
    )
    assert reply.answer.text.startswith("It is SEPA.") and not reply.answer.extractive
    reply, _ = ask(loop, services, "Which direct debit scheme do customers in Mars use?", False)
    assert "Zorblat" not in reply.answer.text


@pytest.mark.parametrize("stream", [False, True])
def test_a_half_answered_two_part_question_gets_the_other_part_quoted(
    loop, services, stream
) -> None:
    question = (
        "How quickly must a critical vulnerability be fixed, and how often is a "
        "penetration test performed?"
    )
    reply, streamed = ask(loop, services, question, stream)
    answer = reply.answer
    assert answer.text.startswith("Critical vulnerabilities are fixed within 7 days.")
    assert "penetration test once a year" in answer.text
    assert not answer.refused
    assert any(s.endswith("security-policy.html") for s in sources(reply))
    if stream:
        assert "penetration test once a year" in streamed


@pytest.mark.parametrize("stream", [False, True])
def test_the_callers_redacted_data_does_not_stop_the_extract(loop, services, stream) -> None:
    # The card number is redacted to a placeholder; its words ("credit card") are not
    # what the question is about, so the trial's sentence is still quoted.
    reply, streamed = ask(
        loop, services, "I paid with card 4111 1111 1111 1111. How long is the free trial?", stream
    )
    answer = reply.answer
    assert answer.extractive and "14-day" in answer.text, answer.text
    assert "4111" not in answer.text
    assert any(s.endswith("faq.txt") for s in sources(reply))


@pytest.mark.parametrize("stream", [False, True])
def test_an_answer_for_a_name_no_source_mentions_is_refused(loop, services, stream) -> None:
    reply, streamed = ask(loop, services, "What uptime does the Platinum plan guarantee?", stream)
    assert reply.answer.refused, reply.answer.text
    assert "99.5" not in reply.answer.text and "99.5" not in streamed


@pytest.mark.parametrize("stream", [False, True])
def test_a_question_about_another_persons_data_is_refused(loop, services, stream) -> None:
    reply, streamed = ask(
        loop,
        services,
        "What is the home address and salary of employee jane.doe@example.com?",
        stream,
    )
    assert reply.answer.refused
    assert "EUR 600" not in reply.answer.text and "EUR 600" not in streamed


@pytest.mark.parametrize("stream", [False, True])
def test_a_supported_claim_left_uncited_gets_its_sources_marker(loop, services, stream) -> None:
    import re

    # The scripted model answers without a marker.
    reply, streamed = ask(loop, services, "How long are application logs retained?", stream)
    m = re.match(r"Application logs are retained for 90 days\. \[(\d)\]", reply.answer.text)
    assert m is not None, reply.answer.text
    cited = [c for c in reply.answer.citations if c["index"] == int(m.group(1))]
    assert cited and cited[0]["source"].endswith("security-policy.html")
    if stream:
        assert streamed.startswith(m.group(0))


RETENTION = (
    "| Data category | Retention period | Notes |\n"
    "| Audit logs | 1 year | Enterprise customers can export them at any time |\n"
    "| Support tickets | 3 years | Attachments are deleted after 1 year |\n"
)


def test_a_table_row_must_be_a_row_of_the_sources() -> None:
    context = [chunk(1, RETENTION)]
    assert _rows_agree(
        "| Support tickets | 3 years | Attachments are deleted after 1 year |", context
    )
    # Markers between the cells, and two rows on one line, are still the sources' rows.
    assert _rows_agree(
        "| Audit logs | 1 year | [1] | Enterprise customers can export them at any time | [1] "
        "| Support tickets | 3 years |",
        context,
    )
    # A cell left out is fine; one row's name with another's figure is not.
    assert _rows_agree("| Support tickets | Attachments are deleted after 1 year |", context)
    assert not _rows_agree(
        "| Support tickets | 1 year | Enterprise customers can export them at any time |", context
    )
    assert not _rows_agree("| Support tickets | 90 days |", context)
    # Not a table row: the scanner's verdict stands.
    assert _rows_agree("Support tickets are kept for 3 years.", context)


def test_a_covered_part_with_none_of_its_sources_figures_is_open() -> None:
    faq = chunk(1, "Every new workspace gets a 14-day free trial of the Business plan.")
    sla = chunk(
        2,
        "plans.team.uptime_sla_percent: 99.9\nplans.business.uptime_sla_percent: 99.95\n"
        "plans.enterprise.uptime_sla_percent: 99.99",
    )
    q = "Which plan does the free trial give you, and what uptime does that plan guarantee?"
    built = extractive_reply(q, [faq, sla])
    assert built is not None and "99.95" in built.text, built.text
    first, second = (
        "Which plan does the free trial give you",
        "what uptime does that plan guarantee?",
    )
    given = "The free trial plan gives you 14 days of business uptime."
    assert not _other_figures(first, q, given, built)
    assert _other_figures(second, q, given, built)
    assert not _other_figures(second, q, given + " The Business plan guarantees 99.95%.", built)


@pytest.mark.parametrize("stream", [False, True])
def test_a_mixed_table_row_gives_way_to_the_extract(loop, services, stream) -> None:
    reply, streamed = ask(
        loop, services, "How long do you keep the attachments of support tickets?", stream
    )
    answer = reply.answer
    assert "Support tickets | 1 year" not in answer.text and "export them" not in streamed
    assert answer.extractive and "Attachments are deleted after 1 year" in answer.text
    assert any(s.endswith("security-policy.html") for s in sources(reply))


@pytest.mark.parametrize("stream", [False, True])
def test_a_how_soon_answer_without_a_period_gives_way_to_the_extract(
    loop, services, stream
) -> None:
    reply, streamed = ask(
        loop, services, "How soon after a staff member departs is their login switched off?", stream
    )
    assert "Invite" not in reply.answer.text and "Invite" not in streamed
    assert reply.answer.extractive or reply.answer.refused


@pytest.mark.parametrize("stream", [False, True])
def test_a_supported_sentence_sharing_only_a_possessive_name_is_refused(
    loop, services, stream
) -> None:
    reply, streamed = ask(
        loop, services, "Which cloud provider hosts Northwind Cloud's servers?", stream
    )
    assert reply.answer.refused and "handbook" not in streamed


@pytest.mark.parametrize("stream", [False, True])
def test_a_part_answered_without_its_figure_gets_the_sources_sentence(
    loop, services, stream
) -> None:
    q = "Which plan does the free trial give you, and what uptime does that plan guarantee?"
    reply, streamed = ask(loop, services, q, stream)
    answer = reply.answer
    assert answer.text.startswith("The free trial plan gives you 14 days")
    assert "99.95" in answer.text and "99.99" not in answer.text, answer.text
    assert any(s.endswith("service-levels.json") for s in sources(reply))
    if stream:
        assert "99.95" in streamed


@pytest.fixture(scope="module")
def quoting(loop, services) -> Iterator[Services]:
    # The same store and upstream, answering in `extract_first` mode.
    grounded = services.settings.grounded.model_copy(update={"answer_mode": "extract_first"})
    other = make_services(
        services.settings.model_copy(update={"grounded": grounded}), services.embedder
    )
    yield other
    loop.run_until_complete(other.models.aclose())


@pytest.mark.parametrize("stream", [False, True])
def test_extract_first_quotes_the_sources_without_asking_the_model(
    loop, services, quoting, upstream, stream
) -> None:
    question = "Within how many days can a customer get a full refund on an annual plan?"
    calls = len(upstream.state.calls)
    reply, streamed = ask(loop, quoting, question, stream)
    answer = reply.answer
    assert len(upstream.state.calls) == calls  # the model was not asked
    assert answer.extractive and not answer.refused and "30 days" in answer.text
    assert sources(reply) and all(s.endswith("refund-policy.md") for s in sources(reply))
    assert reply.lockgate_object()["answer_mode"] == "extractive"
    if stream:
        assert streamed.startswith(answer.text.split(" [")[0])
    trace = services.traces.get(reply.call.trace_id)
    assert trace is not None
    notes = [s["note"] for s in trace["stages"] if s["stage"] == "answer_check" and s["note"]]
    assert notes == ["extractive: quoted first"]
    # The same extract the generate mode falls back to when the model's answer is garbled.
    generated, _ = ask(loop, services, question, stream)
    assert generated.answer.extractive and generated.answer.text == answer.text


def test_extract_first_asks_the_model_when_no_source_sentence_fits(loop, quoting, upstream) -> None:
    calls = len(upstream.state.calls)
    reply, _ = ask(loop, quoting, "Who is the chief executive officer of Northwind Cloud?", False)
    assert len(upstream.state.calls) == calls + 1
    # ... and its answer is checked as ever: the invented CEO is not shipped.
    assert reply.answer.refused and "Zuckerberg" not in reply.answer.text


def test_auto_quotes_first_only_for_the_built_in_tiny_model(services) -> None:
    from lockgate.config import GroundedConfig
    from lockgate.engine.stages.answer_check import TINY_MODEL, AnswerCheck

    config = GroundedConfig()
    assert config.answer_mode == "auto" and config.model == TINY_MODEL
    stage = AnswerCheck(services.guard, config, services.embedder)
    turn = type("T", (), {"backend_model": TINY_MODEL})()
    assert stage.quotes_first(turn)  # type: ignore[arg-type]
    turn.backend_model = "scripted"  # type: ignore[attr-defined]
    assert not stage.quotes_first(turn)  # type: ignore[arg-type]

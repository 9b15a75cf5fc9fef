"""Metrics for evaluation runs: pure, typed functions with no dependency beyond the standard
library. retrieval.py scores a ranked list of sources, answer.py an answer against a reference,
faithfulness.py an answer against the context it was given (no LLM judge)."""

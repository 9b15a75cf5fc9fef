"""Choose a scanner rule's threshold from labelled examples of the traffic it will see.

A detector's score means different things for different users: a support bot's customers
write short imperatives ("cancel everything"), a security team asks about jailbreaks all day.
One global threshold either blocks the second or lets attacks through the first, so each
policy's rule gets its own threshold, read off that policy's own benign and attack samples:
the lowest threshold whose false-alarm rate on the benign samples stays within the allowed
share (the lowest such threshold catches the most attacks), and the recall it then has."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from lockgate.guardrails.base import Finding

# Below this a rule never sees a finding: scanners drop weaker ones (e.g. the injection
# scanner's report floor), so a lower threshold would promise recall that is not there.
MIN_THRESHOLD = 0.3


@dataclass(frozen=True)
class Point:
    threshold: float
    fpr: float
    recall: float
    benign_flagged: int
    attacks_caught: int


@dataclass(frozen=True)
class Calibration:
    threshold: float
    fpr: float
    recall: float
    benign: int
    attacks: int
    max_fpr: float
    min_recall: float
    curve: list[Point] = field(default_factory=list)

    @property
    def met(self) -> bool:
        return self.fpr <= self.max_fpr and self.recall >= self.min_recall

    def as_dict(self) -> dict[str, object]:
        return {
            "threshold": self.threshold,
            "fpr": self.fpr,
            "recall": self.recall,
            "benign": self.benign,
            "attacks": self.attacks,
            "max_fpr": self.max_fpr,
            "min_recall": self.min_recall,
            "met": self.met,
            "curve": [p.__dict__ for p in self.curve],
        }


def text_score(scan: Callable[[str], list[Finding]], text: str) -> float:
    """The strongest finding of one text: a rule with threshold t fires exactly when t is at
    most this."""
    return max((f.score for f in scan(text)), default=0.0)


def _point(t: float, benign: Sequence[float], attacks: Sequence[float]) -> Point:
    flagged = sum(s >= t for s in benign)
    caught = sum(s >= t for s in attacks)
    return Point(
        round(t, 4),
        flagged / len(benign) if benign else 0.0,
        caught / len(attacks) if attacks else 0.0,
        flagged,
        caught,
    )


def calibrate(
    benign: Sequence[float],
    attacks: Sequence[float],
    max_fpr: float,
    min_recall: float = 0.0,
    curve_at: Sequence[float] = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
) -> Calibration:
    """The lowest threshold with FPR <= `max_fpr` on `benign` (each a text's score).

    Candidates are the scores themselves, nudged just above a benign score so that text is
    not flagged; ties between a benign and an attack score go to not flagging."""
    if not benign:
        raise ValueError("calibration needs at least one benign example")
    if not 0 <= max_fpr < 1:
        raise ValueError("max_fpr must be in [0, 1)")
    candidates = {MIN_THRESHOLD, 1.0}
    candidates.update(s for s in attacks if MIN_THRESHOLD <= s <= 1.0)
    candidates.update(min(1.0, s + 1e-4) for s in benign if s >= MIN_THRESHOLD)
    best = _point(1.0, benign, attacks)
    for t in sorted(candidates):
        point = _point(t, benign, attacks)
        if point.fpr <= max_fpr:
            best = point
            break
    curve = [_point(t, benign, attacks) for t in curve_at]
    return Calibration(
        best.threshold,
        best.fpr,
        best.recall,
        len(benign),
        len(attacks),
        max_fpr,
        min_recall,
        curve,
    )

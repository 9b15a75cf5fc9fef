"""In-process metrics with a Prometheus text exposition at GET /metrics.

Deliberately tiny: counters and histograms keyed by label sets. A shared backend (Redis,
OpenTelemetry) replaces the storage later without changing the call sites."""

from __future__ import annotations

import threading
from collections import defaultdict

_BUCKETS_MS = (0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)

Labels = tuple[tuple[str, str], ...]


def _key(labels: dict[str, str]) -> Labels:
    return tuple(sorted((k, str(v)) for k, v in labels.items()))


def _fmt(labels: Labels, extra: tuple[tuple[str, str], ...] = ()) -> str:
    items = [*labels, *extra]
    if not items:
        return ""
    inner = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in items
    )
    return "{" + inner + "}"


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[Labels, float]] = defaultdict(dict)
        self._hist: dict[str, dict[Labels, list[float]]] = defaultdict(dict)
        self._gauges: dict[str, dict[Labels, float]] = defaultdict(dict)

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        key = _key(labels)
        with self._lock:
            series = self._counters[name]
            series[key] = series.get(key, 0.0) + value

    def set(self, name: str, value: float, **labels: str) -> None:
        """A gauge: the current value of something (a circuit breaker's state)."""
        key = _key(labels)
        with self._lock:
            self._gauges[name][key] = value

    def gauge(self, name: str, **labels: str) -> float | None:
        with self._lock:
            return self._gauges.get(name, {}).get(_key(labels))

    def observe(self, name: str, value: float, **labels: str) -> None:
        key = _key(labels)
        with self._lock:
            series = self._hist[name]
            # per bucket counts, then sum and count at the end
            row = series.setdefault(key, [0.0] * (len(_BUCKETS_MS) + 2))
            for i, bound in enumerate(_BUCKETS_MS):
                if value <= bound:
                    row[i] += 1
            row[-2] += value
            row[-1] += 1

    def counter(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._counters.get(name, {}).get(_key(labels), 0.0)

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            for name, series in sorted(self._counters.items()):
                lines.append(f"# TYPE {name} counter")
                for labels, value in sorted(series.items()):
                    lines.append(f"{name}{_fmt(labels)} {value:g}")
            for name, series in sorted(self._gauges.items()):
                lines.append(f"# TYPE {name} gauge")
                for labels, value in sorted(series.items()):
                    lines.append(f"{name}{_fmt(labels)} {value:g}")
            for name, rows in sorted(self._hist.items()):
                lines.append(f"# TYPE {name} histogram")
                for labels, row in sorted(rows.items()):
                    for bound, count in zip(_BUCKETS_MS, row, strict=False):
                        lines.append(
                            f"{name}_bucket{_fmt(labels, (('le', f'{bound:g}'),))} {count:g}"
                        )
                    lines.append(f"{name}_bucket{_fmt(labels, (('le', '+Inf'),))} {row[-1]:g}")
                    lines.append(f"{name}_sum{_fmt(labels)} {row[-2]:g}")
                    lines.append(f"{name}_count{_fmt(labels)} {row[-1]:g}")
        return "\n".join(lines) + "\n"


METRICS = Metrics()

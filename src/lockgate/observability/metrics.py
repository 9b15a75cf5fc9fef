"""Metrics through prometheus-client, served at GET /metrics.

A thin facade: call sites say `METRICS.inc(name, **labels)`, `observe` and `set`, as they did
before the client library, and the families they name are declared in `catalog.py` (type,
help, label names, buckets). A name the catalog lacks still works (a plugin's metric): its
label names are fixed by its first use.

Several gateway processes share one view through prometheus-client's multi-process mode: when
`PROMETHEUS_MULTIPROC_DIR` is set (in the environment, or by `use_multiprocess` from the
`telemetry.prometheus_multiproc_dir` setting before any metric is touched), every process
writes its values to files in that directory and a scrape of any process reads them all."""

from __future__ import annotations

import logging
import os
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from lockgate.observability.catalog import CATALOG, FORBIDDEN_LABELS, Family, Kind

log = logging.getLogger("lockgate.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# A label that takes more distinct values than this in one family is folded into "other": a
# bug (or a hostile caller naming apps) must not blow up the series count of the server.
MAX_LABEL_VALUES = 200
MAX_LABEL_LENGTH = 64
OTHER = "other"
# Label sets whose child series is remembered; past this many, lookups take the slow path
# (a caller who names many apps must not grow this without end either).
MAX_CACHED_CHILDREN = 4096

# `*_created` series double the output and no dashboard reads them.
disable_created_metrics()


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def use_multiprocess(path: Path) -> None:
    """Switch this process (and the worker processes it starts, which inherit the variable)
    to multi-process mode. prometheus-client picks its value store when it is imported, so
    the choice is made again here, and metrics already created are dropped and re-created."""
    path.mkdir(parents=True, exist_ok=True)
    if os.environ.get(MULTIPROC_ENV) == str(path):
        return
    os.environ[MULTIPROC_ENV] = str(path)
    values.ValueClass = values.get_value_class()
    METRICS.reset()


def process_exiting() -> None:
    """In multi-process mode, take this process's live gauges out of the sums (its counters
    and histograms stay counted): called by a gateway process as it shuts down."""
    if multiprocess_dir() is not None:
        mark_process_dead(os.getpid())


class Metrics:
    def __init__(self, shared: bool = False) -> None:
        # `shared`: the process-wide instance, which follows multi-process mode and reports
        # the process's CPU and memory; instances made by tests keep to their own registry.
        self._shared = shared
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.registry = CollectorRegistry()
            self._families: dict[str, tuple[Any, tuple[str, ...]]] = {}
            self._seen: dict[tuple[str, str], set[str]] = defaultdict(set)
            self._warned: set[tuple[str, str]] = set()
            # (kind, name, labels as given) -> the child series: a hit skips the lock, the
            # label checks and prometheus-client's own labels() lookup, which together cost
            # more than the increment on the paths every request takes.
            self._children: dict[tuple[Any, ...], Any] = {}
            if self._shared and multiprocess_dir() is None:
                ProcessCollector(registry=self.registry)
            # Declared up front, so a scrape lists every family (HELP and TYPE) before its
            # first sample, and dashboards and alert rules find their series.
            for family in CATALOG.values():
                self._declare(family.kind, family.name, {})

    # -- writes ------------------------------------------------------------------------------

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        if value < 0:
            log.warning("metric %s: a counter cannot go down (got %s)", name, value)
            return
        self._child("counter", name, labels).inc(value)

    def set(self, name: str, value: float, **labels: str) -> None:
        """A gauge: the current value of something (a circuit breaker's state)."""
        self._child("gauge", name, labels).set(value)

    def observe(self, name: str, value: float, **labels: str) -> None:
        self._child("histogram", name, labels).observe(value)

    # -- reads (this process's values; tests and the CLI) ------------------------------------

    def counter(self, name: str, **labels: str) -> float:
        sample = name if name.endswith("_total") else f"{name}_total"
        return self._sample(sample, name, labels) or 0.0

    def gauge(self, name: str, **labels: str) -> float | None:
        return self._sample(name, name, labels)

    def render(self) -> str:
        """The Prometheus text exposition: this process's registry, or in multi-process mode
        every process's values from the shared directory."""
        path = multiprocess_dir() if self._shared else None
        if path is not None:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=path)
            return generate_latest(registry).decode()
        return generate_latest(self.registry).decode()

    # -- internals ---------------------------------------------------------------------------

    def _sample(self, sample: str, name: str, labels: dict[str, str]) -> float | None:
        with self._lock:
            known = self._families.get(name)
        if known is None:
            return None
        names = known[1]
        full = {n: str(labels.get(n, "")) for n in names}
        return self.registry.get_sample_value(sample, full)

    def _child(self, kind: Kind, name: str, labels: dict[str, str]) -> Any:
        children = self._children  # the dict of this registry, even if reset() runs now
        key: tuple[Any, ...] | None = (kind, name, *labels.items())
        try:
            child = children.get(key)  # type: ignore[arg-type]
        except TypeError:  # an unhashable label value: str() of it is what counts
            key, child = None, None
        if child is not None:
            return child
        child = self._child_slow(kind, name, labels)
        if key is not None and len(children) < MAX_CACHED_CHILDREN:
            # The same labels always resolve to the same child (a folded value stays folded:
            # `_seen` only grows), so remembering it changes nothing but the cost.
            children[key] = child
        return child

    def _child_slow(self, kind: Kind, name: str, labels: dict[str, str]) -> Any:
        with self._lock:
            metric, names = self._families.get(name) or self._declare(kind, name, labels)
            if metric._type != kind:
                raise TypeError(f"metric {name} is a {metric._type}, not a {kind}")
            for extra in labels.keys() - set(names):
                if (name, extra) not in self._warned:
                    self._warned.add((name, extra))
                    log.warning("metric %s has no label %r; the value is dropped", name, extra)
            if not names:
                return metric
            return metric.labels(*(self._bounded(name, n, labels.get(n, "")) for n in names))

    def _declare(
        self, kind: Kind, name: str, labels: dict[str, str]
    ) -> tuple[Any, tuple[str, ...]]:
        family = CATALOG.get(name) or Family(name, kind, f"Lockgate metric {name}", (*labels,))
        if family.kind != kind:
            raise TypeError(f"metric {name} is a {family.kind}, not a {kind}")
        bad = FORBIDDEN_LABELS.intersection(family.labels)
        if bad:
            raise ValueError(f"metric {name}: label(s) {sorted(bad)} are high-cardinality")
        # Sorted, so the exposition's label order does not depend on the call site.
        names = tuple(sorted(family.labels))
        metric: Any
        if kind == "counter":
            metric = Counter(name, family.help, names, registry=self.registry)
        elif kind == "gauge":
            metric = Gauge(
                name,
                family.help,
                names,
                registry=self.registry,
                multiprocess_mode=family.gauge_mode,
            )
        else:
            metric = Histogram(
                name, family.help, names, registry=self.registry, buckets=family.buckets
            )
        self._families[name] = (metric, names)
        return metric, names

    def _bounded(self, name: str, label: str, value: Any) -> str:
        text = str(value)[:MAX_LABEL_LENGTH]
        seen = self._seen[(name, label)]
        if text in seen:
            return text
        if len(seen) >= MAX_LABEL_VALUES:
            return OTHER
        seen.add(text)
        return text


METRICS = Metrics(shared=True)

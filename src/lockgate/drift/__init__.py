"""Drift detection: a recent window of each tenant's grounded traffic against a baseline
window (windows.py: what a window holds; stats.py: the two-sample statistics; detector.py:
the signals and the report; monitor.py: the scheduled check and its events)."""

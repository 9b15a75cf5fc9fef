"""Staged releases: a named bundle of prompt pins, model choices and parameters, rolled out
pilot -> percentage -> full, and rolled back by the monitor when it does worse than the
current release (model.py, states.py, assign.py, active.py, monitor.py)."""

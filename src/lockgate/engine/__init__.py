"""The transport-free engine: one chat turn, parsed once, run through stages composed as layers.

Nothing below this package imports a web framework; HTTP, the batch worker and evaluation
runs are callers of `run_turn`."""

"""The load generator behind `lockgate loadtest` (docs/loadtest.md): scenario.py (the
requests), client.py (a pooled HTTP/1.1 client that reads streamed answers), generator.py
(the fixed arrival rate), report.py (percentiles, errors, cost, the generator's health)."""

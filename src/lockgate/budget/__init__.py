"""Who pays and how fast they may go — rate limits per key / tenant / model and
spending budgets per key / tenant / project, each behind a small store interface (memory or
SQLite now; Redis or PostgreSQL later).

Kept apart from `routing/` (which picks and protects upstreams) because these are quotas of
the caller, not properties of an upstream, and they share the caller identity and the
token/cost estimates that a request's admission needs."""

"""The production-readiness report (`lockgate readiness`, docs/readiness.md): the live
configuration and data checked against the checklists of the source articles, each item
pass / warn / fail with its evidence and the fix. model.py: items and the report; checks for
data and retrieval (data.py), cost and performance (cost.py), security (security.py) and
operations (ops.py); report.py runs them all."""

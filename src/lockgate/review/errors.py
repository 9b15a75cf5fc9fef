"""What a review action can fail with; each edge maps them to its own answer (HTTP 403, 404,
409, 400; a CLI exit status)."""

from __future__ import annotations

from lockgate.store.reviews import ReviewConflict

__all__ = ["ReviewConflict", "ReviewForbidden", "ReviewInputError", "ReviewNotFound"]


class ReviewNotFound(Exception):
    """No such item for this caller: missing, in another tenant, or someone else's. The three
    read the same on purpose, so that ids cannot be probed across tenants."""


class ReviewForbidden(Exception):
    """The caller may not act as a reviewer (roles reviewer or admin are needed)."""


class ReviewInputError(ValueError):
    """A decision that does not fit the item (edited arguments that are not a JSON object,
    an empty edit)."""

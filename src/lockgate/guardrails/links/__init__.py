"""Images, links and raw HTML in answers and retrieved chunks (see `LinkPolicy`): rewritten
so nothing in them is fetched or followed outside the allowed hosts, and, for streams, where
such a construct is still unfinished."""

from lockgate.guardrails.links.rewrite import Change, Rewrite, defang
from lockgate.guardrails.links.unfinished import unfinished

__all__ = ["Change", "Rewrite", "defang", "unfinished"]

"""Upstream model calls: deployments with breakers and limits, retries with backoff, fallback
chains, and the registry that serves each configured model name through them."""

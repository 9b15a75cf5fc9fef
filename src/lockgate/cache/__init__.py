"""The response cache: exact and semantic, scoped, invalidated when source documents change."""

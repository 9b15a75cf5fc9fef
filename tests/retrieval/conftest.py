"""The real Milvus of the vector engine tests, started once for the directory."""

from tests.support.milvus import milvus_server

__all__ = ["milvus_server"]

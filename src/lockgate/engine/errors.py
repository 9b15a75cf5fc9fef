"""The engine's errors are the package-wide ones (`lockgate.errors`)."""

from lockgate.errors import GatewayError

__all__ = ["GatewayError"]

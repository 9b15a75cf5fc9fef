"""Lockgate: the production gate between a GenAI proof of concept and real users."""

__version__ = "0.1.0"

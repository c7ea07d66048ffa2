"""Embedded servers started from pip wheels when a URL setting is empty."""

from servers.stack import EmbeddedStack, ServerError

__all__ = ["EmbeddedStack", "ServerError"]

"""INCS Support: chat-first support bot and agent workbench."""

__version__ = "0.1.0"

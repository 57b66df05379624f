"""Conversations written once for every channel."""

"""Customers, their channel identities, conversations and messages: ingest, the thread, replies, attachments, live fan-out."""

# Delivery outcomes update the thread through this registration (delivery sits below conversations).
from bot.core.conversations import delivery_state  # noqa: E402,F401

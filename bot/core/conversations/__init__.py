"""Customers, their channel identities, conversations and messages: ingest, the thread, replies, attachments, live fan-out."""

"""Stored files: attachments of messages, certification documents and logos; upload limits, private paths, inline rules."""

"""Delivery under a burst: outcomes written so that one bad row spoils only itself, and what cannot be written
is journalled rather than sent twice (see recorder.py); the dispatcher (bot/core/delivery.py) paces claims."""

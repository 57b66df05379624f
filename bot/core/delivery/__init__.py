"""Outbound delivery: the durable outbox, the dispatcher, the sender protocol channels implement, SMS providers."""

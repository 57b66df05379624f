"""The agents' web app: server-rendered pages over bot.core services."""

"""The web chat's own words (controls, states, errors) in every locale, from the gettext catalogues.

The page embeds all locales (a few dozen short strings), so the chat switches language the moment the
customer chooses one, without a reload.
"""

from __future__ import annotations

from bot.i18n import gettext

CHAT_MESSAGES = (
    "Chat with {brand}",
    "Write a message…",
    "Message",
    "Send",
    "Attach a photo or file",
    "Share my location",
    "connecting…",
    "online",
    "reconnecting…",
    "typing…",
    "Seen",
    "Welcome! Write your question below and we will answer here.",
    "This chat uses one cookie, to remember your conversation on this browser.",
    "Not connected yet — please wait a moment.",
    "That file is too large.",
    "Upload failed.",
    "Upload failed; please try again.",
    "Location is not available in this browser.",
    "Location permission was refused.",
    "photo",
    "file",
    "edited",
    "Conversation resolved",
    "just now",
    "Messages",
    "Your name",
    "Your email (optional)",
)


def chat_strings(locale: str) -> dict[str, str]:
    return {message: gettext(locale, message) for message in CHAT_MESSAGES}

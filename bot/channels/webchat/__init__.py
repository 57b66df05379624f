"""The built-in web chat: page, websocket, uploads."""

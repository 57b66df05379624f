"""Channel adapters: platform payload <-> normalized events and replies."""

"""Where customers' personal data sits: the registry (`registry.py`) and the field glossary of exports (`fields.py`)."""

"""Identity checks by one-time code, their tables, and merging customers that a verified address shows to be one person."""

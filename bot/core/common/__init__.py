"""Cross-cutting pieces every feature uses: the clock, domain errors, metrics, background tasks, rate limits, the sweep scheduler."""

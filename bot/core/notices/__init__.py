"""Policy versions and re-consent, and broadcasts of policy, incident, transfer and cessation notices to customers."""

"""Organization certification: the application (license, legal name, address), platform review, and the badge it earns."""

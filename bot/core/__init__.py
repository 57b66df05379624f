"""The domain: models, services, errors. Imports no channel framework."""

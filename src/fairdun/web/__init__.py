"""The web boundary: app factory, request dependencies, templates, error mapping."""

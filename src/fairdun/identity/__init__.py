"""Users, roles, sessions, API tokens and the principal that every request acts as."""

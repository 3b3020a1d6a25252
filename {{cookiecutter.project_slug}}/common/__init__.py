"""Small helpers every component environment shares (stdlib, PyYAML and pydantic only)."""

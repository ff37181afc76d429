"""Shared building blocks used by every domain package (no business rules here)."""

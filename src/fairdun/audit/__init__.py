"""Append-only, hash-chained audit trail of every decision and sensitive access."""

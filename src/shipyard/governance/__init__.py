"""Principals, roles, tokens and the hash-chained audit log."""

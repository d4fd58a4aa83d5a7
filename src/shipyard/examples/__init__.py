"""Runnable example workspaces written by ``shipyard init --example NAME`` (package data)."""

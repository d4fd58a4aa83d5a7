"""Monitoring: drift between data sets (files or dataset versions), reports, and checks on served traffic."""

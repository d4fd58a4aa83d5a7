"""Gateway routes: each module maps (method set, path template) to an async handler."""

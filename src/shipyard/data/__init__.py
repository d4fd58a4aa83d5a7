"""Dataset versions: readers, schema inference, profiling, validation and diffs."""

"""Pure decision logic: no I/O, no framework imports. Easy to unit-test."""

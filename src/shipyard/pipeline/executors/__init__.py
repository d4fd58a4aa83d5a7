"""Executors run one step: in this process (local); Ray can be added as another key of the factory."""

"""Metric providers for rollout analysis: builtin (the gateways' metric windows in the store) and Prometheus."""

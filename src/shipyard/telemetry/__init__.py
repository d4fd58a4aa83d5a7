"""The prediction log, feedback and metric windows: written by gateways, read by rollout and monitoring."""

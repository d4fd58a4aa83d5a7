"""Metric providers for rollout analysis: builtin (the gateways' metric windows in the store) and Prometheus.

Importing the package registers both in ``base.PROVIDERS`` (httpx is imported only when Prometheus is asked).
"""

from shipyard.rollout.providers import builtin, prometheus  # noqa: F401 - registers PROVIDERS entries

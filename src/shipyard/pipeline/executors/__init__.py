"""Executors run one step: ``local`` in this process; ``dask`` and ``ray`` send the portable steps to a cluster."""

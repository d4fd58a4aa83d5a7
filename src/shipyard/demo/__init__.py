"""``shipyard demo``: the whole loop told on the bundled credit example, in a throwaway workspace.

Data v1 -> run -> approve -> deploy; new data v2 -> gated against the champion -> canary under live traffic ->
promoted; a v3 on corrupted labels fails its gates; a v4 that passes offline but is slow live is rolled back by
its canary's analysis; traffic shifts -> a drift alert -> a retrain candidate. Every step is the ``shipyard``
command a user would type (subprocesses), so the demo also checks that they work together.
"""

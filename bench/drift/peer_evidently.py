"""Evidently's DataDriftPreset on the reference and current data; prints the drifted columns as JSON.

Runs inside the Evidently venv (bench/drift/setup_peers.sh). Evidently picks its own method per column
(Wasserstein / Jensen-Shannon above 1,000 rows) and threshold; a column drifted when its ValueDrift
result is at or above the threshold (distances) or below it (p-values).
"""

import json
import sys

import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset

reference = pd.read_parquet(sys.argv[1])
current = pd.read_parquet(sys.argv[2])
snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
flagged, methods = [], {}
for metric in snapshot.dict()["metrics"]:
    config = metric["config"]
    if not config["type"].endswith("ValueDrift"):
        continue
    method, value, threshold = config["method"], metric["value"], config["threshold"]
    is_p_value = "p_value" in method
    methods[config["column"]] = method
    if (value < threshold) if is_p_value else (value >= threshold):
        flagged.append(config["column"])
print(json.dumps({"flagged": flagged, "methods": methods}))

"""NannyML's univariate drift (its default methods: Jensen-Shannon for both kinds) with the current data as
one chunk; prints the columns with an alert as JSON. Runs inside the NannyML venv (setup_peers.sh).

NannyML sets its thresholds from the variation between reference chunks (10 chunks of the reference).
"""

import json
import sys

import nannyml as nml
import pandas as pd

reference = pd.read_parquet(sys.argv[1])
current = pd.read_parquet(sys.argv[2])
columns = list(reference.columns)
calculator = nml.UnivariateDriftCalculator(column_names=columns, chunk_number=10)
calculator.fit(reference)
results = calculator.calculate(current.assign())  # analysis data
frame = results.filter(period="analysis").to_df()
flagged = []
for column in columns:
    alerts = [c for c in frame.columns if c[0] == column and c[-1] == "alert"]
    if any(bool(frame[c].any()) for c in alerts):
        flagged.append(column)
print(json.dumps({"flagged": flagged}))

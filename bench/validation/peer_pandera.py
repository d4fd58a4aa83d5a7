"""pandera (pandas backend) with the checks of shipyard's schema, validated lazily; prints failure counts.

Same checks as peer_gx.py: nullability, number ranges (inclusive), category domains. Runs inside the
pandera venv (bench/drift/setup_peers.sh pandera). Usage: peer_pandera.py SCHEMA.json DATA.parquet
"""

import json
import sys

import pandas as pd
import pandera.pandas as pa

schema = json.load(open(sys.argv[1]))
frame = pd.read_parquet(sys.argv[2])
columns = {}
for column in schema["columns"]:
    checks = []
    if column.get("min") is not None:
        checks.append(pa.Check.in_range(column["min"], column["max"], name="range"))
    if column.get("categories") is not None:
        checks.append(pa.Check.isin(column["categories"], name="category"))
    columns[column["name"]] = pa.Column(nullable=column.get("nullable", True), checks=checks)
failures = []
try:
    pa.DataFrameSchema(columns).validate(frame, lazy=True)
except pa.errors.SchemaErrors as exc:
    cases = exc.failure_cases
    for (column, check), group in cases.groupby(["column", "check"]):
        text = str(check)
        kind = "null" if "not_nullable" in text else "range" if text.startswith("in_range") else "category"
        failures.append({"column": column, "check": kind, "failing": int(len(group))})
print(json.dumps({"failures": sorted(failures, key=lambda f: (f["column"], f["check"]))}))

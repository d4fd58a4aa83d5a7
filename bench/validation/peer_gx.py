"""Great Expectations (1.x, ephemeral context, pandas) with the checks of shipyard's schema; prints failures.

Per column: not-null when the schema says not nullable, between min and max for numbers, in the set of
categories for categories. Runs inside the GX venv (bench/drift/setup_peers.sh gx).
Usage: peer_gx.py SCHEMA.json DATA.parquet
"""

import json
import sys

import great_expectations as gx
import pandas as pd

schema = json.load(open(sys.argv[1]))
frame = pd.read_parquet(sys.argv[2])
context = gx.get_context(mode="ephemeral")
batch = (context.data_sources.add_pandas("bench").add_dataframe_asset("data")
         .add_batch_definition_whole_dataframe("all").get_batch(batch_parameters={"dataframe": frame}))
suite = gx.ExpectationSuite(name="shipyard_schema")
checks = {}
for column in schema["columns"]:
    name = column["name"]
    if not column.get("nullable", True):
        checks[len(checks)] = (name, "null")
        suite.add_expectation(gx.expectations.ExpectColumnValuesToNotBeNull(column=name))
    if column.get("min") is not None:
        checks[len(checks)] = (name, "range")
        suite.add_expectation(gx.expectations.ExpectColumnValuesToBeBetween(
            column=name, min_value=column["min"], max_value=column["max"]))
    if column.get("categories") is not None:
        checks[len(checks)] = (name, "category")
        suite.add_expectation(gx.expectations.ExpectColumnValuesToBeInSet(column=name,
                                                                           value_set=column["categories"]))
result = batch.validate(suite)
failures = []
for r in result.results:
    if not r.success:
        kwargs = r.expectation_config.kwargs
        kind = {"expect_column_values_to_not_be_null": "null", "expect_column_values_to_be_between": "range",
                "expect_column_values_to_be_in_set": "category"}[r.expectation_config.type]
        failures.append({"column": kwargs["column"], "check": kind, "failing": int(r.result["unexpected_count"])})
print(json.dumps({"failures": sorted(failures, key=lambda f: (f["column"], f["check"]))}))

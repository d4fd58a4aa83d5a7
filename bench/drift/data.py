"""Write the benchmark data once: 1,000,000 x 20 columns (15 numeric, 5 categories, 1% missing), drift in 5.

``python bench/drift/data.py [ROWS]`` writes bench/.data/{reference,current,clean,invalid}.parquet:
the reference, the current data with drift injected (``shipyard.monitoring.synthetic``), a clean sample
of the reference's distribution, and ``invalid``: the clean sample with known validation failures.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from shipyard.monitoring.synthetic import DRIFTED, scenario

DATA = Path(__file__).resolve().parents[2] / "bench" / ".data"
# Known validation failures in `invalid` (rows picked at random, no overlap with the nulls that exist):
FAILURES = {"uniform": ("range", 1000, 50.0), "beta": ("range", 200, -1.0),
            "cat_five": ("category", 500, "five_unknown")}
NON_NULL = "integers"  # the reference has no nulls here, so the ~1% nulls of `invalid` fail


def main(rows: int) -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    reference = scenario(rows, 1, drift=False)
    idx = reference.column_names.index(NON_NULL)
    reference = reference.set_column(idx, NON_NULL, pc.fill_null(reference[NON_NULL], 0.0))
    pq.write_table(reference, DATA / "reference.parquet")
    pq.write_table(scenario(rows, 2, drift=True), DATA / "current.parquet")
    clean = scenario(rows, 3, drift=False)
    pq.write_table(clean, DATA / "clean.parquet")
    rng = np.random.default_rng(4)
    invalid = clean
    for column, (_, count, value) in FAILURES.items():
        present = np.flatnonzero(~np.asarray(invalid[column].is_null()))
        rows_hit = np.zeros(invalid.num_rows, dtype=bool)
        rows_hit[rng.choice(present, count, replace=False)] = True
        replaced = pc.if_else(pa.array(rows_hit), pa.scalar(value, invalid[column].type), invalid[column])
        invalid = invalid.set_column(invalid.column_names.index(column), column, replaced)
    pq.write_table(invalid, DATA / "invalid.parquet")
    expected = {c: {"check": check, "failing": count} for c, (check, count, _) in FAILURES.items()}
    expected[NON_NULL] = {"check": "null", "failing": int(invalid[NON_NULL].null_count)}
    (DATA / "expected.json").write_text(json.dumps({"rows": rows, "drifted": list(DRIFTED),
                                                    "validation": expected}, indent=1))
    print(json.dumps({"rows": rows, "written": str(DATA)}))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)

"""Save the benchmark model as an MLflow model directory (run with the MLflow peer's Python).

    bench/.peers/mlflow/bin/python bench/serving/mlflow_save.py MODEL_DIR OUT_DIR

Uses MLflow's default skops format; a HistGradientBoostingClassifier needs its types listed in
`skops_trusted_types` or loading fails. pyfunc_predict_fn="predict_proba" so that MLflow
computes the same thing as the other servers.
"""

import json
import shutil
import sys
import warnings
from pathlib import Path

import joblib
import mlflow.sklearn
import pandas as pd
import skops.io as sio

warnings.filterwarnings("ignore")

src, out = Path(sys.argv[1]), Path(sys.argv[2])
if out.exists():
    shutil.rmtree(out)
model = joblib.load(src / "model.joblib")  # written by bench/serving/model.py in this run
trusted = sio.get_untrusted_types(file=str(src / "model.skops"))
data = json.loads((src / "rows.json").read_text())
example = pd.DataFrame(data["rows"][:5], columns=data["columns"])
mlflow.sklearn.save_model(
    model,
    str(out),
    serialization_format="skops",
    skops_trusted_types=trusted,
    pyfunc_predict_fn="predict_proba",
    input_example=example,
)
print(json.dumps({"saved": str(out), "trusted_types": trusted}))

"""BentoML peer for the serving benchmark: the same joblib model, predict_proba on a 2-D array.

Started by run.py as `bentoml serve bentoml_service:HGB` with SHIPYARD_BENCH_MODEL set.
Request: POST /predict {"data": [[f0, ..., f19], ...]}.
"""

import os
import warnings

import bentoml
import joblib
import numpy as np

warnings.filterwarnings("ignore")  # "X does not have valid feature names" on ndarray input


@bentoml.service(workers=int(os.environ.get("SHIPYARD_BENCH_WORKERS", "1")))
class HGB:
    def __init__(self) -> None:
        self.model = joblib.load(os.environ["SHIPYARD_BENCH_MODEL"])

    @bentoml.api
    def predict(self, data: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(data)

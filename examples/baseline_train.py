"""Train a baseline credit-risk model on a CSV and save it with skops (used by `make demo`)."""

from __future__ import annotations

import sys

import pandas as pd
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def main(csv: str, out: str) -> None:
    df = pd.read_csv(csv)
    y = (df.pop("Status") == "bad").astype(int)
    cats = [c for c in df.columns if df[c].dtype == object or str(df[c].dtype).startswith("str")]
    nums = [c for c in df.columns if c not in cats]
    pre = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), nums),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")), cats),
    ])
    model = make_pipeline(pre, LogisticRegression(max_iter=1000)).fit(df, y)
    sio.dump(model, out)
    print(f"trained baseline on {len(df)} rows ({len(nums)} numeric, {len(cats)} categorical features) -> {out}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

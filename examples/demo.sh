#!/usr/bin/env bash
# The whole loop on the bundled credit example, in a throwaway workspace under .demo/.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
demo="$here/.demo"
rm -rf "$demo" && mkdir -p "$demo" && cd "$demo"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

data="$here/src/shipyard/examples/credit/data/credit.csv"
[ -f "$data" ] || data="$here/../shared/datasets/credit_data.csv"

step "1. Create a workspace"
shipyard init

step "2. Version the credit data (4,454 applications; modeldata, MIT licence)"
shipyard data add "$data" --name credit
step "   adding identical content again returns the same version"
shipyard data add "$data" --name credit

step "3. Validate a damaged copy against the inferred schema (expect violations, exit 1)"
python - "$data" bad.csv <<'PY'
import sys, pandas as pd
df = pd.read_csv(sys.argv[1]).head(200)
df["Age"] = df["Age"].astype(object); df.loc[3, "Age"] = "abc"; df.loc[7, "Age"] = 500
df.loc[5, "Home"] = "spaceship"; df = df.drop(columns=["Price"])
df.to_csv(sys.argv[2], index=False)
PY
if shipyard data validate credit bad.csv; then echo "unexpected: validation passed"; exit 1; else echo "(exit $? as expected)"; fi

step "4. Train a baseline and register it with lineage to credit@1"
python "$here/examples/baseline_train.py" "$data" baseline.skops
shipyard models register credit-baseline baseline.skops --flavor sklearn --dataset credit --target Status
shipyard models alias credit-baseline champion 1
shipyard models show credit-baseline:1

step "done: workspace in $demo"

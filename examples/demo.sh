#!/usr/bin/env bash
# The whole loop on the bundled credit example, in a throwaway workspace under .demo/:
# data version -> validation -> gated training run (cached rerun) -> approval -> deploy -> serve
# -> predictions over OIP v2 and /v1 -> feedback -> metrics -> prediction log joined with feedback
# -> audit verify -> model card.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
demo="$here/.demo"
rm -rf "$demo" && mkdir -p "$demo" && cd "$demo"
export COLUMNS="${COLUMNS:-120}"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. A workspace from the credit example (4,454 applications; modeldata, MIT licence)"
shipyard init --example credit

step "2. Version the data by content; identical content returns the same version"
shipyard data add data/credit.csv --name credit
shipyard data add data/credit.csv --name credit | sed -n 1p

step "3. Validate a damaged copy against the inferred schema (violations, exit 1)"
python - <<'PY'
import pandas as pd
df = pd.read_csv("data/credit.csv").head(200)
df["Age"] = df["Age"].astype(object); df.loc[3, "Age"] = "abc"; df.loc[7, "Age"] = 500
df.loc[5, "Home"] = "spaceship"; df = df.drop(columns=["Price"])
df.to_csv("bad.csv", index=False)
PY
if shipyard data validate credit bad.csv; then echo "unexpected: validation passed"; exit 1; else echo "(exit $? as expected)"; fi

step "4. shipyard run: validate -> split -> train -> evaluate -> gate -> register"
shipyard run --junit junit.xml

step "5. Run again with nothing changed: every step is a cache hit"
shipyard run | sed -n '1,7p'

step "6. Approval by someone other than the author (separation of duties), then deploy"
if shipyard approve credit-risk:1 2>/dev/null; then echo "unexpected: author approved own version"; exit 1; fi
echo "(the author cannot approve their own version)"
SHIPYARD_ACTOR=carol shipyard approve credit-risk:1 --reason "metrics and fairness reviewed"
shipyard models alias credit-risk champion 1
shipyard deploy credit-risk:1 --endpoint credit-risk
shipyard models card credit-risk:1 -o card

step "7. Serve the endpoint and call it"
port=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
shipyard serve --host 127.0.0.1 --port "$port" --log-level warning > gateway.log 2>&1 &
gw=$!
trap 'kill $gw 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/v2/models/credit-risk/ready" >/dev/null && break; sleep 0.2; done
row='{"Seniority": 9, "Home": "rent", "Time": 60, "Age": 30, "Marital": "married", "Records": "no",
      "Job": "freelance", "Expenses": 73, "Income": 129, "Assets": 0, "Debt": 0, "Amount": 800, "Price": 846}'
echo "POST /v1/endpoints/credit-risk/predict"
curl -s -D headers.txt "http://127.0.0.1:$port/v1/endpoints/credit-risk/predict" \
     -H 'content-type: application/json' -d "{\"instances\": [$row]}"; echo
grep -i -E '^x-(request-id|model-version)' headers.txt
rid=$(grep -i '^x-request-id' headers.txt | tr -d '\r' | awk '{print $2}')
echo "POST /v1/endpoints/credit-risk/feedback (label for request $rid)"
curl -s "http://127.0.0.1:$port/v1/endpoints/credit-risk/feedback" -H 'content-type: application/json' \
     -d "{\"request_id\": \"$rid\", \"label\": \"good\"}"; echo
echo "a bad request is a 4xx naming the field:"
curl -s "http://127.0.0.1:$port/v1/endpoints/credit-risk/predict" -H 'content-type: application/json' \
     -d '{"instances": [{"Age": "thirty"}]}'; echo
echo "GET /metrics (excerpt)"
curl -s "http://127.0.0.1:$port/metrics" | grep -E '^shipyard_requests_total' | head -5 || true
kill $gw; wait $gw 2>/dev/null || true; trap - EXIT
echo "the prediction log (flushed at shutdown), joined with the feedback:"
shipyard endpoints log credit-risk --limit 3

step "8. The audit trail is intact"
shipyard audit log --limit 8
shipyard audit verify

step "done: workspace in $demo (report: .shipyard/reports/credit-risk/1/report.html, card: card/)"

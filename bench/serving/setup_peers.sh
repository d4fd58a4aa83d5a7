#!/usr/bin/env bash
# Create one virtualenv per peer server under bench/.peers/<peer> (idempotent).
#
#   bash bench/serving/setup_peers.sh            # all peers + wrk + h2load
#   bash bench/serving/setup_peers.sh mlflow     # just one (mlflow | mlserver | bentoml | wrk | h2load)
#
# Every peer venv gets the same scikit-learn version as the project venv so that the
# one model file trained by bench/serving/model.py loads identically everywhere.
# A peer whose install fails leaves bench/.peers/<peer>/FAILED with the reason; run.py reports it.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PEERS="$ROOT/bench/.peers"
PY="${PYTHON:-python3.11}"
PROJECT_PY="$ROOT/.venv/bin/python"
mkdir -p "$PEERS"

SKLEARN_VERSION="$("$PROJECT_PY" -c 'import sklearn; print(sklearn.__version__)' 2>/dev/null || echo '')"
SKLEARN_PIN="scikit-learn${SKLEARN_VERSION:+==$SKLEARN_VERSION}"

log() { printf '[setup_peers] %s\n' "$*" >&2; }

install_wrk() {
  if command -v wrk >/dev/null 2>&1; then log "wrk present: $(command -v wrk)"; return 0; fi
  log "installing wrk with apt-get"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk) >&2 \
    || { log "could not install wrk"; return 1; }
}

# h2load (nghttp2's HTTP/2 load generator) drives the gRPC phase: wrk speaks HTTP/1.1 only
install_h2load() {
  if command -v h2load >/dev/null 2>&1; then log "h2load present: $(command -v h2load)"; return 0; fi
  log "installing h2load (nghttp2-client) with apt-get"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nghttp2-client) >&2 \
    || { log "could not install h2load"; return 1; }
}

# make_venv NAME CHECK_IMPORT PACKAGES...
make_venv() {
  local name="$1" check="$2"; shift 2
  local dir="$PEERS/$name"
  if [ -f "$dir/OK" ] && "$dir/bin/python" -c "$check" >/dev/null 2>&1; then
    log "$name: already set up"; return 0
  fi
  rm -f "$dir/OK" "$dir/FAILED"
  log "$name: creating venv and installing $*"
  [ -x "$dir/bin/python" ] || "$PY" -m venv "$dir" || { echo "venv creation failed" >"$dir/FAILED"; return 1; }
  "$dir/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  local out
  if ! out="$("$dir/bin/python" -m pip install -q "$@" 2>&1)"; then
    log "$name: pip install failed"; printf '%s\n' "$out" | tail -n 20 >&2
    printf 'pip install failed: %s\n' "$(printf '%s\n' "$out" | grep -iE 'error' | tail -n 3 | tr '\n' ' ')" >"$dir/FAILED"
    return 1
  fi
  if ! out="$("$dir/bin/python" -c "$check" 2>&1)"; then
    log "$name: import check failed"; printf '%s\n' "$out" | tail -n 5 >&2
    printf 'import failed: %s\n' "$(printf '%s\n' "$out" | tail -n 1)" >"$dir/FAILED"
    return 1
  fi
  "$dir/bin/python" -m pip freeze >"$dir/freeze.txt" 2>/dev/null || true
  date -u +%FT%TZ >"$dir/OK"
  log "$name: ok"
}

setup_mlflow()   { make_venv mlflow   "import mlflow, sklearn" mlflow "$SKLEARN_PIN" pandas; }
# MLServer 1.7.1 breaks with uvloop 0.22 (see DESIGN.md, "Facts from the anchors").
setup_mlserver() { make_venv mlserver "import mlserver, mlserver_sklearn, sklearn" mlserver mlserver-sklearn "uvloop==0.21.0" "$SKLEARN_PIN" joblib; }
setup_bentoml()  { make_venv bentoml  "import bentoml, sklearn" bentoml "$SKLEARN_PIN" pandas; }

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(wrk h2load mlflow mlserver bentoml)
status=0
for t in "${targets[@]}"; do
  case "$t" in
    wrk) install_wrk || status=1 ;;
    h2load) install_h2load || status=1 ;;
    mlflow) setup_mlflow || status=1 ;;
    mlserver) setup_mlserver || status=1 ;;
    bentoml) setup_bentoml || status=1 ;;
    *) log "unknown target $t"; status=2 ;;
  esac
done
for t in mlflow mlserver bentoml; do
  if [ -f "$PEERS/$t/OK" ]; then log "$t: OK"; elif [ -f "$PEERS/$t/FAILED" ]; then log "$t: FAILED: $(cat "$PEERS/$t/FAILED")"; fi
done
exit $status

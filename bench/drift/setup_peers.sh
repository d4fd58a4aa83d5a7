#!/usr/bin/env bash
# Create one virtualenv per peer library for the drift and validation benchmarks (idempotent).
#
#   bash bench/drift/setup_peers.sh                 # all peers
#   bash bench/drift/setup_peers.sh evidently       # just one (evidently | nannyml | gx | pandera)
#
# The venvs live OUTSIDE the project venv, under $PEERS_DIR (default /work/peers-venv/<peer>), because
# the peers pin pandas/numpy/pydantic versions that must not leak into shipyard's own environment.
# A peer whose install fails leaves $PEERS_DIR/<peer>/FAILED with the reason; the bench runners report it.
set -uo pipefail

PEERS="${PEERS_DIR:-/work/peers-venv}"
PY="${PYTHON:-python3.11}"
mkdir -p "$PEERS"

log() { printf '[setup_peers] %s\n' "$*" >&2; }

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

# pandas 3 removed a helper Evidently 0.7 imports; statsmodels is an undeclared import of NannyML 0.13.
setup_evidently() { make_venv evidently "import evidently, pyarrow; from evidently.presets import DataDriftPreset" "evidently>=0.7,<0.8" "pandas<3" pyarrow; }
setup_nannyml()   { make_venv nannyml   "import nannyml, pyarrow" "nannyml>=0.13" statsmodels "pandas<3" pyarrow; }
setup_gx()        { make_venv gx        "import great_expectations, pyarrow" "great-expectations>=1.2,<2" pyarrow; }
setup_pandera()   { make_venv pandera   "import pandera.pandas, pyarrow" "pandera>=0.20" pandas pyarrow; }

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(evidently nannyml gx pandera)
status=0
for t in "${targets[@]}"; do
  case "$t" in
    evidently) setup_evidently || status=1 ;;
    nannyml) setup_nannyml || status=1 ;;
    gx) setup_gx || status=1 ;;
    pandera) setup_pandera || status=1 ;;
    *) log "unknown target $t"; status=2 ;;
  esac
done
for t in evidently nannyml gx pandera; do
  if [ -f "$PEERS/$t/OK" ]; then log "$t: OK"; elif [ -f "$PEERS/$t/FAILED" ]; then log "$t: FAILED: $(cat "$PEERS/$t/FAILED")"; fi
done
exit $status

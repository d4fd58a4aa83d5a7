"""The Prometheus metric provider against a real Prometheus server scraping a real gateway (issue 15, point 5).

Prometheus (Debian package ``prometheus``; ``make prometheus`` installs it) is started on a free loopback port
with a generated config that scrapes the gateway every second, storage in a temp dir. Known traffic to two
versions (50/50, one failing on demand) and a shadow; the provider's counts and error rates per version must
match what was sent (``increase`` extrapolates to the window's edges: counts up to W / (W - 2 scrape intervals)
higher; error rates exact), and agree with the builtin provider's.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from tests.builders import free_port
from tests.conftest import need_service
from tests.integration.telemetry_support import FAIL, register, send, wait_for

from shipyard.errors import UnavailableError
from shipyard.rollout.providers.base import PROVIDERS
from shipyard.rollout.providers.builtin import BuiltinProvider
from shipyard.rollout.providers.prometheus import PrometheusProvider

ROUTING = {"routes": [{"version": 1, "weight": 50}, {"version": 2, "weight": 50}], "shadow": [3]}


def _binary() -> str:
    found = shutil.which("prometheus") or ("/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None)
    if found is None:
        need_service("prometheus binary not installed (Debian package `prometheus`: run `make prometheus`)")
    return str(found)


def _start_prometheus(binary: str, tmp: Path, target: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = tmp / "prometheus.yml"
    config.write_text(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: shipyard-gateway
    scrape_interval: 1s
    static_configs:
      - targets: ["{target}"]
""")
    log = open(tmp / "prometheus.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert proc.poll() is None, (tmp / "prometheus.log").read_text()
        try:
            return httpx.get(url + "/-/ready", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    assert wait_for(ready, timeout=30), "prometheus did not become ready"
    return proc, url


def _scraped(url: str, query: str, at_least: float) -> bool:
    r = httpx.get(url + "/api/v1/query", params={"query": query}, timeout=5).json()
    result = r.get("data", {}).get("result", [])
    return bool(result) and float(result[0]["value"][1]) >= at_least


def test_prometheus_provider_counts_what_the_gateway_served(tmp_path) -> None:
    from shipyard.config import Settings
    from shipyard.serving.server import ServerThread, build_gateway, options_from
    from shipyard.workspace import Workspace

    binary = _binary()
    ws = Workspace.init(tmp_path / "ws", settings=Settings(actor="alice"))
    register(ws, tmp_path, [{"bias": 0.0}, {"bias": 0.5, "fail_on": FAIL}, {"bias": -0.5}])
    ws.endpoints.deploy("m:1", "ep")
    ep = ws.endpoints.set_routing("ep", ROUTING)
    opts = options_from(ws)
    opts.metrics_interval_s = 0.5
    gw = build_gateway(ws, opts)
    gw_port = free_port()
    with ServerThread(gw, gw_port) as srv:
        prom, url = _start_prometheus(binary, tmp_path, f"127.0.0.1:{gw_port}")
        try:
            # the versions' series exist at 0 before any traffic (declared when routing took effect)
            assert wait_for(lambda: _scraped(url, 'count(shipyard_model_errors_total{endpoint="ep"})', 2), 30)
            start = datetime.now(UTC)
            time.sleep(2.0)
            sent = send(srv.url, 200, ep.table, {2: FAIL})
            want = sent["versions"]
            answered = want[1]["answered"] + want[2]["answered"]
            total = want[1]["requests"] + want[2]["requests"]
            # wait until the last requests were scraped, then close the window a little later
            assert wait_for(lambda: _scraped(
                url, 'sum(shipyard_requests_total{endpoint="ep"}) + sum(shipyard_model_errors_total{endpoint="ep"})',
                total), 30)
            time.sleep(2.0)
            end = datetime.now(UTC)
            provider = PROVIDERS["prometheus"](url)
            got = provider.query("ep", start, end)
        finally:
            prom.terminate()
            prom.wait(timeout=30)
        builtin = wait_for(lambda: (lambda b: b if sum(m.requests for m in b.values()) >= total + answered else None)(
            BuiltinProvider(ws.db).query("ep", start - timedelta(seconds=5), datetime.now(UTC) + timedelta(seconds=5))))
    ws.close()

    assert isinstance(provider, PrometheusProvider)
    assert set(got) == {1, 2, 3}, got
    # increase() scales the counted difference from the first to the last sample inside the window up to the
    # window's length: with 1 s scrapes, by at most W / (W - 2.2 s); the traffic lies inside the sampled span
    span = (end - start).total_seconds()
    most = span / (span - 2.2)

    def counted(n: int, want: int) -> bool:
        return want - 1 <= n <= want * most + 1

    for v in (1, 2):
        m, w = got[v], want[v]
        assert not m.shadow
        assert counted(m.requests, w["requests"]) and counted(m.errors, w["errors"]), (v, m, w, most)
        assert counted(m.rows, w["answered"])  # rows predicted: a failed request predicted none
        assert sum(m.latency_buckets) == pytest.approx(m.requests, abs=2)
        assert m.latency_ms(0.5) is not None and m.latency_ms(0.5) <= m.latency_ms(0.99)
    assert got[1].errors == 0
    # counts of one target are scraped at the same instants: the error rate is exact up to rounding
    assert got[2].error_rate == pytest.approx(want[2]["errors"] / want[2]["requests"], abs=0.02)
    assert got[3].shadow and counted(got[3].requests, answered) and got[3].errors == 0
    # the same traffic through the builtin provider (exact counts) agrees
    assert builtin and builtin[2].errors == want[2]["errors"] and builtin[1].requests == want[1]["requests"]
    assert got[2].error_rate == pytest.approx(builtin[2].error_rate, abs=0.02)


def test_an_unreachable_prometheus_is_unavailable() -> None:
    provider = PrometheusProvider(f"http://127.0.0.1:{free_port()}", timeout=2)
    now = datetime.now(UTC)
    with pytest.raises(UnavailableError, match="prometheus at"):
        provider.query("ep", now - timedelta(seconds=30), now)

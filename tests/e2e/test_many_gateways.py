"""Issue 19 "Many gateways": three `shipyard serve` processes on one PostgreSQL database and one artifact store,
behind a real HAProxy (Debian's package; `make haproxy`) started with the configuration printed in
docs/load-balancer.md, under load from several client threads, behave as one:

- a routing change reaches all three within 1 s (each gateway's own `/v1/endpoints`, and every request sent
  through the load balancer 1 s after the change is answered by the version the new table picks for its key);
  no request fails;
- each gateway's `/metrics` counts exactly the requests the load balancer says it served (`X-Served-By`), per
  version, and the three add up to what the clients got; so do their metric windows in the store;
- a canary rollout's analyses add up the windows of all three gateways;
- all three prediction logs land: every answered request id is in the log;
- one controller leads (one holder of the advisory lock, the one every rollout transition names); when that
  gateway stops under load, another takes over, and no client request fails while it leaves.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
from tests.builders import free_port
from tests.conftest import need_service
from tests.e2e.conftest import CliRunner
from tests.integration.telemetry_support import register, start_gateways, stop_gateways, wait_for

from shipyard.core.routing import RoutingTable, parse, pick

pytestmark = pytest.mark.slow
DOC = Path(__file__).resolve().parents[2] / "docs" / "load-balancer.md"
NAMES = ("gw1", "gw2", "gw3")
BEFORE = {"routes": [{"version": 1, "weight": 70}, {"version": 2, "weight": 30}]}
AFTER = {"routes": [{"version": 1, "weight": 30}, {"version": 2, "weight": 70}]}
YAML = """name: many
approval: {required: 1}
serving: {metrics_interval: 0.5}
deploy:
  steps: [50, 100]
  interval: 1s
  min_requests: 20
  max_inconclusive: 60
  analysis: [error_rate < 0.05]
"""


def haproxy_binary() -> str:
    found = shutil.which("haproxy") or next((p for p in ("/usr/sbin/haproxy",) if Path(p).exists()), None)
    if found is None:
        need_service("haproxy binary not installed (Debian package `haproxy`: run `make haproxy`)")
    return str(found)


def haproxy_config(port: int, servers: dict[str, int]) -> str:
    """docs/load-balancer.md's HAProxy configuration, listening on ``port``, its servers on these ports."""
    text = DOC.read_text()
    block = re.search(r"```haproxy\n(.*?)```", text, re.S)
    assert block, f"{DOC} has no ```haproxy block"
    cfg = block.group(1)
    cfg, n = re.subn(r"(?m)^(\s*bind\s+)\S+", rf"\g<1>127.0.0.1:{port}", cfg)
    assert n == 1, "the documented configuration binds exactly one address"
    names = re.findall(r"(?m)^\s*server\s+(\S+)\s+\S+", cfg)
    assert tuple(names) == tuple(servers), names
    for name, p in servers.items():
        cfg = re.sub(rf"(?m)^(\s*server\s+{name}\s+)\S+", rf"\g<1>127.0.0.1:{p}", cfg)
    return cfg


class Answer(NamedTuple):
    i: int  # request id r<i>, routing key k<i>
    sent: float
    done: float
    status: int  # 0: no HTTP answer at all
    version: int  # x-model-version (0: none)
    by: str  # X-Served-By: the gateway HAProxy sent it to
    error: str


class Load:
    """Client threads sending single-row OIP requests through the load balancer as fast as they are answered,
    each with its own request id and sticky routing key; every answer is recorded."""

    def __init__(self, url: str, seq: itertools.count[int], threads: int = 4) -> None:
        self.url, self.seq = url, seq
        self.answers: list[Answer] = []
        self.stop = threading.Event()
        self.workers = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as c:
            while not self.stop.is_set():
                i = next(self.seq)
                doc = {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [(i % 7) / 3.0, 0.5]}],
                       "parameters": {"routing_key": f"k{i}"}}
                sent = time.time()
                try:
                    r = c.post("/v2/models/ep/infer", json=doc, headers={"x-request-id": f"r{i}"})
                except httpx.TransportError as exc:
                    self.answers.append(Answer(i, sent, time.time(), 0, 0, "", repr(exc)))
                    continue
                version = r.headers.get("x-model-version", "")
                self.answers.append(Answer(i, sent, time.time(), r.status_code,
                                           int(version) if version.isdigit() else 0, r.headers.get("x-served-by", ""),
                                           "" if r.status_code == 200 else r.text))

    def start(self) -> Load:
        for w in self.workers:
            w.start()
        return self

    def halt(self) -> None:
        self.stop.set()
        for w in self.workers:
            w.join(30)

    def failures(self) -> list[Answer]:
        return [a for a in self.answers if a.status != 200]


def metrics(port: int) -> list[Any]:
    """The samples of the gateway's own /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return [s for family in text_string_to_metric_families(body) for s in family.samples]


def routing_metrics(port: int) -> tuple[int, float]:
    """The routing generation of endpoint ep in effect on the gateway, and when (its clock) it took effect."""
    got = {s.name: s.value for s in metrics(port) if s.labels.get("endpoint") == "ep"}
    return int(got["shipyard_routing_generation"]), float(got["shipyard_routing_generation_timestamp_seconds"])


def counted(port: int) -> Counter[int]:
    """``shipyard_requests_total`` of endpoint ep per version, from the gateway's own /metrics."""
    out: Counter[int] = Counter()
    for s in metrics(port):
        if s.name == "shipyard_requests_total" and s.labels.get("endpoint") == "ep":
            out[int(s.labels["version"])] += int(s.value)
    return out


def lock_holders(pg_url: str, key: int) -> list[str]:
    """application_name of every session holding the controller's advisory lock (a bigint key: classid is its
    high 32 bits, objid its low 32 bits)."""
    import psycopg

    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    with psycopg.connect(pg_url.split("?")[0], autocommit=True) as conn:
        rows = conn.execute("SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
                            "AND l.classid::bigint = %s AND l.objid::bigint = %s",
                            (unsigned >> 32, unsigned & 0xFFFF_FFFF)).fetchall()
    return sorted(r[0] for r in rows)


def window_sums(ws: Any, start: datetime, end: datetime) -> tuple[Counter[int], set[str]]:
    from shipyard.telemetry import window_store

    rows = [r for r in window_store.read(ws.db, "ep", start, end) if not r["shadow"]]
    sums: Counter[int] = Counter()
    for r in rows:
        sums[int(r["version"])] += int(r["requests"])
    return sums, {r["gateway"] for r in rows}


def test_three_gateways_behind_haproxy_behave_as_one(tmp_path: Path, pg_url: str, cli: CliRunner) -> None:
    from sqlalchemy import text

    from shipyard.config import Settings
    from shipyard.rollout.lease import pg_lock_key
    from shipyard.telemetry.prediction_log import read_log
    from shipyard.workspace import Workspace

    binary = haproxy_binary()
    root = tmp_path / "ws"
    root.mkdir(exist_ok=True)  # (the cli fixture made it)
    (root / "shipyard.yaml").write_text(YAML)
    ws = Workspace.init(root, settings=Settings(db_url=pg_url, actor="alice"))
    register(ws, tmp_path, [{"bias": 0.0}, {"bias": 0.5}, {"bias": -0.5}])
    ws.endpoints.deploy("m:1", "ep")
    ws.endpoints.set_routing("ep", BEFORE)
    with ws.db.engine.connect() as conn:
        key = pg_lock_key(conn, "rollout-controller")
        assert conn.execute(text("SELECT current_schema()")).scalar().startswith("t_")
    started = datetime.now(UTC) - timedelta(seconds=1)
    ports = dict(zip(NAMES, (free_port() for _ in NAMES), strict=True))
    urls = [f"{pg_url}&application_name={name}" for name in NAMES]  # names each gateway's sessions
    procs = dict(zip(NAMES, start_gateways(root, urls, list(ports.values()), logs=tmp_path), strict=True))
    lb_port = free_port()
    (tmp_path / "haproxy.cfg").write_text(haproxy_config(lb_port, ports))
    lb_log = open(tmp_path / "haproxy.log", "wb")  # noqa: SIM115 - closed with the process
    lb = subprocess.Popen([binary, "-db", "-f", str(tmp_path / "haproxy.cfg")], stdout=lb_log, stderr=subprocess.STDOUT)
    loads: list[Load] = []
    seq = itertools.count()  # request i: id r<i>, routing key k<i>, across both load phases
    try:
        def lb_ready() -> bool:
            assert lb.poll() is None, (tmp_path / "haproxy.log").read_text()
            try:
                return httpx.get(f"http://127.0.0.1:{lb_port}/v2/health/ready", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        assert wait_for(lb_ready, timeout=20), "haproxy did not start"
        old_gen = routing_metrics(ports["gw1"])[0]
        load = Load(f"http://127.0.0.1:{lb_port}", seq).start()
        loads.append(load)
        assert wait_for(lambda: {a.by for a in load.answers} >= set(NAMES) and len(load.answers) > 200, 20), \
            "the load balancer did not spread requests over the three gateways"

        # 1. a routing change between loaded versions, under load, made by an operator's `shipyard endpoints route`
        # (its own process: this one is busy with the load): in effect on every gateway within 1 s of its commit
        # (each gateway's own clock of when it applied the generation, against the endpoint's updated_at, taken
        # just before the writing transaction: at or before the commit)
        writing = time.time()
        routed = cli("endpoints", "route", "ep", "--set", "1=30", "--set", "2=70", "--json", cwd=root,
                     env={"SHIPYARD_DB_URL": pg_url})
        assert routed.returncode == 0, routed.stderr
        new = json.loads(routed.stdout)
        assert parse(new["routing"]) == parse(AFTER) and new["generation"] > old_gen
        changed_at = datetime.fromisoformat(new["updated_at"]).timestamp()
        assert writing <= changed_at <= time.time()
        applied = {n: wait_for(lambda p=p: (lambda g: g[1] if g[0] == new["generation"] else None)(
            routing_metrics(p)), timeout=10) for n, p in ports.items()}
        assert all(applied.values()), applied
        delays = {n: round(t - changed_at, 3) for n, t in applied.items()}
        print(f"routing generation {new['generation']} in effect after {delays} s")  # noqa: T201 - with -s
        assert max(delays.values()) <= 1.0, delays
        time.sleep(max(0.0, changed_at + 2.5 - time.time()))  # traffic on the new routing

        # every request sent 1 s after the commit followed the new table; every one answered before the write, the old
        before, after = parse(BEFORE), parse(AFTER)
        assert isinstance(before, RoutingTable) and isinstance(after, RoutingTable)
        late = [a for a in load.answers if a.sent >= changed_at + 1.0]
        early = [a for a in load.answers if a.done < writing]
        assert late and early
        assert [a for a in late if a.version != pick(after, f"k{a.i}")] == []
        assert [a for a in early if a.version != pick(before, f"k{a.i}")] == []

        # 2. a canary rollout to version 3 under the same load, judged on the three gateways' windows
        ws.rollouts.deploy("m:3", "ep")
        done = wait_for(lambda: (lambda r: r if r.state in ("promoted", "rolled_back", "aborted") else None)(
            ws.rollouts.status("ep")), timeout=60)
        assert done and done.state == "promoted", (done, ws.rollouts.status("ep", 20).analyses)
        time.sleep(0.5)
        load.halt()
        assert load.failures() == []

        # 3. each gateway counted what the load balancer says it served; together what the clients got
        answered = Counter(a.version for a in load.answers)
        by_gateway = {n: Counter(a.version for a in load.answers if a.by == n) for n in NAMES}
        assert set(answered) == {1, 2, 3} and all(sum(c.values()) > 50 for c in by_gateway.values()), by_gateway
        for name, port in ports.items():
            assert counted(port) == by_gateway[name], name
        # ... and so do their metric windows in the store (closed windows are flushed within ~1 s)
        horizon = datetime.now(UTC) + timedelta(seconds=5)
        got = wait_for(lambda: (lambda s: s if s[0] == answered else None)(window_sums(ws, started, horizon)), 10) \
            or window_sums(ws, started, horizon)
        assert got[0] == answered, (got, answered)
        assert {g.split(":")[1] for g in got[1]} == {str(p.pid) for p in procs.values()}

        # 4. each analysis counted the candidate's requests of every gateway in its window
        analyses = ws.rollouts.status("ep", 100).analyses
        judged = [a for a in analyses if a["verdict"] != "n/a"]
        assert judged and judged[-1]["verdict"] == "pass", analyses
        gateways_seen: set[str] = set()
        for a in judged:
            lo, hi = datetime.fromisoformat(a["window_start"]), datetime.fromisoformat(a["window_end"])
            sums, gws = window_sums(ws, lo, hi)
            recorded = next(c["value"] for c in a["checks"] if c["metric"] == "requests" and c["role"] == "candidate")
            assert recorded == sums[3], (a, sums)
            if recorded:
                gateways_seen |= gws
        assert len(gateways_seen) == 3, gateways_seen

        # 5. one controller leads: one lock holder, named by every transition of the rollout
        holders = lock_holders(pg_url, key)
        assert len(holders) == 1 and holders[0] in NAMES, holders
        leader = holders[0]
        actors = {(json.loads(e.after) if isinstance(e.after, str) else e.after or {}).get("controller")
                  for e in ws.audit.log(subject="rollout:*") if e.actor == "rollout-controller"}
        assert actors and {str(a).split(":")[1] for a in actors} == {str(procs[leader].pid)}, (actors, leader)

        # 6. the leader leaves under load: HAProxy takes it out, no request fails, another gateway leads
        load = Load(f"http://127.0.0.1:{lb_port}", seq, threads=2).start()
        loads.append(load)
        time.sleep(0.5)
        stop_gateways([procs[leader]])
        others = [n for n in NAMES if n != leader]
        assert wait_for(lambda: (lambda h: h if len(h) == 1 and h[0] in others else None)(lock_holders(pg_url, key)),
                        timeout=10), lock_holders(pg_url, key)
        # its health check fails (connections refused after SIGTERM): HAProxy marks it down; until then the
        # refused connections were retried on the others (retry-on conn-failure, option redispatch)
        assert wait_for(lambda: f"gateways/{leader} is DOWN" in (tmp_path / "haproxy.log").read_text(), 10)
        time.sleep(0.5)
        load.halt()
        assert load.failures() == [], load.failures()[:5]
        assert {a.by for a in load.answers[-50:]} <= set(others)
    finally:
        for running in loads:
            running.halt()
        lb.terminate()
        lb.wait(10)
        lb_log.close()
        stop_gateways(list(procs.values()))  # each flushes its prediction log and open windows

    # 7. every gateway's prediction log landed in the shared store: every answered request id is there, and
    # the windows of both load phases (the leaver flushed its open ones when it stopped) add up
    sent = [a for running in loads for a in running.answers]
    table = read_log(ws.artifacts, "ep", started)
    assert table is not None
    logged = Counter(table.column("request_id").to_pylist())
    for name in NAMES:
        ids = Counter(f"r{a.i}" for a in sent if a.by == name)
        assert ids and not ids - logged, (name, len(ids - logged))
    assert logged == Counter(f"r{a.i}" for a in sent)  # each once: nothing retried twice, nothing lost
    sums, gateways = window_sums(ws, started, datetime.now(UTC) + timedelta(seconds=5))
    assert sums == Counter(a.version for a in sent) and len(gateways) == 3
    ws.close()

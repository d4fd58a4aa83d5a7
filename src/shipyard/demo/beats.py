"""The story: five beats over one workspace, a summary table, and the dashboard left running."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from shipyard.demo.story import Story


def first_version(s: Story) -> None:
    s.say("1. Data v1 -> run -> v1 registered, approved by someone else, deployed")
    s.train()
    mv = s.latest()
    s.cmd("approve", "credit-risk:1", check=False, show=2)  # the author may not approve their own version
    s.approve("credit-risk:1")
    s.cmd("deploy", "credit-risk:1")
    s.start_servers()
    time.sleep(3)
    stage = s.latest_of(1)["stage"]
    s.beat("v1 live", f"credit-risk:1 {mv['stage']} -> {stage}, serving 100% of credit-risk", stage in
           ("approved", "production"))


def better_version(s: Story) -> None:
    s.say("2. New data v2 -> run -> gated against the champion -> approved -> canary under live traffic")
    shutil.copy(s.root / "data" / "credit-full.csv", s.root / "data" / "credit.csv")
    s.train()
    s.approve("credit-risk:2")
    s.cmd("deploy", "credit-risk:2")
    st = s.watch_rollout()
    v2 = s.latest_of(2)
    s.beat("v2 promoted", f"canary {st['state']}, v2 {v2['stage']}, aliases {v2['aliases']}",
           st["state"] == "promoted" and v2["stage"] == "production")


def corrupted_version(s: Story) -> None:
    s.say("3. A v3 trained on corrupted data (labels shuffled) fails its gates")
    import pandas as pd

    good = s.root / "data" / "credit.csv"
    df = pd.read_csv(good)
    df["Status"] = df["Status"].sample(frac=1.0, random_state=3).to_numpy()
    df.to_csv(good, index=False)
    proc = s.train(expect_exit=1)
    failed = [" ".join(ln.replace("│", " ").split()) for ln in proc.stdout.splitlines() if "FAIL" in ln]
    shutil.copy(s.root / "data" / "credit-full.csv", good)
    v3 = s.latest_of(3)
    s.beat("v3 rejected", f"exit 1, stage {v3['stage']}: {failed[0] if failed else 'a gate failed'}",
           v3["stage"] == "rejected")


def slow_version(s: Story) -> None:
    s.say("4. A v4 (a 600-tree forest) passes offline but is slow live: its canary is rolled back by itself")
    import yaml

    cfg_path = s.root / "shipyard.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    original = cfg["pipeline"]["train"]
    cfg["pipeline"]["train"] = "pipeline/forest.py:train"
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    s.train()
    s.approve("credit-risk:4")
    s.cmd("deploy", "credit-risk:4")
    st = s.watch_rollout()
    cfg["pipeline"]["train"] = original  # the team goes back to the gradient-boosted trees
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    served = s.sh.json("endpoints", "show", "credit-risk")["routing"]["routes"]
    s.beat("v4 rolled back", f"canary {st['state']} ({st.get('reason') or ''}); traffic back on "
           f"{[(r['version'], r['weight']) for r in served]}", st["state"] == "rolled_back")


def drift_and_retrain(s: Story) -> None:
    s.say("5. The applicants change: drift alert -> a retrain candidate through the same gates")
    assert s.traffic is not None
    before = set(range(1, 5))
    s.traffic.shift()
    deadline = time.monotonic() + 150
    alert = None
    while time.monotonic() < deadline and alert is None:
        alerts = s.sh.json("monitor", "alerts", "--endpoint", "credit-risk")
        alert = next((a for a in alerts if a["rule"].startswith("drift") and a["severity"] in
                      ("critical", "emergency")), None)
        time.sleep(2)
    if alert is None:
        s.beat("drift alert", "no critical drift alert within 150 s", False)
        return
    s.beat("drift alert", f"{alert['severity']}: {alert['message']}", True)
    deadline = time.monotonic() + 180
    new = None
    while time.monotonic() < deadline and new is None:
        listed = s.latest()
        if int(listed["version"]) not in before:
            new = listed
        time.sleep(2)
    s.beat("retrain candidate", f"credit-risk:{new['version']} {new['stage']} by {new['created_by']}, lineage "
           f"{[x['ref'] for x in new['lineage'] if x['kind'] == 'dataset']}" if new else "none within 180 s",
           new is not None and new["stage"] in ("validated", "rejected", "candidate"))


def summary(s: Story, console: Console) -> Table:
    t = Table(title="shipyard demo: the loop, closed")
    for col in ("beat", "what happened", ""):
        t.add_column(col)
    for name, evidence, ok in s.beats:
        t.add_row(name, evidence, "[green]✓[/]" if ok else "[red]✗[/]")
    return t


def tell(root: Path, wait: bool) -> int:
    console = Console(highlight=False, width=None if Console().is_terminal else 120)
    s = Story(root, console)
    token = ""
    try:
        s.setup()
        for beat in (first_version, better_version, corrupted_version, slow_version, drift_and_retrain):
            beat(s)
        s.sh.run("users", "add", "demo", "--role", "admin", check=False)
        token = s.sh.json("users", "token", "create", "demo")["token"]
    except Exception as exc:  # noqa: BLE001 - the summary and the logs say what broke
        console.print(f"[red]demo failed:[/] {exc}")
        console.print(summary(s, console))
        console.print(f"logs: {root / 'gateway.log'}, {root / 'server.log'}")
        s.stop()
        return 1
    console.print(summary(s, console))
    traffic = s.traffic
    if traffic is not None:
        console.print(f"client traffic: {traffic.sent} requests, {traffic.ok} answered, per version "
                      f"{dict(sorted(traffic.versions.items()))}")
    console.print(f"\ndashboard: [bold]http://127.0.0.1:{s.api_port}/[/]  (sign in with the token {token})")
    console.print(f"workspace: {root}")
    if not wait:
        s.stop()
        return 0
    console.print("servers keep running with live traffic; Ctrl-C stops them")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        s.stop()
    return 0

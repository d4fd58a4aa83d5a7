"""Server processes for the benchmark: start, wait, measure RSS of the tree, and always kill.

Every server is started in its own session (process group). `Reaper.kill_all()` terminates each
group and any descendant that left it, and runs from `finally`, atexit and SIGTERM/SIGHUP.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # comm may contain spaces/parens: fields after the last ')'
        fields = stat[stat.rfind(")") + 2 :].split()
        kids.setdefault(int(fields[1]), []).append(int(entry))
    return kids


def tree(pid: int) -> list[int]:
    kids = children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            pass
    return total


CLK_TCK = os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds used so far by a process and its live descendants (/proc/<pid>/stat)."""
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return total / CLK_TCK


def tree_rss_mb(pid: int) -> float:
    return rss_bytes(tree(pid)) / 2**20


def _smaps_rollup(pid: int) -> dict[str, float]:
    """kB fields of /proc/<pid>/smaps_rollup (Rss, Pss, Private_Clean, ...) in MB; {} if unreadable."""
    out: dict[str, float] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[-1] == "kB":
                    out[parts[0].rstrip(":")] = int(parts[1]) / 1024
    except (OSError, ValueError):
        return {}
    return out


def _label(pid: int) -> str:
    """A short name for a process: its command line's last meaningful words."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return "?"
    if "-c" in argv:  # python -c "from multiprocessing.spawn import spawn_main; ..." and the like
        code = argv[argv.index("-c") + 1] if argv.index("-c") + 1 < len(argv) else ""
        return "python -c " + code.split(";")[0][:60]
    return " ".join(Path(a).name if a.startswith("/") else a for a in argv[:4])[:80]


def _resident_frames(pid: int) -> set[int] | None:
    """The physical page frames the process has resident (``/proc/<pid>/pagemap``), or None when they are not
    readable here (frame numbers read as 0 without CAP_SYS_ADMIN)."""
    frames: set[int] = set()
    zero = False
    try:
        with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/pagemap", "rb") as pagemap:
            for line in maps:
                start, end = (int(x, 16) for x in line.split()[0].split("-"))
                if line.rstrip().endswith("[vsyscall]"):
                    continue
                pagemap.seek(start // PAGE * 8)
                data = pagemap.read((end - start) // PAGE * 8)
                for (entry,) in struct.iter_unpack("<Q", data):
                    if entry >> 63:  # present
                        pfn = entry & ((1 << 55) - 1)
                        zero = zero or pfn == 0
                        frames.add(pfn)
    except OSError:
        return None
    return None if zero else frames


def tree_distinct_rss_mb(pid: int) -> float | None:
    """Resident memory of the whole tree with every physical page counted once: for one process exactly its
    RSS; for several, their RSS without the pages they share (the libraries each maps) counted again. Unlike
    PSS it does not depend on what else runs on the host. None where page frames are not readable (not root)."""
    seen: set[int] = set()
    for p in tree(pid):
        frames = _resident_frames(p)
        if frames is None:
            if _alive(p):
                return None
            continue
        seen |= frames
    return round(len(seen) * PAGE / 2**20, 1)


def tree_memory(pid: int) -> dict:
    """Per process of the tree: RSS, PSS (shared pages divided among the processes that map them) and USS
    (pages only this process maps), MB; plus their sums, and the tree's RSS with each page counted once. A sum
    of RSS double-counts the libraries every process of a tree maps; PSS and USS do not (PSS also shares pages
    with unrelated processes of the same files, so it moves with what else runs on the host)."""
    rows = []
    for p in tree(pid):
        m = _smaps_rollup(p)
        if not m:
            continue
        uss = m.get("Private_Clean", 0.0) + m.get("Private_Dirty", 0.0)
        rows.append({"pid": p, "process": _label(p), "rss_mb": round(m.get("Rss", 0.0), 1),
                     "pss_mb": round(m.get("Pss", 0.0), 1), "uss_mb": round(uss, 1)})
    return {
        "rss_mb": round(sum(r["rss_mb"] for r in rows), 1),
        "pss_mb": round(sum(r["pss_mb"] for r in rows), 1),
        "uss_mb": round(sum(r["uss_mb"] for r in rows), 1),
        "rss_distinct_mb": tree_distinct_rss_mb(pid),
        "processes": rows,
    }


class RssSampler:
    """Samples the RSS of a process tree in a thread; keeps the maximum."""

    def __init__(self, pid: int, every: float = 0.5):
        self.pid, self.every, self.max_mb = pid, every, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.max_mb = max(self.max_mb, tree_rss_mb(self.pid))
            self._stop.wait(self.every)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.max_mb = max(self.max_mb, tree_rss_mb(self.pid))


class Reaper:
    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []
        atexit.register(self.kill_all)
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        # Ctrl-C must stop the run even when started from a shell that ignores SIGINT (`cmd &`)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def _on_signal(self, signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    def start(self, cmd: list[str], *, cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
        log.parent.mkdir(parents=True, exist_ok=True)
        fh = open(log, "wb")
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        fh.close()
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen, grace: float = 5.0) -> None:
        pids = tree(proc.pid)
        groups = set()
        for p in pids:
            try:
                groups.add(os.getpgid(p))
            except OSError:
                pass
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for g in groups:
                try:
                    os.killpg(g, sig)
                except OSError:
                    pass
            for p in pids:  # descendants that started their own group
                try:
                    os.kill(p, sig)
                except OSError:
                    pass
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and any(_alive(p) for p in pids):
                try:
                    proc.wait(timeout=0.1)
                except subprocess.TimeoutExpired:
                    pass
            if not any(_alive(p) for p in pids):
                break
        try:
            proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            pass
        if proc in self.procs:
            self.procs.remove(proc)

    def kill_all(self) -> None:
        for proc in list(self.procs):
            self.kill(proc)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return False


def wait_http(url: str, proc: subprocess.Popen, timeout: float, every: float = 0.05) -> None:
    """Wait until GET url answers 200; raise RuntimeError if the process dies or time runs out.

    Polls every ``every`` seconds: the start-up time run.py records is this wait, so a coarse poll would add up
    to one interval to a server that refuses connections until ready and nothing to one that accepts them
    early (the kernel queues the connection and the answer comes as soon as the server is ready)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before becoming ready")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
                last = f"HTTP {r.status}"
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code}"
        except (urllib.error.URLError, OSError) as e:
            last = str(e)
        time.sleep(every)
    raise RuntimeError(f"not ready after {timeout:.0f} s ({url}: {last})")


def post_json(url: str, body: bytes, timeout: float = 30) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()

"""Run one subject and measure its whole process tree: wall time, peak summed RSS and PSS, largest process.

``os.wait4``'s ``ru_maxrss`` is no measure here: it is the peak of ONE process (a Dask LocalCluster's
nannies and workers, Ray's GCS server, raylet and workers are separate processes), and Linux carries the
parent's RSS at ``fork`` into the child's ``ru_maxrss``, so every subject started by a benchmark that
holds 300 MB reports at least 300 MB (the earlier results showed the plain loop and Ray at the same
311.7 MB for that reason). Here a sampler thread reads ``/proc`` every ``interval`` seconds and sums,
over every process of the tree, its RSS (``/proc/PID/statm``) and its PSS (``/proc/PID/smaps_rollup``:
shared pages split between the processes sharing them). RSS is the headline: PSS also splits a library's
pages with unrelated processes on the machine that map the same file, so it moves with whatever else
runs; the summed RSS counts a library mapped by several workers once per worker (an upper bound). The
tree is:

- the subject's descendants (by parent pid, walked from the subject each sample);
- every process in the subject's session (the subject is started with ``start_new_session``): this keeps
  daemons that were re-parented to init (Ray's processes, ``multiprocessing`` helpers) in the tree;
- every process seen once in the tree and still alive with the same start time (re-parented and moved to
  its own session; still counted while it runs).

RSS is read every ``interval`` (50 ms); PSS only at every 10th sample and when the summed RSS sets a new
peak (at most every 4th sample). Reading ``smaps_rollup`` walks the process's page tables under its
``mmap_lock``, and at 20 Hz it slowed every subject by 5-15 % (a thread that maps or unmaps memory waits
for the walk, and page faults queue behind that thread); ``statm`` reads counters and takes no lock.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(parent pid, session id, start time) of ``pid``, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()  # the command name may hold spaces and parentheses
    return int(fields[1]), int(fields[3]), int(fields[19])


def _rss(pid: int) -> int | None:
    """RSS of ``pid`` in bytes, or None when it is gone (or a kernel thread)."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return None


def _pss(pid: int, rss: int) -> int:
    """PSS of ``pid`` in bytes; ``rss`` where there is no ``smaps_rollup`` (old kernel, not ours to read)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return rss


class TreeSampler(threading.Thread):
    """Samples the process tree rooted at ``root`` until ``stop``; keeps the peaks."""

    def __init__(self, root: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True, name="tree-sampler")
        self.root, self.interval = root, interval
        self.seen: dict[int, int] = {}  # pid -> start time (pids are reused: the start time tells them apart)
        self.peak_rss = self.peak_pss = self.peak_procs = self.peak_one = 0
        self.samples = self._pss_at = 0
        self._halt = threading.Event()

    def _tree(self) -> list[int]:
        procs: dict[int, tuple[int, int, int]] = {}
        for name in os.listdir("/proc"):
            if name.isdigit() and (st := _stat(int(name))) is not None:
                procs[int(name)] = st
        children: dict[int, list[int]] = {}
        for pid, (ppid, _sid, _start) in procs.items():
            children.setdefault(ppid, []).append(pid)
        tree, todo = set(), [self.root]
        while todo:
            pid = todo.pop()
            if pid in procs and pid not in tree:
                tree.add(pid)
                todo.extend(children.get(pid, []))
        tree |= {pid for pid, (_p, sid, _s) in procs.items() if sid == self.root}
        tree |= {pid for pid, start in self.seen.items() if pid in procs and procs[pid][2] == start}
        for pid in tree:
            self.seen[pid] = procs[pid][2]
        return sorted(tree)

    def sample(self) -> None:
        tree = self._tree()
        sizes = {pid: r for pid in tree if (r := _rss(pid)) is not None}
        rss = sum(sizes.values())
        self.samples += 1
        if sizes:
            self.peak_one = max(self.peak_one, *sizes.values())
        self.peak_procs = max(self.peak_procs, len(sizes))
        peak = rss > self.peak_rss
        self.peak_rss = max(self.peak_rss, rss)
        if self.samples % 10 == 1 or (peak and self.samples - self._pss_at >= 4):
            self._pss_at = self.samples
            pss = sum(_pss(pid, rss) for pid, rss in sizes.items())
            self.peak_pss = max(self.peak_pss, pss)

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def run(argv: list[str], *, env: dict[str, str] | None = None, timeout: float = 3600,
        interval: float = 0.05, cwd: Path | None = None) -> dict[str, Any]:
    """Run ``argv`` to the end in its own session: exit code, wall seconds, the tree's peak summed PSS and
    RSS (MB), the largest single process (``ru_maxrss``), processes seen, and stdout as JSON (or its last JSON
    line).
    Whatever the subject left running in its session when it exits is killed (and reported)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env={**os.environ, **(env or {})},
                                start_new_session=True, cwd=cwd)
        sampler = TreeSampler(proc.pid, interval)
        sampler.start()
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
            time.sleep(0.02)
        wall = time.perf_counter() - started
        sampler.stop()
        leftovers = _reap_session(proc.pid)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    answer: Any = None
    try:
        answer = json.loads(stdout)  # the whole output is one (pretty-printed) document
    except ValueError:
        for line in reversed(stdout.strip().splitlines()):  # else its last JSON line
            try:
                answer = json.loads(line)
                break
            except ValueError:
                continue
    mb = 1 << 20
    return {"exit_code": proc.returncode, "wall_s": round(wall, 2),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),  # the subject and the children it waited for
            "peak_pss_mb": round(sampler.peak_pss / mb, 1), "peak_rss_sum_mb": round(sampler.peak_rss / mb, 1),
            "max_process_rss_mb": round(sampler.peak_one / mb, 1), "processes": len(sampler.seen),
            "samples": sampler.samples, "left_running": leftovers, "answer": answer,
            "stderr_tail": stderr.strip().splitlines()[-3:]}


def _reap_session(sid: int) -> int:
    """Kill what is still running in session ``sid`` after its leader exited (a daemon a subject failed
    to stop); returns how many there were. Only processes of that session: the subject's own."""
    import signal

    left = [int(n) for n in os.listdir("/proc") if n.isdigit() and (st := _stat(int(n))) is not None
            and st[1] == sid]
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return len(left)

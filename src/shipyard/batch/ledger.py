"""The output folder's ledger: which parts are finished, which to skip, and their rows' way to the prediction log.

Runs in the driver only, under the folder's lock. A part is skipped when the manifest (``_manifest.json``)
records it finished for the same input bytes and artifact digest, its file exists, and, when the run logs
to an endpoint (``--monitor``), it was scored with the same endpoint and sample rate (else it is scored
again: its monitor rows were never sampled). Each finished part is recorded with the job that scored it and
when; with ``--monitor`` its rows are then published (``monitor.publish``, a name derived from that entry)
and the entry marked published, then the part's monitor file is removed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from shipyard.batch import monitor
from shipyard.batch import parts as p
from shipyard.batch.engines import lower_priority
from shipyard.batch.score import PartResult
from shipyard.registry.models import ModelVersion

Progress = Callable[[str, int, int], None]  # (part name, parts done, parts total)
Runner = Callable[[list[p.Part]], Iterator[tuple[p.Part, PartResult]]]


class Ledger:
    def __init__(self, out_dir: Path, mv: ModelVersion, job: str, artifacts: Any, now: Callable[[], str],
                 target: monitor.Target | None) -> None:
        self.out_dir, self.mv, self.job, self.artifacts, self.now, self.target = (out_dir, mv, job, artifacts,
                                                                                 now, target)
        p.clean_temporaries(out_dir)
        self.manifest = p.read_manifest(out_dir)
        self.done: dict[str, Any] = self.manifest["parts"]

    def _finished(self, part: p.Part, sha: str) -> bool:
        prev = self.done.get(part.out_name)
        return bool(prev and prev.get("sha256") == sha and prev.get("digest") == self.mv.artifact_digest
                    and (self.out_dir / part.out_name).exists()
                    and (self.target is None or self.target.wants(prev)))

    def _publish(self, name: str) -> None:
        """Publish a recorded part's monitor rows unless the manifest says they are (then only tidy up)."""
        entry = self.done[name]
        log = entry.get("log")
        if self.target is None or not self.target.wants(entry) or log is None:
            return
        if not log.get("published"):
            log["object"] = monitor.publish(self.artifacts, self.target, self.out_dir, name, entry)
            log["published"] = True
            p.write_manifest(self.out_dir, self.manifest)
        monitor.forget(self.out_dir, name)

    def run(self, todo: list[p.Part], runner: Callable[[], Runner], progress: Progress | None) -> list[dict[str, Any]]:
        """Hash the parts that may be skipped now; start hashing the others, then call ``runner()`` (which loads
        the model) and score them with what it returns. The hashes are computed on one thread at the lowest
        priority (sha256 releases the GIL): first on the core the model's single-threaded load leaves idle,
        then on the one the read, check and write phases leave idle, not against the model's threads
        (hashing in step with scoring cost ~5 % of a job's time)."""
        from concurrent.futures import Future, ThreadPoolExecutor

        hashes = {x.out_name: p.content_hash(x) for x in todo
                  if x.out_name in self.done and (self.out_dir / x.out_name).exists()}
        skipped = {x.out_name for x in todo if x.out_name in hashes and self._finished(x, hashes[x.out_name])}
        for name in sorted(skipped):  # a run killed between publishing and recording it publishes again
            self._publish(name)
        count = len(skipped)
        if progress is not None and count:
            progress("finished parts skipped", count, len(todo))
        pool = ThreadPoolExecutor(1, thread_name_prefix="shipyard-batch-hash", initializer=lower_priority)
        later: dict[str, Future[str]] = {x.out_name: pool.submit(p.content_hash, x) for x in todo
                                         if x.out_name not in skipped and x.out_name not in hashes}
        try:
            run = runner()
            for part, res in run([x for x in todo if x.out_name not in skipped]):
                self._record(part, res, hashes.get(part.out_name) or later[part.out_name].result())
                count += 1
                if progress is not None:
                    progress(part.out_name, count, len(todo))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return [{**self.done[x.out_name], "output": x.out_name, "skipped": x.out_name in skipped} for x in todo]

    def _record(self, part: p.Part, res: PartResult, sha: str) -> None:
        entry = {"input": part.uri, "sha256": sha, "model": self.mv.model,
                 "version": self.mv.version, "digest": self.mv.artifact_digest, "rows": res.rows,
                 "bad": res.bad, "seconds": round(res.seconds, 4), "job": self.job, "at": self.now()}
        if self.target is not None:
            entry["log"] = {"endpoint": self.target.endpoint, "sample": self.target.sample,
                            "rows": res.logged, "published": False, "object": None}
        self.done[part.out_name] = entry
        p.write_manifest(self.out_dir, self.manifest)  # recorded (and named) before it is published
        self._publish(part.out_name)

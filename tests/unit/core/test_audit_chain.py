from __future__ import annotations

from dataclasses import replace

from shipyard.governance.audit import GENESIS, AuditEvent, event_hash, verify_chain


def _chain(n: int) -> list[AuditEvent]:
    out, prev = [], GENESIS
    for i in range(1, n + 1):
        args = (i, f"2026-01-01T00:00:0{i}", "alice", "model.register", f"model:m:{i}", None, '{"v":1}', prev)
        h = event_hash(*args)
        out.append(AuditEvent(*args, hash=h))
        prev = h
    return out


def test_intact_chain_verifies() -> None:
    r = verify_chain(_chain(5))
    assert r.ok and r.checked == 5


def test_edit_is_found_at_the_edited_event() -> None:
    ev = _chain(5)
    ev[2] = replace(ev[2], actor="mallory")
    r = verify_chain(ev)
    assert not r.ok and r.first_bad == 3 and "edited" in r.reason


def test_delete_and_reorder_are_found() -> None:
    ev = _chain(5)
    r = verify_chain(ev[:2] + ev[3:])
    assert not r.ok and r.first_bad == 4
    r = verify_chain([ev[0], ev[2], ev[1], ev[3]])
    assert not r.ok and r.first_bad == 3

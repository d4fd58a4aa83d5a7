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


KEY = b"0123456789abcdef0123456789abcdef"


def _keyed(n: int, key: bytes = KEY) -> list[AuditEvent]:
    from shipyard.governance.audit import scheme_for

    out, prev = [], GENESIS
    for i in range(1, n + 1):
        args = (i, f"2026-01-01T00:00:0{i}", "alice", "user.add", f"user:u{i}", None, '{"role":"viewer"}', prev)
        h = event_hash(*args, key=key)
        out.append(AuditEvent(*args, hash=h, scheme=scheme_for(key)))
        prev = h
    return out


def test_a_keyed_head_cannot_be_rewound_without_the_key() -> None:
    from shipyard.governance.audit import AuditHead, head_mac, head_problem

    ev = _keyed(4)
    good = AuditHead(4, ev[3].hash, head_mac(KEY, 4, ev[3].hash))
    assert head_problem(ev[3], good, KEY) is None
    # event 4 deleted, head moved back to event 3: the MAC (for 4) no longer fits; a cleared MAC neither
    rewound = head_problem(ev[2], AuditHead(3, ev[2].hash, good.mac), KEY)
    assert rewound is not None and rewound[0] == 4 and "does not match its MAC" in rewound[1]
    cleared = head_problem(ev[2], AuditHead(3, ev[2].hash, None), KEY)
    assert cleared is not None and cleared[0] == 4 and "no MAC" in cleared[1]
    # the head MAC is not the event's own hash (domain-separated): copying the event hash does not help
    assert head_problem(ev[2], AuditHead(3, ev[2].hash, ev[2].hash), KEY) is not None
    # a head MAC left behind on a plain newest event shows a rewrite without the key
    plain = _chain(2)
    left = head_problem(plain[1], AuditHead(2, plain[1].hash, "f" * 64), None)
    assert left is not None and "carries a MAC" in left[1]


def test_an_append_checks_the_tail_with_this_process_key() -> None:
    import pytest

    from shipyard.governance.audit import (
        AuditHead,
        AuditKeyError,
        AuditTamperedError,
        check_tail,
        head_mac,
        key_id,
    )

    ev = _keyed(2)
    head = AuditHead(2, ev[1].hash, head_mac(KEY, 2, ev[1].hash))
    check_tail(ev[1], head, KEY)
    check_tail(None, None, None)  # an empty log takes any first event
    check_tail(_chain(1)[0], AuditHead(1, _chain(1)[0].hash), KEY)  # a plain log may become keyed
    with pytest.raises(AuditKeyError, match="SHIPYARD_AUDIT_KEY is not set") as exc:
        check_tail(ev[1], head, None)
    assert exc.value.field == "SHIPYARD_AUDIT_KEY"
    other = b"another-key-0123456789abcdef"
    with pytest.raises(AuditKeyError, match=f"key id {key_id(other)}, event 2 was keyed with key id {key_id(KEY)}"):
        check_tail(ev[1], head, other)
    with pytest.raises(AuditTamperedError, match="event 2: content does not match its hash"):
        check_tail(replace(ev[1], actor="mallory"), head, KEY)
    with pytest.raises(AuditTamperedError, match="the newest events were deleted"):
        check_tail(ev[0], head, KEY)
    with pytest.raises(AuditTamperedError, match="head row was deleted"):
        check_tail(ev[1], None, KEY)

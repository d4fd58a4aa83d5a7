"""core.limits is the one place the column sizes are written for validation: it must agree with the
tables, and the helpers must refuse what the database would (on either backend) with the length."""

from __future__ import annotations

import pytest

from shipyard.core import limits
from shipyard.core.permissions import Principal, Role
from shipyard.errors import InvalidInputError
from shipyard.registry.errors import BadReferenceError
from shipyard.registry.refs import ModelRef, check_alias, check_name, parse_ref
from shipyard.store.sql import tables as t


def _len(column: object) -> int:
    length = column.type.length  # type: ignore[attr-defined]
    assert isinstance(length, int)
    return length


def test_limits_match_the_columns() -> None:
    for col in (t.models.c.name, t.datasets.c.name, t.endpoints.c.name, t.principals.c.name, t.runs.c.model,
                t.endpoints.c.model):
        assert _len(col) == limits.NAME_MAX, col
    for col in (t.models.c.created_by, t.model_versions.c.created_by, t.datasets.c.created_by,
                t.stage_history.c.actor, t.approvals.c.principal, t.audit_events.c.actor, t.runs.c.actor):
        assert _len(col) == limits.ACTOR_MAX, col
    assert _len(t.model_aliases.c.alias) == limits.ALIAS_MAX
    assert _len(t.model_tags.c.key) == limits.TAG_KEY_MAX
    assert _len(t.audit_events.c.subject) == limits.SUBJECT_MAX
    assert limits.MAX_INT == 2**31 - 1  # INTEGER on PostgreSQL: versions and ids


def test_every_audit_subject_built_from_valid_names_fits() -> None:
    v = str(limits.MAX_INT)
    n = "n" * limits.NAME_MAX
    for subject in (f"model:{n}:{v}", f"dataset:{n}@{v}", f"user:{n}", f"endpoint:{n}"):
        assert len(subject) <= limits.SUBJECT_MAX, subject
    # model:NAME@ALIAS does not always fit: check_alias(model=...) refuses what would not.
    room = limits.SUBJECT_MAX - len(f"model:{n}@")
    assert check_alias("a" * room, model=n)
    with pytest.raises(BadReferenceError) as e:
        check_alias("a" * (room + 1), model=n)
    assert e.value.field == "alias" and f"at most {room} characters" in str(e.value)


@pytest.mark.parametrize("text", ["m:²", "m:١", "m:0", "m:-1", "m:+1", "m: 1", "m:1 ", "m:1_0", "m:0x1",
                                  "m:2147483648", "m:99999999999999999999", "m:" + "9" * 5000, "m:"])
def test_parse_ref_takes_ascii_versions_in_range_only(text: str) -> None:
    with pytest.raises(BadReferenceError) as e:
        parse_ref(text)
    assert e.value.field == "version" and "1..2147483647" in str(e.value)


def test_parse_ref_accepts_the_bounds() -> None:
    assert parse_ref("m:1") == ModelRef("m", version=1)
    assert parse_ref("m:2147483647").version == 2147483647
    assert parse_ref("m:007").version == 7


@pytest.mark.parametrize("bad", [True, 0, 2**31, 10**20])
def test_a_model_ref_refuses_versions_out_of_range(bad: int) -> None:
    with pytest.raises(BadReferenceError):
        ModelRef("m", version=bad)


@pytest.mark.parametrize("text", ["nl\n", "m\n", "m\r", "m\x00", "", " m", "m@a\n", "m@1a"])
def test_trailing_newlines_and_odd_names_are_refused(text: str) -> None:
    with pytest.raises(BadReferenceError):
        parse_ref(text)


def test_length_errors_name_the_length_and_the_limit() -> None:
    with pytest.raises(BadReferenceError) as e:
        check_name("a" * 201)
    assert str(e.value).startswith("name: 201 characters") and "at most 200" in str(e.value)
    assert check_name("a" * 200)
    with pytest.raises(BadReferenceError) as e:
        check_alias("a" * 101)
    assert str(e.value).startswith("alias: 101 characters") and "at most 100" in str(e.value)


def test_a_principal_name_longer_than_its_columns_is_refused() -> None:
    assert Principal("b" * 200, Role.ADMIN).name == "b" * 200
    with pytest.raises(InvalidInputError) as e:
        Principal("b" * 250, Role.ADMIN)
    assert e.value.field == "actor" and "250 characters" in str(e.value) and "at most 200" in str(e.value)


def test_check_int_refuses_bools_and_out_of_range() -> None:
    assert limits.check_int("id", 1) == 1
    for bad in (True, False, 0, -1, limits.MAX_INT + 1, "1", 1.0):
        with pytest.raises(InvalidInputError):
            limits.check_int("id", bad)

"""A worker's error comes back as the local executor would have returned it: shipyard's own class (field, value,
expected), a built-in exception, anything else a ``StepError``; no other class is imported by name."""

from __future__ import annotations

import json

from shipyard.errors import NotFoundError
from shipyard.pipeline.errors import TrainFunctionError
from shipyard.pipeline.executors.remote import StepError, describe, rebuild


def test_errors_come_back_as_the_local_executor_would_return_them() -> None:
    err = rebuild(json.loads(json.dumps(describe(TrainFunctionError("pipeline.train: boom", field="pipeline.train",
                                                                    value="t.py:train", expected="a model")))))
    assert type(err) is TrainFunctionError and (err.field, err.value, err.expected) == ("pipeline.train",
                                                                                        "t.py:train", "a model")
    assert str(err) == "pipeline.train: boom"
    assert type(rebuild(describe(NotFoundError(field="model", value="m")))) is NotFoundError
    key = rebuild(describe(KeyError("Age")))
    assert type(key) is KeyError
    other = rebuild(describe(json.JSONDecodeError("bad", "x", 0)))  # not a built-in: its own class is not rebuilt
    assert type(other) is StepError and "JSONDecodeError" in str(other)
    forged = rebuild({"class": "os:system", "type": "system", "message": "x"})
    assert type(forged) is StepError  # only shipyard's error classes and built-in exceptions are rebuilt

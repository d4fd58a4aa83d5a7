"""shipyard's own routes: ``POST /v1/endpoints/{name}/predict`` and ``.../feedback``, ``GET /v1/endpoints``.

predict takes ``{"instances": [{column: value}, ...]}`` or ``{"dataframe_split": {"columns", "data"}}``
(optionally ``"key"`` for sticky routing) and answers ``{"request_id", "model", "version",
"predictions", ["probabilities", "classes"]}``. feedback takes ``{"request_id", "label"}`` (with an optional
0-based ``"row"``), ``{"request_id", "labels": [...]}`` (one per row) or ``{"feedback": [{...}, ...]}`` and
answers 202; the rows reach the store within about a second.
"""

from __future__ import annotations

from typing import Any

import orjson

from shipyard.core.permissions import Permission
from shipyard.errors import UnavailableError
from shipyard.serving.http import HttpError, Request, Response, object_body
from shipyard.serving.signature import RequestError

OPTS = orjson.OPT_SERIALIZE_NUMPY


def _rows(lv: Any, body: dict[str, Any]) -> Any:
    if "instances" in body:
        return lv.signature.from_instances(body["instances"])
    if "dataframe_split" in body:
        return lv.signature.from_dataframe_split(body["dataframe_split"])
    raise RequestError(field="body", value=sorted(body)[:5], expected="'instances' or 'dataframe_split'")


async def predict(gw: Any, req: Request, parts: tuple[str, ...]) -> Response:
    ep = gw.endpoint(parts[2], "endpoint")
    body = object_body(req.body)
    extra = sorted(set(body) - {"instances", "dataframe_split", "key"})
    if extra:
        raise RequestError(field=f"body.{extra[0]}", value=extra[0],
                           expected="only instances | dataframe_split | key")
    lv = gw.choose(ep, req, None, body.get("key"))
    try:
        rows = _rows(lv, body)
    except RequestError as exc:
        raise HttpError(exc.status, exc, str(lv.version)) from None
    outputs = await gw.infer(ep, lv, rows, req, body, _rows)
    pred = outputs["predict"]
    doc: dict[str, Any] = {"request_id": req.request_id, "model": lv.model, "version": lv.version,
                           "predictions": pred if pred.dtype.kind in "fiub" else pred.tolist()}
    if "predict_proba" in outputs:
        doc["probabilities"] = outputs["predict_proba"]
        doc["classes"] = lv.classes
    return Response(200, orjson.dumps(doc, option=OPTS), version=str(lv.version))


MAX_FEEDBACK_ROW = 10_000  # highest 0-based row a label may name


def _too_many(n: int, limit: int) -> HttpError:
    return HttpError(413, RequestError(
        f"feedback: {n} labels in one call, more than the limit of {limit}; split them into several calls",
        field="feedback", value=n, expected=f"at most {limit} labels a call (serving.feedback_max_labels)"))


async def feedback(gw: Any, req: Request, parts: tuple[str, ...]) -> Response:
    """``{request_id, label}`` labels a whole request (its one row); ``{request_id, row, label}`` one row of a
    multi-row request; ``{request_id, labels: [...]}`` each of its rows in order; ``{feedback: [...]}`` many.
    With ``auth: required`` the caller needs a bearer token whose role grants ``feedback`` (checked first)."""
    gw.access.check(req.headers, Permission.FEEDBACK, "feedback")
    limit = gw.options.feedback_max_labels
    ep = gw.endpoint(parts[2], "endpoint")
    body = object_body(req.body)
    items = body.get("feedback") if "feedback" in body else [body]
    if not isinstance(items, list) or not items:
        raise RequestError(field="feedback", value=items, expected="a non-empty list of {request_id, label}")
    if len(items) > limit:
        raise _too_many(len(items), limit)
    known = _known_labels(ep)
    rows: list[tuple[str, str, int | None, Any]] = []
    for i, it in enumerate(items):
        where = f"feedback[{i}]" if "feedback" in body else "body"
        if not isinstance(it, dict):
            raise RequestError(field=where, value=it, expected="an object {request_id, label}")
        rid = it.get("request_id")
        if not isinstance(rid, str) or not 0 < len(rid) <= 100:
            raise RequestError(field=f"{where}.request_id", value=rid, expected="the x-request-id of a prediction")
        extra = sorted(set(it) - {"request_id", "label", "row", "labels"})
        if extra:
            raise RequestError(field=f"{where}.{extra[0]}", value=extra[0],
                               expected="only request_id with label (and row), or labels")
        if ("label" in it) == ("labels" in it) or ("labels" in it and "row" in it):
            raise RequestError(field=f"{where}.label", value=sorted(it), expected="either label (with an optional "
                               "row) or labels (one per row of the request)")
        if "labels" in it:
            labels = it["labels"]
            if not isinstance(labels, list) or not labels:
                raise RequestError(field=f"{where}.labels", value=labels,
                                   expected=f"a list of 1..{limit} labels, one per row of the request")
            if len(rows) + len(labels) > limit:
                raise _too_many(len(rows) + len(labels), limit)
            pairs: list[tuple[int | None, Any, str]] = [(k, v, f"{where}.labels[{k}]") for k, v in enumerate(labels)]
        else:
            row = it.get("row")
            if row is not None and (not isinstance(row, int) or isinstance(row, bool) or not 0 <= row
                                    < MAX_FEEDBACK_ROW):
                raise RequestError(field=f"{where}.row", value=row,
                                   expected=f"the 0-based row of the request (0..{MAX_FEEDBACK_ROW - 1})")
            pairs = [(row, it["label"], f"{where}.label")]
        for row, label, field in pairs:
            rows.append((ep.name, rid, row, _checked_label(ep, known, label, field)))
    if not gw.feedback.add(rows):  # the buffer is full (the store has been unreachable): counted as dropped
        limit = gw.options.feedback_buffer
        raise HttpError(503, UnavailableError(
            f"feedback: the gateway's buffer holds {len(gw.feedback)} labels, the store is not taking them; "
            "send these again later", field="feedback", value=len(rows),
            expected=f"room in the buffer of {limit} labels (serving.feedback_buffer)"))
    gw.metrics.observe_feedback(ep.name, len(rows))
    return Response(202, orjson.dumps({"accepted": len(rows)}))


def _checked_label(ep: Any, known: dict[Any, Any] | None, label: Any, field: str) -> Any:
    if isinstance(label, (dict, list)):
        raise RequestError(field=field, value=label, expected="a scalar label")
    if known is None:
        return label
    # the served form is stored: 1.0 for class 1, "1" for class 1 (and the reverse) are that class
    found = known.get(label, known.get(str(label), _UNKNOWN))
    if found is _UNKNOWN:
        classes = list(dict.fromkeys(known.values()))
        shown = ", ".join(map(repr, classes[:12])) + (", ..." if len(classes) > 12 else "")
        raise RequestError(field=field, value=label, status=422,
                           expected=f"one of the classes endpoint {ep.name} predicts: {shown}")
    return found


_UNKNOWN = object()


def _known_labels(ep: Any) -> dict[Any, Any] | None:
    """{label and its text: the label} over the classes of every version the endpoint serves; None when a
    version declares no classes (a regressor, or a pyfunc that does not say), so any scalar is accepted."""
    known: dict[Any, Any] = {}
    for lv in ep.versions.values():
        if not lv.classes:
            return None
        for c in lv.classes:
            known[c] = c
            known.setdefault(str(c), c)
    return known


async def list_endpoints(gw: Any, req: Request, parts: tuple[str, ...]) -> Response:
    doc = [{"name": ep.name, "model": ep.model, "generation": ep.generation, "routing": ep.table.to_dict()}
           for ep in sorted(gw.state.endpoints.values(), key=lambda e: e.name)]
    return Response(200, orjson.dumps({"endpoints": doc}))


ROUTES: dict[tuple[str, ...], tuple[tuple[str, ...], Any]] = {
    ("v1", "endpoints", "*", "predict"): (("POST",), predict),
    ("v1", "endpoints", "*", "feedback"): (("POST",), feedback),
    ("v1", "endpoints"): (("GET",), list_endpoints),
}

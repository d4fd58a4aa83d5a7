"""Gate expressions: a tiny parsed language over evaluation metrics (never ``eval``).

Grammar (whitespace between tokens is free)::

    gate   := METRIC [ "vs" "champion" ] OP NUMBER [ "%" ] [ "(" "ci" ")" ]
    OP     := ">=" | "<=" | ">" | "<" | "==" | "!="
    METRIC := [A-Za-z_][A-Za-z0-9_.]* | [A-Za-z_][A-Za-z0-9_.]*"."`COLUMN`

``roc_auc >= 0.8`` compares the new model's value with the bound. ``roc_auc vs champion >= -0.005``
compares the difference new - champion; with ``%`` the relative difference
``100 * (new - champion) / |champion|``. ``(ci)`` passes only if the whole bootstrap confidence
interval of the paired difference clears the bound (its lower end for ``>``/``>=``, its upper end
for ``<``/``<=``). Champion gates pass with the note "no champion" when there is none yet.

Rollout analysis checks (``parse_check``, read by ``core.analysis``) use the same tokens with two more
suffixes and no champion: ``p99_latency_ms < 1.5 x stable`` compares with 1.5 times the stable version's
value, and `` (dry_run)`` marks a check that is measured and shown but never decides::

    check  := METRIC OP NUMBER [ "x" "stable" ] [ "(" "dry_run" ")" ]
A per-column metric whose column name has spaces or other characters quotes it in backticks:
``demographic_parity_difference.`Marital Status` <= 0.1``.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from shipyard.errors import InvalidInputError

OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
    "==": operator.eq, "!=": operator.ne,
}
_TOKEN = re.compile(
    r"\s*(?:(?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<op>>=|<=|==|!=|>|<)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_.]*)"
    r"|(?P<quoted>`[^`]+`)"
    r"|(?P<punct>[%()]))"
)


class GateSyntaxError(InvalidInputError):
    """A gate expression does not parse; the message names the gate, the position and what was expected."""


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # number | op | name | quoted | punct | end
    text: str
    pos: int


@dataclass(frozen=True, slots=True)
class Gate:
    """One parsed gate."""

    text: str
    metric: str
    op: str
    bound: float
    relative: bool = False
    vs_champion: bool = False
    ci: bool = False
    x_stable: bool = False  # rollout checks: the bound is a multiple of the stable version's value
    dry_run: bool = False  # rollout checks: measured and shown, never deciding


@dataclass(frozen=True, slots=True)
class GateResult:
    """The outcome of one gate: ``value`` is what was compared with ``threshold``."""

    gate: str
    metric: str
    passed: bool
    value: float | None
    threshold: float
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"gate": self.gate, "metric": self.metric, "passed": self.passed, "value": self.value,
                "threshold": self.threshold, "note": self.note}


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; an unknown character raises naming its position."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            at = pos + (len(text[pos:]) - len(text[pos:].lstrip()))
            raise _error(text, at, f"unexpected character {text[at]!r}",
                         "a metric name, an operator (>= <= > < == !=), a number, '%' or '(ci)'")
        kind = m.lastgroup or "punct"
        tokens.append(Token(kind, m.group(kind), m.start(kind)))
        pos = m.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def _error(text: str, pos: int, problem: str, expected: str) -> GateSyntaxError:
    return GateSyntaxError(
        f"gate '{text}': {problem} at position {pos + 1}, expected {expected}",
        field=f"gates: '{text}' (position {pos + 1})", value=text, expected=expected,
    )


class _Parser:
    def __init__(self, text: str, field: str = "gates") -> None:
        self.text = text
        self.field = field
        try:
            self.tokens = tokenize(text)
        except GateSyntaxError as exc:
            raise self._renamed(exc) from None
        self.i = 0

    def _renamed(self, exc: GateSyntaxError) -> GateSyntaxError:
        if self.field == "gates":
            return exc
        return GateSyntaxError(str(exc).replace("gate '", "check '", 1),
                               field=str(exc.field).replace("gates", self.field, 1), value=exc.value,
                               expected=exc.expected)

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self, kind: str, expected: str, text: str | None = None) -> Token:
        tok = self.peek()
        if tok.kind != kind or (text is not None and tok.text.lower() != text):
            got = "the end" if tok.kind == "end" else repr(tok.text)
            raise self._renamed(_error(self.text, tok.pos, f"got {got}", expected))
        self.i += 1
        return tok

    def parse_check(self) -> Gate:
        """``METRIC OP NUMBER [x stable] [(dry_run)]`` (a rollout analysis check)."""
        metric = self.take("name", "a metric name such as error_rate").text
        op = self.take("op", "an operator: >= <= > < == !=").text
        bound = float(self.take("number", "a number").text)
        x_stable = dry_run = False
        if self.peek().kind == "name" and self.peek().text.lower() == "x":
            self.i += 1
            self.take("name", "'stable' after 'x'", "stable")
            x_stable = True
        if self.peek().kind == "punct" and self.peek().text == "(":
            self.i += 1
            self.take("name", "'dry_run' inside the parentheses", "dry_run")
            self.take("punct", "')'", ")")
            dry_run = True
        self.take("end", "the end of the check (or 'x stable', '(dry_run)')")
        return Gate(self.text.strip(), metric, op, bound, x_stable=x_stable, dry_run=dry_run)

    def parse(self) -> Gate:
        metric = self.take("name", "a metric name such as roc_auc").text
        if metric.endswith(".") and self.peek().kind == "quoted":  # metric.`column with spaces`
            metric += self.take("quoted", "a `column`").text[1:-1]
        elif self.peek().kind == "quoted":
            raise _error(self.text, self.peek().pos, "a quoted column must follow 'metric.'",
                         "metric.`column name`")
        vs = False
        if self.peek().kind == "name" and self.peek().text.lower() == "vs":
            self.i += 1
            self.take("name", "'champion' after 'vs'", "champion")
            vs = True
        op_tok = self.take("op", "an operator: >= <= > < == !=")
        op = op_tok.text
        number = self.take("number", "a number").text
        bound = float(number)
        relative = ci = False
        if self.peek().kind == "punct" and self.peek().text == "%":
            relative = True
            self.i += 1
        if self.peek().kind == "punct" and self.peek().text == "(":
            self.i += 1
            self.take("name", "'ci' inside the parentheses", "ci")
            self.take("punct", "')'", ")")
            ci = True
        self.take("end", "the end of the gate (or '%', '(ci)')")
        if (relative or ci) and not vs:
            what = "'%'" if relative else "'(ci)'"
            raise _error(self.text, self.tokens[0].pos, f"{what} compares with the champion",
                         f"'{metric} vs champion {op} {number}{'%' if relative else ''}{' (ci)' if ci else ''}'")
        if ci and op in ("==", "!="):
            raise _error(self.text, op_tok.pos, "'(ci)' needs an ordering", "one of >= <= > <")
        return Gate(self.text.strip(), metric, op, bound, relative, vs, ci)


def parse(text: str) -> Gate:
    """Parse one gate expression.

    Raises:
        GateSyntaxError: naming the gate text, the 1-based position and what was expected there.
    """
    if not isinstance(text, str) or not text.strip():
        raise GateSyntaxError(field="gates", value=text, expected="a gate such as 'roc_auc >= 0.8'")
    return _Parser(text).parse()


def parse_check(text: str, field: str = "analysis") -> Gate:
    """Parse one rollout analysis check (``error_rate < 0.01``, ``p99_latency_ms < 1.5 x stable (dry_run)``).

    Raises:
        GateSyntaxError: naming ``field``, the check text, the 1-based position and what was expected there.
    """
    if not isinstance(text, str) or not text.strip():
        raise GateSyntaxError(field=field, value=text, expected="a check such as 'error_rate < 0.01'")
    return _Parser(text, field).parse_check()


def parse_all(texts: list[str]) -> list[Gate]:
    return [parse(t) for t in texts]


def evaluate(gate: Gate, values: Mapping[str, float], champion_values: Mapping[str, float] | None = None,
             ci_bounds: Mapping[str, tuple[float, float]] | None = None) -> GateResult:
    """Decide one gate.

    Args:
        gate: the parsed gate.
        values: the new model's metrics.
        champion_values: the champion's metrics on the same test set, ``None`` when there is no champion.
        ci_bounds: per metric, the bootstrap interval of the paired difference new - champion
            (``"<metric>%"`` keys hold the relative interval in percent).

    Raises:
        InvalidInputError: the gate names a metric the evaluation does not have.
    """
    value = _metric(gate, values, "the evaluation")
    if not gate.vs_champion:
        return GateResult(gate.text, gate.metric, _compare(gate.op, value, gate.bound), value, gate.bound)
    if champion_values is None:
        return GateResult(gate.text, gate.metric, True, None, gate.bound, "no champion")
    champ = _metric(gate, champion_values, "the champion's evaluation")
    diff = value - champ
    if gate.relative:
        diff = math.inf if champ == 0 and diff else (0.0 if champ == 0 else 100.0 * diff / abs(champ))
    note = f"new {value:.4g} vs champion {champ:.4g}"
    if not gate.ci:
        return GateResult(gate.text, gate.metric, _compare(gate.op, diff, gate.bound), diff, gate.bound, note)
    key = gate.metric + ("%" if gate.relative else "")
    bounds = (ci_bounds or {}).get(key)
    if bounds is None:
        raise InvalidInputError(field=f"gates: '{gate.text}'", value=gate.metric,
                                expected="a metric with a bootstrap interval (set evaluation.bootstrap > 0)")
    lo, hi = float(bounds[0]), float(bounds[1])
    edge = lo if gate.op in (">", ">=") else hi
    passed = _compare(gate.op, edge, gate.bound)
    return GateResult(gate.text, gate.metric, passed, diff, gate.bound, f"{note}; CI [{lo:.4g}, {hi:.4g}]")


def _metric(gate: Gate, values: Mapping[str, float], where: str) -> float:
    if gate.metric not in values:
        known = ", ".join(sorted(values)[:40])
        raise InvalidInputError(f"gate '{gate.text}': unknown metric '{gate.metric}' in {where}; known: {known}",
                                field=f"gates: '{gate.text}'", value=gate.metric, expected=f"one of {known}")
    v = values[gate.metric]
    return float("nan") if v is None else float(v)


def _compare(op: str, value: float, bound: float) -> bool:
    if math.isnan(value):
        return False
    return OPS[op](value, bound)

"""Settings (environment, ``SHIPYARD_*``) and the ``shipyard.yaml`` schema.

Settings are parsed once at the edge (CLI or server start) and passed down; nothing reads the
environment at import time. ``load_project`` turns pydantic's errors into an ``InvalidInputError``
that names the key, the value and what was expected.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

from shipyard.errors import InvalidInputError
from shipyard.monitoring.spec import MonitorSpec

CONFIG_FILE = "shipyard.yaml"
# a fully qualified type name as skops reports it: module.path.Name
TYPE_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
STATE_DIR = ".shipyard"


class Settings(BaseSettings):
    """Process settings; each field ``foo_bar`` is read from ``SHIPYARD_FOO_BAR``."""

    model_config = SettingsConfigDict(env_prefix="SHIPYARD_", extra="ignore")

    db_url: str | None = None
    artifacts_url: str | None = None
    server: str | None = None
    token: str | None = None
    actor: str | None = None
    auth: Literal["optional", "required"] | None = None
    audit_key: SecretStr | None = None  # HMAC key for the audit chain (governance/audit.py)
    log_hash_key: SecretStr | None = None  # HMAC key for serving.log_hash_columns (default: .shipyard/log-hash.key)
    evidence_key: SecretStr | None = None  # HMAC key sealing gate evidence (registry/evidence.py, wiring)

    def audit_key_bytes(self) -> bytes | None:
        """The audit key, or None; a key shorter than 16 characters is refused (it would be guessable)."""
        if self.audit_key is None or not self.audit_key.get_secret_value():
            return None
        key = self.audit_key.get_secret_value()
        if len(key) < 16:
            raise InvalidInputError(field="SHIPYARD_AUDIT_KEY", value=f"{len(key)} characters",
                                    expected="at least 16 characters (e.g. the output of `openssl rand -hex 32`)")
        return key.encode("utf-8")

    def log_hash_key_bytes(self) -> bytes | None:
        """SHIPYARD_LOG_HASH_KEY, or None; shorter than 16 characters is refused (a dictionary would guess it)."""
        if self.log_hash_key is None or not self.log_hash_key.get_secret_value():
            return None
        key = self.log_hash_key.get_secret_value()
        if len(key) < 16:
            raise InvalidInputError(field="SHIPYARD_LOG_HASH_KEY", value=f"{len(key)} characters",
                                    expected="at least 16 characters (e.g. the output of `openssl rand -hex 32`)")
        return key.encode("utf-8")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StoreSpec(_Strict):
    db_url: str | None = None
    artifacts_url: str | None = None


class DataSpec(_Strict):
    train: str
    target: str
    positive: str | int | None = None
    dataset: str | None = None
    task: Literal["classification", "regression"] | None = None


class SplitSpec(_Strict):
    test_size: float = Field(0.25, gt=0, lt=1)
    seed: int = 7
    stratify: bool = True


class ExecutorSpec(_Strict):
    """Where steps run (``pipeline/executors/``): ``local`` (this process), or ``dask`` / ``ray``: the portable steps
    as tasks on a cluster, at ``address`` or on a small local one started for the run. ``pipeline.executor: dask``
    is short for ``{name: dask}``."""

    name: str = "local"
    address: str | None = None

    @field_validator("name")
    @classmethod
    def _known_executor(cls, name: str) -> str:
        from shipyard.pipeline.executors.factory import EXECUTORS

        if name not in EXECUTORS:
            from pydantic_core import PydanticCustomError

            raise PydanticCustomError("executor", "one of {expected}", {"expected": " | ".join(sorted(EXECUTORS))})
        return name

    @model_validator(mode="after")
    def _address_for_a_cluster(self) -> ExecutorSpec:
        from pydantic_core import PydanticCustomError

        from shipyard.pipeline.executors.factory import CLUSTERS

        if self.address is not None and self.name not in CLUSTERS:
            raise PydanticCustomError("executor_address", "an address only with name {clusters} (the cluster to "
                                      "connect to), not with {name}",
                                      {"clusters": " | ".join(CLUSTERS), "name": self.name})
        if self.address is not None and (not self.address.strip() or any(c.isspace() for c in self.address)):
            raise PydanticCustomError("executor_address", "a cluster address without spaces (tcp://HOST:8786 for "
                                      "dask, ray://HOST:10001 or HOST:6379 for ray), not '{address}'",
                                      {"address": self.address})
        return self


class PipelineSpec(_Strict):
    train: str
    params: dict[str, Any] = Field(default_factory=dict)
    split: SplitSpec = Field(default_factory=SplitSpec)
    flavor: Literal["sklearn", "xgboost", "lightgbm"] = "sklearn"
    # none: user-code steps (train) run in the `shipyard run` process; subprocess: in a sandboxed child without
    # the store's credentials or keys (pipeline/executors/isolated.py). Monitor retrains always use subprocess.
    isolation: Literal["none", "subprocess"] = "none"
    executor: ExecutorSpec = Field(default_factory=ExecutorSpec)

    @field_validator("executor", mode="before")
    @classmethod
    def _executor_shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"name": value}
        if not isinstance(value, (dict, ExecutorSpec)):
            from pydantic_core import PydanticCustomError

            raise PydanticCustomError("executor", "a name (local | dask | ray) or a mapping {name: dask, address: "
                                      "tcp://HOST:8786}")
        return value


class DriftSpec(_Strict):
    """The drift engine's settings (``core.drift.engine``): Holm's alpha, per-column methods, a floor override.

    ``threshold`` replaces every method's effect-size floor with one number (before issue 16 it was a PSI
    level; ``None``, the default, keeps each method's own floor).
    """

    threshold: float | None = Field(None, ge=0, allow_inf_nan=False)
    alpha: float = Field(0.05, gt=0, lt=1)
    methods: dict[str, str] = Field(default_factory=dict)

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, methods: dict[str, str]) -> dict[str, str]:
        from shipyard.core.drift.engine import METHODS

        for column, method in methods.items():
            if method not in METHODS:
                from pydantic_core import PydanticCustomError

                raise PydanticCustomError("drift_method", "{column}: unknown drift method {method!r}; expected one "
                                          "of {expected}", {"column": column, "method": method,
                                                            "expected": " | ".join(METHODS)})
        return methods


class ValidationSpec(_Strict):
    schema_: Literal["infer"] = Field("infer", alias="schema")
    drift: DriftSpec = Field(default_factory=DriftSpec)
    fail_on_drift: bool = False


class FairnessSpec(_Strict):
    sensitive: list[str] = Field(default_factory=list)
    # the fairness metric the report and card lead with; all four are computed (binary classification), so
    # any of them can be gated
    metric: str = "demographic_parity_difference"

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, metric: str) -> str:
        from shipyard.evaluation.names import FAIRNESS_METRICS

        if metric not in FAIRNESS_METRICS:
            from pydantic_core import PydanticCustomError

            raise PydanticCustomError("fairness_metric", "one of " + ", ".join(FAIRNESS_METRICS))
        return metric


class RobustnessSpec(_Strict):
    missing_rate: float = Field(0.1, ge=0, le=1)
    noise: float = Field(0.05, ge=0)
    swap_rate: float = Field(0.1, ge=0, le=1)


class EvaluationSpec(_Strict):
    metrics: list[str] = Field(default_factory=list)
    slices: list[str] = Field(default_factory=list)
    fairness: FairnessSpec | None = None
    robustness: RobustnessSpec | None = Field(default_factory=RobustnessSpec)
    bootstrap: int = Field(200, ge=0)
    shap: bool = False
    # slices and fairness groups with fewer test rows are reported as too small: no slice metrics, left out of
    # the fairness differences/ratios/gaps, and a warning naming the column
    min_group_size: int = Field(30, ge=1)


class ApprovalSpec(_Strict):
    required: int = Field(1, ge=0)


_DURATION = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: str | float | int, field: str) -> float:
    """``500ms``, ``30s``, ``10m``, ``1h`` or a number of seconds -> seconds (> 0).

    Raises:
        InvalidInputError: naming ``field`` and the accepted forms.
    """
    import re

    expected = "a duration > 0 such as 500ms, 30s, 10m, 1h (or a number of seconds)"
    if isinstance(value, bool):
        raise InvalidInputError(field=field, value=value, expected=expected)
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", str(value))
        if m is None:
            raise InvalidInputError(field=field, value=value, expected=expected)
        seconds = float(m.group(1)) * _DURATION[m.group(2) or "s"]
    if not 0 < seconds < 10 * 365 * 86400:
        raise InvalidInputError(field=field, value=value, expected=expected)
    return seconds


class DeploySpec(_Strict):
    """``deploy:`` — how ``shipyard deploy`` rolls a new version out (docs/design.md "Rollouts")."""

    endpoint: str | None = None
    strategy: Literal["canary", "bluegreen", "shadow", "ab"] = "canary"
    steps: list[int] = Field(default_factory=lambda: [5, 25, 50, 100])
    interval: str | float = "30s"
    min_requests: int = Field(200, ge=0)
    # a deploy without checks is still judged on errors: the default is `error_rate < 0.01`
    analysis: list[str] = Field(default_factory=lambda: ["error_rate < 0.01"])
    pause_at: list[int] = Field(default_factory=list)  # canary steps that wait for `rollout promote`
    failure_limit: int = Field(2, ge=1)  # consecutive failed analyses that roll back
    max_inconclusive: int = Field(10, ge=1)  # consecutive intervals without enough data that pause
    keep_previous: str | float = "10m"  # blue-green: the old version stays loaded (standby) this long
    grace_period: str | float = "10m"  # after a promotion the old stable becomes `retired` after this
    smoke_requests: int = Field(20, ge=1, le=1000)  # blue-green: logged requests replayed against the candidate
    ab_split: int = Field(50, ge=1, le=99)  # A/B: the candidate's percent
    ab_promote: bool = False  # A/B: promote when the interval excludes zero in the candidate's favour
    ab_metric: Literal["accuracy", "mae"] = "accuracy"
    ab_confidence: float = Field(0.95, gt=0.5, lt=1)
    provider: str = "builtin"  # metric provider: builtin | prometheus
    prometheus_url: str | None = None
    webhooks: list[str] = Field(default_factory=list)  # Slack-compatible incoming-webhook URLs

    @field_validator("steps")
    @classmethod
    def _steps_in_range(cls, steps: list[int]) -> list[int]:
        if not steps:
            raise ValueError("steps: got [], expected at least one percent 1..100")
        for i, s in enumerate(steps):
            if not 0 < s <= 100:
                raise ValueError(f"steps[{i}]: got {s}, expected an integer 1..100")
            if i and s <= steps[i - 1]:
                raise ValueError(f"steps[{i}]: got {s}, expected more than steps[{i - 1}] ({steps[i - 1]})")
        return steps

    @field_validator("interval", "keep_previous", "grace_period")
    @classmethod
    def _duration(cls, value: str | float, info: Any) -> str | float:
        try:
            parse_duration(value, info.field_name)
        except InvalidInputError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("analysis")
    @classmethod
    def _checks(cls, checks: list[str]) -> list[str]:
        from shipyard.core.analysis import parse_checks

        try:
            parse_checks(checks)
        except InvalidInputError as exc:
            raise ValueError(str(exc)) from None
        return checks

    @field_validator("webhooks")
    @classmethod
    def _urls(cls, urls: list[str]) -> list[str]:
        from shipyard.monitoring.spec import check_webhooks

        return check_webhooks(urls)

    @model_validator(mode="after")
    def _pause_at_in_steps(self) -> DeploySpec:
        for i, p in enumerate(self.pause_at):
            if p not in self.steps:
                raise ValueError(f"pause_at[{i}]: got {p}, expected one of the steps {self.steps}")
        if self.provider not in ("builtin", "prometheus"):
            raise ValueError(f"provider: got {self.provider!r}, expected builtin | prometheus")
        if self.provider == "prometheus" and not self.prometheus_url:
            raise ValueError("prometheus_url: got None, expected the Prometheus base URL with provider: prometheus")
        return self


class ServingSpec(_Strict):
    max_batch_size: int = Field(32, ge=1)
    max_wait_ms: float = Field(2.0, ge=0)
    log_sample_rate: float = Field(1.0, ge=0, le=1)
    log_drop_columns: list[str] = Field(default_factory=list)
    log_hash_columns: list[str] = Field(default_factory=list)
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    # process: models predict in a child process (no GIL shared with HTTP handling; a model crash
    # is a 503 and a restart); thread: in a thread pool of the gateway process.
    predict_in: Literal["process", "thread"] = "process"
    # seconds: the gateway's metric windows (per endpoint x version, for rollout analysis) are this wide and
    # flushed to the store this often
    metrics_interval: float = Field(5.0, gt=0, le=3600)

    # Overload (issue 18): past these bounds a request is answered 503 with Retry-After, never queued forever.
    max_queue: int = Field(1024, ge=1, le=1_000_000)  # requests waiting per version (not yet sent to the model)
    predict_timeout: float = Field(10.0, gt=0, le=3600)  # seconds a prediction may take; then 503 (and a hung
    # model process is killed and restarted)
    max_shadow_in_flight: int = Field(256, ge=0, le=100_000)  # mirrored requests in flight; past it mirrors drop
    feedback_max_labels: int = Field(1000, ge=1, le=100_000)  # labels in one feedback call (413 past it)
    feedback_buffer: int = Field(100_000, ge=1, le=10_000_000)  # labels held while the store is unreachable


class SandboxSpec(_Strict):
    """Limits for child processes that run user code (pyfunc inspection, the gateway's model process, and the
    train step under ``pipeline.isolation: subprocess``)."""

    timeout_s: float = Field(60.0, gt=0, allow_inf_nan=False)  # registration's inspection of a pyfunc
    memory_mb: int | None = Field(2048, ge=256)  # RLIMIT_AS of each child; null: no limit
    train_timeout_s: float = Field(3600.0, gt=0, allow_inf_nan=False)  # an isolated train step, then killed
    train_memory_mb: int | None = Field(8192, ge=256)  # RLIMIT_AS of an isolated train step; null: no limit
    # folders an isolated train step may write besides its private directory (a download cache, say); relative
    # to the workspace; never the store's folders
    train_writable: list[str] = Field(default_factory=list)
    # may an isolated train step open TCP connections (a download, a remote data source)? Off: a monitor's
    # unattended retrain runs the workspace's code with no way to send what it can read anywhere
    train_network: bool = False


class ProjectConfig(_Strict):
    """The whole ``shipyard.yaml`` contract."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str | None = None
    model: str | None = None
    store: StoreSpec = Field(default_factory=StoreSpec)
    auth: Literal["optional", "required"] = "optional"
    data: DataSpec | None = None
    pipeline: PipelineSpec | None = None
    validation: ValidationSpec = Field(default_factory=ValidationSpec)
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)
    gates: list[str] = Field(default_factory=list)
    approval: ApprovalSpec = Field(default_factory=ApprovalSpec)
    deploy: DeploySpec | None = None
    monitor: MonitorSpec | None = None
    serving: ServingSpec = Field(default_factory=ServingSpec)
    # types (as skops names them, e.g. builtins.object) a user reviewed and trusts beyond skops' defaults and
    # shipyard's reviewed list; registration records and audits the ones a version needed (flavors/sklearn.py)
    trusted_types: list[str] = Field(default_factory=list)

    @field_validator("trusted_types")
    @classmethod
    def _dotted_names(cls, names: list[str]) -> list[str]:
        from pydantic_core import PydanticCustomError

        for i, name in enumerate(names):
            if not TYPE_NAME_RE.match(name):
                raise PydanticCustomError("type_name", "trusted_types[{i}] to be a dotted type name such as "
                                          "builtins.object (module.Name, as a refusal names it), not '{name}'",
                                          {"i": i, "name": name})
        return sorted(set(names))
    sandbox: SandboxSpec = Field(default_factory=SandboxSpec)


def _describe(err: ErrorDetails) -> tuple[str, Any, str]:
    loc = ".".join(str(p) for p in err.get("loc", ())) or "(root)"
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return loc, err.get("input"), "one of the known keys (see docs/design.md, shipyard.yaml)"
    if kind == "missing":
        return loc, None, "this key to be set"
    return loc, err.get("input"), err.get("msg", "a valid value")


def parse_project(raw: Any, source: str = CONFIG_FILE) -> ProjectConfig:
    """Validate a parsed YAML mapping; raise InvalidInputError naming the first bad key."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidInputError(field=source, value=type(raw).__name__, expected="a YAML mapping")
    try:
        return ProjectConfig.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        loc, value, expected = _describe(errors[0])
        if errors[0].get("type") == "extra_forbidden":
            known = _known_keys(errors[0].get("loc", ()))
            if known:
                expected = "one of " + ", ".join(known)
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        msg = f"{source}: key '{loc}': got {value!r}, expected {expected}{more}"
        raise InvalidInputError(msg, field=loc, value=value, expected=expected) from None


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = ProjectConfig
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        ann = getattr(field, "annotation", None) if field else None
        candidates = [a for a in getattr(ann, "__args__", (ann,)) if isinstance(a, type)]
        nxt = next((c for c in candidates if issubclass(c, BaseModel)), None)
        if nxt is None:
            return []
        model = nxt
    return sorted(f.alias or name for name, f in model.model_fields.items())


def load_project(root: Path) -> ProjectConfig:
    """Read ``shipyard.yaml`` under ``root`` (an absent file is an empty config)."""
    import yaml

    path = root / CONFIG_FILE
    if not path.exists():
        return ProjectConfig()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot be read ({exc.strerror or exc}); expected a readable YAML file",
                                field=str(path), value=None, expected="a readable YAML file") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InvalidInputError(
            f"{path}: line {line}, column {column}: byte 0x{data[exc.start]:02x} is not UTF-8 text; "
            "expected a UTF-8 encoded file (re-save it as UTF-8)",
            field=str(path), value=f"byte 0x{data[exc.start]:02x} at line {line}, column {column}",
            expected="a UTF-8 encoded file",
        ) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise InvalidInputError(
            f"{path}:{where} is not valid YAML ({getattr(exc, 'problem', exc)})",
            field=str(path), value=None, expected="valid YAML",
        ) from None
    return parse_project(raw, source=str(path))

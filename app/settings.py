"""The one settings object, read once from the environment at boot.

Every field has a default and a one-line doc; a bad value fails fast with a message naming the variable.
Vertex AI's custom-container variables (``AIP_*``) are honoured when set, so the same image deploys to Vertex AI
endpoints unchanged. Nothing else in the service reads ``os.environ``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from app.batching import BatchingSettings
from app.codecs.limits import Limits
from app.cpus import usable_cpus
from app.versions import VersionPolicy

#: The bundled demo model: ``<project root>/models/mnist`` (``/app/models/mnist`` in the container).
DEMO_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "mnist"
DEMO_MODEL_COMMAND = f"python -m model_export mnist --output {DEMO_MODEL_DIR}"


class SettingsError(ValueError):
    """An environment variable has a value the service cannot use."""


@dataclass(frozen=True)
class DriftSettings:
    """Drift-monitoring configuration. Build it with :meth:`from_env`."""

    window: int = 1000
    """DRIFT_WINDOW: live values kept per feature (per worker) for the test: the most recent ones."""
    min_samples: int = 100
    """DRIFT_MIN_SAMPLES: live values a feature needs before it is tested (until then its p-value is null)."""
    p_threshold: float = 0.05
    """DRIFT_P_THRESHOLD: a feature has drifted when the KS test's p-value is below this."""
    eval_every: int = 500
    """DRIFT_EVAL_EVERY: observed rows between two tests (GET /drift also tests)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DriftSettings:
        """Read the ``DRIFT_*`` variables from ``environ`` (default: the process environment)."""
        env = os.environ if environ is None else environ
        window = _int(env, "DRIFT_WINDOW", cls.window, 10, 1_000_000)
        min_samples = _int(env, "DRIFT_MIN_SAMPLES", cls.min_samples, 1, 1_000_000)
        if min_samples > window:
            raise SettingsError(f"DRIFT_MIN_SAMPLES={min_samples} must not exceed DRIFT_WINDOW={window}")
        return cls(
            window=window,
            min_samples=min_samples,
            p_threshold=_probability(env, "DRIFT_P_THRESHOLD", cls.p_threshold),
            eval_every=_int(env, "DRIFT_EVAL_EVERY", cls.eval_every, 1, 10**9),
        )


@dataclass(frozen=True)
class PredictionLogSettings:
    """Prediction and feedback log entries (docs/prediction-logs.md). Build it with :meth:`from_env`."""

    sample: float = 0.0
    """PREDICTION_LOG_SAMPLE: share of predictions logged with their inputs and outputs (0-1; 0: none)."""
    redact: tuple[str, ...] = ()
    """PREDICTION_LOG_REDACT: comma-separated input and output names whose values are logged as "[REDACTED]"."""
    max_bytes: int = 65536
    """PREDICTION_LOG_MAX_BYTES: an input or output whose JSON is longer is logged as its shape, dtype and sha256."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PredictionLogSettings:
        """Read the ``PREDICTION_LOG_*`` variables from ``environ`` (default: the process environment)."""
        env = os.environ if environ is None else environ
        names = (name.strip() for name in _text(env, "PREDICTION_LOG_REDACT").split(","))
        return cls(
            sample=_fraction(env, "PREDICTION_LOG_SAMPLE", cls.sample),
            redact=tuple(dict.fromkeys(name for name in names if name)),
            max_bytes=_int(env, "PREDICTION_LOG_MAX_BYTES", cls.max_bytes, 256, 200_000),
        )


def _probability(env: Mapping[str, str], var: str, default: float) -> float:
    value = _float(env, var, default)
    if not 0.0 < value < 1.0:  # also NaN
        raise SettingsError(f"{var}={_text(env, var)} must be between 0 and 1 (exclusive)")
    return value


def _fraction(env: Mapping[str, str], var: str, default: float) -> float:
    value = _float(env, var, default)
    if not 0.0 <= value <= 1.0:  # also NaN
        raise SettingsError(f"{var}={_text(env, var)} must be between 0 and 1")
    return value


def _float(env: Mapping[str, str], var: str, default: float) -> float:
    raw = _text(env, var)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{var}={raw!r} is not a number") from None
    return value


@dataclass(frozen=True)
class FrontSettings:
    """The front door's section: threads, admission and body size (see the Settings fields of the same names).

    Each section holds the defaults; ``Settings`` takes its defaults from the sections, so each is written once."""

    threads: int = 8
    max_in_flight: int = 128
    max_queue_wait_ms: int = 1000
    max_request_bytes: int = 32 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Typed configuration of the server. Build it with :meth:`from_env`."""

    model_uri: str = str(DEMO_MODEL_DIR)
    """MODEL_URI (or Vertex AI's AIP_STORAGE_URI): local path or gs://bucket/prefix of a SavedModel or a TF
    Serving base directory with numeric version subdirectories. Default: MODEL_BASE_PATH/MODEL_NAME when that
    directory exists (TF Serving's image convention: /models/model), else the bundled demo model."""
    model_name: str = "mnist"
    """MODEL_NAME: the name clients use in /v1/models/{name} and /v2/models/{name}. Default: from the URI."""
    version_policy: VersionPolicy = field(default_factory=VersionPolicy)
    """MODEL_VERSION_POLICY: which versions of a base directory are served: 'latest' (the highest), 'latest:N',
    'all' or 'specific:1,2' (TF Serving's model_version_policy). A URI naming one SavedModel serves just that one."""
    version_labels: tuple[tuple[str, int], ...] = ()
    """MODEL_VERSION_LABELS: comma-separated label=version pairs (e.g. stable=1,canary=2) for /labels/{label}/ routes;
    each must name a served version."""
    port: int = 8080
    """AIP_HTTP_PORT or PORT: the TCP port to listen on (Cloud Run sets PORT)."""
    rest_api_port: int = 0
    """REST_API_PORT: a second port to listen on, 0 for none. The image sets 8501, TF Serving's REST port, so TF
    Serving's `docker run -p 8501:8501 ...` commands work unchanged."""
    host: str = "0.0.0.0"
    """HOST: the address to bind."""
    predict_route: str = "/predict"
    """AIP_PREDICT_ROUTE: the extra TF Serving-format predict route (Vertex AI sets it)."""
    health_route: str = "/readyz"
    """AIP_HEALTH_ROUTE: the extra readiness route (Vertex AI sets it)."""
    cache_dir: Path = Path("/tmp/model-cache")
    """MODEL_CACHE_DIR: where gs:// models are downloaded (Cloud Run's /tmp counts against memory)."""
    workers: int = 0
    """WORKERS: gunicorn worker processes, each with its own copy of the model (0: one per usable CPU)."""
    threads: int = FrontSettings.threads
    """THREADS: request threads per worker; also the most requests one batched model call can merge per worker."""
    tf_threads: int = 0
    """TF_THREADS: TensorFlow's intra- and inter-op threads per worker (0: usable CPUs / workers, at least 1)."""
    graceful_timeout: int = 8
    """GRACEFUL_TIMEOUT: seconds in-flight requests get after SIGTERM (Cloud Run kills after 10)."""
    max_request_bytes: int = FrontSettings.max_request_bytes
    """MAX_REQUEST_BYTES: largest accepted request body; larger gets 413. Default: Cloud Run's 32 MiB."""
    log_format: str = "json"
    """LOG_FORMAT: 'json' (one structured object per line, for Cloud Logging) or 'text' (local dev)."""
    log_level: str = "INFO"
    """LOG_LEVEL: DEBUG, INFO, WARNING or ERROR."""
    access_log_sample: float = 0.01
    """ACCESS_LOG_SAMPLE: share of successful requests that get an access line (0-1); errors always do."""
    project_id: str = ""
    """GOOGLE_CLOUD_PROJECT: used to build the trace resource name in logs."""
    download_workers: int = 8
    """DOWNLOAD_WORKERS: parallel object downloads when fetching a gs:// model."""
    download_retries: int = 4
    """DOWNLOAD_RETRIES: attempts per object before a download counts as failed."""
    max_batch_size: int = BatchingSettings.max_batch_size
    """MAX_BATCH_SIZE: most rows merged into one model call from concurrent requests (0 turns batching off)."""
    batch_timeout_ms: int = 0
    """BATCH_TIMEOUT_MS: how long a batch may wait for more requests when none are queued (0: never wait)."""
    batch_queue_size: int = BatchingSettings.max_queue
    """BATCH_QUEUE_SIZE: requests that may wait for the model per signature; more are shed with 503."""
    max_in_flight: int = FrontSettings.max_in_flight
    """MAX_IN_FLIGHT: POSTs being read, queued or run at once per worker; more get 503 + Retry-After (0: no limit)."""
    max_queue_wait_ms: int = FrontSettings.max_queue_wait_ms
    """MAX_QUEUE_WAIT_MS: a POST that waited longer than this for a thread gets 503 + Retry-After (0: no limit)."""
    max_instances: int = Limits.max_instances
    """MAX_INSTANCES: most examples (rows) in one request; more is a 400."""
    max_elements: int = Limits.max_elements
    """MAX_ELEMENTS: most scalar values in one request, over all its tensors; more is a 400."""
    max_nesting_depth: int = Limits.max_nesting_depth
    """MAX_NESTING_DEPTH: deepest JSON nesting accepted in a request body; deeper is a 400."""
    max_string_bytes: int = Limits.max_string_bytes
    """MAX_STRING_BYTES: longest single string or {"b64"} value (decoded) in a request; longer is a 400."""
    auth_mode: str = "none"
    """AUTH_MODE: 'none' (Cloud Run IAM is the gate) or 'google-id-token' (verify Google-signed ID tokens)."""
    auth_audience: str = ""
    """AUTH_AUDIENCE: the audience ID tokens must carry (e.g. the service URL); required with google-id-token."""
    auth_allowed_emails: tuple[str, ...] = ()
    """AUTH_ALLOWED_EMAILS: comma-separated caller emails allowed; empty allows any valid token for the audience."""
    auth_certs_url: str = "https://www.googleapis.com/oauth2/v1/certs"
    """AUTH_CERTS_URL: where Google's token-signing certificates are fetched from."""
    drift: DriftSettings = field(default_factory=DriftSettings)
    """DRIFT_*: input drift monitoring against the training baseline (see DriftSettings)."""
    prediction_log: PredictionLogSettings = field(default_factory=PredictionLogSettings)
    """PREDICTION_LOG_*: sampled prediction entries and feedback entries (see PredictionLogSettings)."""
    warmup: bool = True
    """WARMUP: run one synthetic call per signature (and TF Serving warm-up records) before ready."""
    require_gpu: bool = False
    """REQUIRE_GPU: refuse to start (exit non-zero, one log line) when TensorFlow sees no GPU."""

    # -- sections: each component gets its own part of the settings as an argument --------------------------
    @property
    def worker_count(self) -> int:
        """WORKERS, or one per usable CPU when it is 0."""
        return self.workers or usable_cpus()

    @property
    def tf_thread_count(self) -> int:
        """TF_THREADS, or the usable CPUs shared out over the workers when it is 0 (at least 1)."""
        return self.tf_threads or max(1, usable_cpus() // self.worker_count)

    @property
    def limits(self) -> Limits:
        """What one request may hold (the codecs enforce it)."""
        return Limits(
            max_instances=self.max_instances,
            max_elements=self.max_elements,
            max_nesting_depth=self.max_nesting_depth,
            max_string_bytes=self.max_string_bytes,
        )

    @property
    def ports(self) -> list[int]:
        """Every port to listen on: PORT, and REST_API_PORT when set to another one."""
        return [self.port] + ([self.rest_api_port] if self.rest_api_port not in (0, self.port) else [])

    @property
    def batching(self) -> BatchingSettings:
        """How concurrent requests are merged into model calls."""
        return BatchingSettings(self.max_batch_size, self.batch_timeout_ms / 1000, self.batch_queue_size)

    @property
    def front(self) -> FrontSettings:
        """How the front door reads, admits and sheds requests."""
        return FrontSettings(self.threads, self.max_in_flight, self.max_queue_wait_ms, self.max_request_bytes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read settings from ``environ`` (default: the process environment)."""
        env = os.environ if environ is None else environ
        uri = _text(env, "MODEL_URI") or _text(env, "AIP_STORAGE_URI") or _tf_serving_path(env) or cls.model_uri
        name = _text(env, "MODEL_NAME") or model_name_from_uri(uri)
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", name):
            raise SettingsError(f"MODEL_NAME={name!r} is not a valid model name: use letters, digits, '.', '_' or '-'")
        port_var = "AIP_HTTP_PORT" if _text(env, "AIP_HTTP_PORT") else "PORT"
        return cls(
            model_uri=uri,
            model_name=name,
            **_versions(env),
            port=_int(env, port_var, cls.port, 1, 65535),
            rest_api_port=_int(env, "REST_API_PORT", cls.rest_api_port, 0, 65535),
            host=_text(env, "HOST") or cls.host,
            predict_route=_route(env, "AIP_PREDICT_ROUTE", cls.predict_route),
            health_route=_route(env, "AIP_HEALTH_ROUTE", cls.health_route),
            cache_dir=Path(_text(env, "MODEL_CACHE_DIR") or cls.cache_dir),
            workers=_int(env, "WORKERS", cls.workers, 0, 64),
            threads=_int(env, "THREADS", cls.threads, 1, 256),
            tf_threads=_int(env, "TF_THREADS", cls.tf_threads, 0, 256),
            graceful_timeout=_int(env, "GRACEFUL_TIMEOUT", cls.graceful_timeout, 0, 3600),
            max_request_bytes=_int(env, "MAX_REQUEST_BYTES", cls.max_request_bytes, 1024, 2**31),
            log_format=_choice(env, "LOG_FORMAT", cls.log_format, ("json", "text")),
            log_level=_choice(env, "LOG_LEVEL", cls.log_level, ("DEBUG", "INFO", "WARNING", "ERROR"), upper=True),
            access_log_sample=_fraction(env, "ACCESS_LOG_SAMPLE", cls.access_log_sample),
            project_id=_text(env, "GOOGLE_CLOUD_PROJECT"),
            download_workers=_int(env, "DOWNLOAD_WORKERS", cls.download_workers, 1, 64),
            download_retries=_int(env, "DOWNLOAD_RETRIES", cls.download_retries, 1, 20),
            max_batch_size=_int(env, "MAX_BATCH_SIZE", cls.max_batch_size, 0, 65536),
            batch_timeout_ms=_int(env, "BATCH_TIMEOUT_MS", cls.batch_timeout_ms, 0, 10_000),
            batch_queue_size=_int(env, "BATCH_QUEUE_SIZE", cls.batch_queue_size, 1, 1_000_000),
            max_in_flight=_int(env, "MAX_IN_FLIGHT", cls.max_in_flight, 0, 100_000),
            max_queue_wait_ms=_int(env, "MAX_QUEUE_WAIT_MS", cls.max_queue_wait_ms, 0, 3_600_000),
            max_instances=_int(env, "MAX_INSTANCES", cls.max_instances, 1, 10**9),
            max_elements=_int(env, "MAX_ELEMENTS", cls.max_elements, 1, 10**12),
            max_nesting_depth=_int(env, "MAX_NESTING_DEPTH", cls.max_nesting_depth, 2, 1000),
            max_string_bytes=_int(env, "MAX_STRING_BYTES", cls.max_string_bytes, 1, 2**31),
            **_auth(env),
            drift=DriftSettings.from_env(env),
            prediction_log=PredictionLogSettings.from_env(env),
            warmup=_bool(env, "WARMUP", cls.warmup),
            require_gpu=_bool(env, "REQUIRE_GPU", cls.require_gpu),
        )


def _auth(env: Mapping[str, str]) -> dict:
    mode = _choice(env, "AUTH_MODE", Settings.auth_mode, ("none", "google-id-token"))
    audience = _text(env, "AUTH_AUDIENCE")
    if mode == "google-id-token" and not audience:
        raise SettingsError("AUTH_AUDIENCE='' must be set when AUTH_MODE=google-id-token (e.g. the service URL)")
    emails = tuple(e.strip().lower() for e in _text(env, "AUTH_ALLOWED_EMAILS").split(",") if e.strip())
    bad = [e for e in emails if "@" not in e]
    if bad:
        raise SettingsError(f"AUTH_ALLOWED_EMAILS={bad[0]!r} is not an email address")
    certs = _text(env, "AUTH_CERTS_URL") or Settings.auth_certs_url
    if not certs.startswith(("https://", "http://")):
        raise SettingsError(f"AUTH_CERTS_URL={certs!r} must be an http(s) URL")
    return {"auth_mode": mode, "auth_audience": audience, "auth_allowed_emails": emails, "auth_certs_url": certs}


def _versions(env: Mapping[str, str]) -> dict:
    policy = _version_policy(env)
    labels = _version_labels(env)
    if policy.kind == "specific":
        stray = [(label, v) for label, v in labels if v not in policy.versions]
        if stray:
            raise SettingsError(
                f"MODEL_VERSION_LABELS={_text(env, 'MODEL_VERSION_LABELS')!r}: label {stray[0][0]!r} points to version "
                f"{stray[0][1]}, which MODEL_VERSION_POLICY={policy} does not serve"
            )
    return {"version_policy": policy, "version_labels": labels}


def _version_policy(env: Mapping[str, str]) -> VersionPolicy:
    raw = _text(env, "MODEL_VERSION_POLICY")
    kind, colon, arg = (part.strip() for part in raw.lower().partition(":"))
    if kind in ("", "latest", "all") and not colon:
        return VersionPolicy(kind=kind or "latest")
    if kind == "latest" and re.fullmatch(r"[1-9][0-9]{0,3}", arg):
        return VersionPolicy(kind="latest", count=int(arg))
    versions = [v.strip() for v in arg.split(",")]
    if kind == "specific" and all(re.fullmatch(r"[0-9]{1,18}", v) for v in versions):
        numbers = tuple(sorted({int(v) for v in versions}))
        if len(numbers) == len(versions):
            return VersionPolicy(kind="specific", versions=numbers)
    raise SettingsError(
        f"MODEL_VERSION_POLICY={raw!r} is not a version policy: use latest, latest:N (N from 1 to 9999), all, or "
        "specific:V1,V2 (each version once)"
    )


def _version_labels(env: Mapping[str, str]) -> tuple[tuple[str, int], ...]:
    raw = _text(env, "MODEL_VERSION_LABELS")
    labels: dict[str, int] = {}
    for pair in (p.strip() for p in raw.split(",") if p.strip()):
        label, sep, version = (part.strip() for part in pair.partition("="))
        if not sep or not re.fullmatch(r"[A-Za-z0-9._-]{1,128}", label) or not re.fullmatch(r"[0-9]{1,18}", version):
            raise SettingsError(
                f"MODEL_VERSION_LABELS={raw!r}: {pair!r} is not label=version (a label is letters, digits, '.', '_' "
                "or '-'; a version is a number), e.g. stable=1,canary=2"
            )
        if label in labels:
            raise SettingsError(f"MODEL_VERSION_LABELS={raw!r}: label {label!r} is given twice")
        labels[label] = int(version)
    return tuple(labels.items())


def _tf_serving_path(env: Mapping[str, str]) -> str:
    """TF Serving's image convention: ``$MODEL_BASE_PATH/$MODEL_NAME`` (default ``/models/model``), if it exists."""
    path = Path(_text(env, "MODEL_BASE_PATH") or "/models") / (_text(env, "MODEL_NAME") or "model")
    return str(path) if path.is_dir() else ""


def model_name_from_uri(uri: str) -> str:
    """Derive a model name from a URI: the last path component that is not a version number."""
    parts = [p for p in re.split(r"/+", uri.removeprefix("gs://").removeprefix("file://")) if p]
    for part in reversed(parts):
        if not part.isdigit():
            return re.sub(r"[^A-Za-z0-9._-]", "-", part).lstrip("._-") or "model"
    return "model"


def _text(env: Mapping[str, str], var: str) -> str:
    return env.get(var, "").strip()


def _int(env: Mapping[str, str], var: str, default: int, low: int, high: int) -> int:
    raw = _text(env, var)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{var}={raw!r} is not an integer") from None
    if not low <= value <= high:
        raise SettingsError(f"{var}={value} is out of range [{low}, {high}]")
    return value


def _bool(env: Mapping[str, str], var: str, default: bool) -> bool:
    raw = _text(env, var).lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{var}={raw!r} is not a boolean (use true or false)")


def _choice(env: Mapping[str, str], var: str, default: str, allowed: tuple[str, ...], upper: bool = False) -> str:
    raw = _text(env, var)
    if not raw:
        return default
    value = raw.upper() if upper else raw.lower()
    if value not in allowed:
        raise SettingsError(f"{var}={raw!r} must be one of: {', '.join(allowed)}")
    return value


def _route(env: Mapping[str, str], var: str, default: str) -> str:
    raw = _text(env, var)
    if not raw:
        return default
    if not re.fullmatch(r"/[A-Za-z0-9._~/:-]*", raw):
        raise SettingsError(f"{var}={raw!r} must be a URL path starting with '/'")
    return raw

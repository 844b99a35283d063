"""Settings: defaults, derivation of the model name, the Vertex AI contract, fail-fast messages."""

from pathlib import Path

import pytest

from app.settings import DEMO_MODEL_DIR, Settings, SettingsError, model_name_from_uri
from app.versions import VersionPolicy


def test_defaults_serve_the_bundled_demo_model():
    s = Settings.from_env({})
    assert s.model_uri == str(DEMO_MODEL_DIR)
    assert s.model_name == "mnist"
    assert (s.port, s.host, s.workers, s.threads, s.tf_threads) == (8080, "0.0.0.0", 0, 8, 0)
    assert s.access_log_sample == 0.01
    assert s.max_request_bytes == 32 * 1024 * 1024
    assert s.cache_dir == Path("/tmp/model-cache")
    assert (s.predict_route, s.health_route, s.log_format) == ("/predict", "/readyz", "json")


@pytest.mark.parametrize(
    ("uri", "name"),
    [
        ("gs://bucket/models/mnist", "mnist"),
        ("gs://bucket/models/mnist/", "mnist"),
        ("gs://bucket/models/mnist/3", "mnist"),
        ("/srv/models/fraud detector/12/", "fraud-detector"),
        ("file:///srv/m/maintenance", "maintenance"),
        ("gs://bucket", "bucket"),
        ("/1/2", "model"),
    ],
)
def test_model_name_is_derived_from_the_uri(uri, name):
    assert model_name_from_uri(uri) == name
    assert Settings.from_env({"MODEL_URI": uri}).model_name == name


def test_model_name_can_be_set():
    assert Settings.from_env({"MODEL_URI": "gs://b/x", "MODEL_NAME": "digits"}).model_name == "digits"


def test_vertex_ai_contract_is_honoured():
    s = Settings.from_env(
        {
            "PORT": "9000",
            "AIP_HTTP_PORT": "7080",
            "AIP_PREDICT_ROUTE": "/v1/endpoints/123/deployedModels/456:predict",
            "AIP_HEALTH_ROUTE": "/health",
            "AIP_STORAGE_URI": "gs://vertex-bucket/model",
        }
    )
    assert s.port == 7080
    assert s.predict_route == "/v1/endpoints/123/deployedModels/456:predict"
    assert s.health_route == "/health"
    assert s.model_uri == "gs://vertex-bucket/model"
    assert s.model_name == "model"


def test_model_uri_wins_over_aip_storage_uri():
    s = Settings.from_env({"MODEL_URI": "gs://mine/m", "AIP_STORAGE_URI": "gs://vertex/x"})
    assert s.model_uri == "gs://mine/m"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"PORT": "http"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"AIP_HTTP_PORT": "0"}, "AIP_HTTP_PORT"),
        ({"WORKERS": "-1"}, "WORKERS"),
        ({"TF_THREADS": "x"}, "TF_THREADS"),
        ({"ACCESS_LOG_SAMPLE": "2"}, "ACCESS_LOG_SAMPLE"),
        ({"ACCESS_LOG_SAMPLE": "nan"}, "ACCESS_LOG_SAMPLE"),
        ({"THREADS": "many"}, "THREADS"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
        ({"WARMUP": "maybe"}, "WARMUP"),
        ({"MAX_REQUEST_BYTES": "-1"}, "MAX_REQUEST_BYTES"),
        ({"MAX_IN_FLIGHT": "-1"}, "MAX_IN_FLIGHT"),
        ({"MAX_QUEUE_WAIT_MS": "50ms"}, "MAX_QUEUE_WAIT_MS"),
        ({"MAX_QUEUE_WAIT_MS": "3600001"}, "MAX_QUEUE_WAIT_MS"),
        ({"AIP_PREDICT_ROUTE": "predict"}, "AIP_PREDICT_ROUTE"),
        ({"MODEL_NAME": "bad name/with slash"}, "MODEL_NAME"),
        ({"MODEL_VERSION_POLICY": "newest"}, "MODEL_VERSION_POLICY"),
        ({"MODEL_VERSION_POLICY": "latest:0"}, "MODEL_VERSION_POLICY"),
        ({"MODEL_VERSION_POLICY": "latest:"}, "MODEL_VERSION_POLICY"),
        ({"MODEL_VERSION_POLICY": "all:2"}, "MODEL_VERSION_POLICY"),
        ({"MODEL_VERSION_POLICY": "specific:"}, "MODEL_VERSION_POLICY"),
        ({"MODEL_VERSION_POLICY": "specific:1,x"}, "MODEL_VERSION_POLICY"),
        ({"MODEL_VERSION_POLICY": "specific:1,1"}, "MODEL_VERSION_POLICY"),
        ({"MODEL_VERSION_LABELS": "stable"}, "MODEL_VERSION_LABELS"),
        ({"MODEL_VERSION_LABELS": "stable=one"}, "MODEL_VERSION_LABELS"),
        ({"MODEL_VERSION_LABELS": "a/b=1"}, "MODEL_VERSION_LABELS"),
        ({"MODEL_VERSION_LABELS": "stable=1,stable=2"}, "MODEL_VERSION_LABELS"),
        ({"MODEL_VERSION_POLICY": "specific:1,2", "MODEL_VERSION_LABELS": "canary=3"}, "MODEL_VERSION_LABELS"),
    ],
)
def test_bad_values_fail_fast_naming_the_variable(env, variable):
    with pytest.raises(SettingsError, match=rf"^{variable}="):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("raw", "policy"),
    [
        ("", VersionPolicy(kind="latest", count=1)),
        ("latest", VersionPolicy(kind="latest", count=1)),
        ("Latest:3", VersionPolicy(kind="latest", count=3)),
        ("all", VersionPolicy(kind="all")),
        ("specific: 2, 1", VersionPolicy(kind="specific", versions=(1, 2))),
    ],
)
def test_version_policy_as_tf_serving_spells_it(raw, policy):
    assert Settings.from_env({"MODEL_VERSION_POLICY": raw}).version_policy == policy


def test_version_labels_are_label_version_pairs():
    assert Settings().version_labels == ()
    s = Settings.from_env({"MODEL_VERSION_LABELS": " stable=1, canary = 2,", "MODEL_VERSION_POLICY": "specific:1,2"})
    assert s.version_labels == (("stable", 1), ("canary", 2))


def test_a_label_outside_a_specific_policy_is_named():
    with pytest.raises(SettingsError) as excinfo:
        Settings.from_env({"MODEL_VERSION_POLICY": "specific:1,2", "MODEL_VERSION_LABELS": "stable=1,canary=3"})
    assert str(excinfo.value) == (
        "MODEL_VERSION_LABELS='stable=1,canary=3': label 'canary' points to version 3, which "
        "MODEL_VERSION_POLICY=specific:1,2 does not serve"
    )


def test_values_are_typed():
    s = Settings.from_env(
        {
            "WORKERS": "2",
            "THREADS": "4",
            "WARMUP": "false",
            "LOG_LEVEL": "debug",
            "MODEL_CACHE_DIR": "/var/cache/m",
        }
    )
    assert (s.workers, s.threads, s.warmup, s.log_level, s.cache_dir) == (
        2,
        4,
        False,
        "DEBUG",
        Path("/var/cache/m"),
    )


def test_overload_bounds_default_on_and_can_be_turned_off():
    assert (Settings().max_in_flight, Settings().max_queue_wait_ms) == (128, 1000)
    off = Settings.from_env({"MAX_IN_FLIGHT": "0", "MAX_QUEUE_WAIT_MS": "0"})
    assert (off.max_in_flight, off.max_queue_wait_ms) == (0, 0)


def test_workers_and_tensorflow_threads_follow_the_usable_cpus(monkeypatch):
    monkeypatch.setattr("app.settings.usable_cpus", lambda: 4)
    auto = Settings()
    assert (auto.worker_count, auto.tf_thread_count) == (4, 1), "one worker per CPU, one TF thread each"
    two = Settings(workers=2)
    assert (two.worker_count, two.tf_thread_count) == (2, 2), "the CPUs are shared out over the workers"
    assert Settings(workers=8).tf_thread_count == 1, "never fewer than one"
    assert Settings(workers=2, tf_threads=3).tf_thread_count == 3


def test_components_get_their_sections():
    s = Settings.from_env({"MAX_BATCH_SIZE": "16", "BATCH_TIMEOUT_MS": "5", "THREADS": "3", "MAX_INSTANCES": "9"})
    assert (s.batching.max_batch_size, s.batching.max_wait_s, s.batching.max_queue) == (16, 0.005, 256)
    assert (s.front.threads, s.front.max_in_flight, s.front.max_request_bytes) == (3, 128, 32 * 1024 * 1024)
    assert s.limits.max_instances == 9


def test_tf_serving_image_conventions(tmp_path):
    """MODEL_BASE_PATH/MODEL_NAME is served when MODEL_URI is unset and it exists; REST_API_PORT adds a port."""
    (tmp_path / "half_plus_two").mkdir()
    s = Settings.from_env({"MODEL_BASE_PATH": str(tmp_path), "MODEL_NAME": "half_plus_two", "REST_API_PORT": "8501"})
    assert s.model_uri == str(tmp_path / "half_plus_two") and s.model_name == "half_plus_two"
    assert s.ports == [8080, 8501]
    (tmp_path / "model").mkdir()
    assert Settings.from_env({"MODEL_BASE_PATH": str(tmp_path)}).model_uri == str(tmp_path / "model")
    absent = Settings.from_env({"MODEL_BASE_PATH": str(tmp_path), "MODEL_NAME": "other"})
    assert absent.model_uri == Settings.model_uri  # the demo model, as before
    explicit = Settings.from_env({"MODEL_BASE_PATH": str(tmp_path), "MODEL_URI": "gs://b/m", "MODEL_NAME": "x"})
    assert explicit.model_uri == "gs://b/m"
    assert Settings.from_env({"REST_API_PORT": "8080"}).ports == [8080]
    assert Settings.from_env({}).ports == [8080]

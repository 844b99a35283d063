"""ServedModel: several versions of one model, TF Serving's lookup rules, labels, status and readiness."""

from __future__ import annotations

import pytest

from app import create_app
from app.errors import InvalidInput, ModelLoadError, NotFound
from app.predictor import Predictor
from app.settings import Settings
from app.versions import ServedModel, VersionPolicy, parse_version


class FakeRunner:
    signatures: dict = {}  # noqa: RUF012
    signature_defs: dict = {}  # noqa: RUF012

    def run(self, signature_name, inputs):  # pragma: no cover - never called here
        raise AssertionError("not called")


def predictor(version: int, name: str = "hp2", ready: bool = True) -> Predictor:
    p = Predictor(FakeRunner(), name, version, f"/models/{name}/{version}")
    if ready:
        p.mark_ready()
    return p


@pytest.fixture
def served() -> ServedModel:
    return ServedModel([predictor(124), predictor(7), predictor(123)], {"stable": 123, "canary": 124})


def status(*versions: int, state: str = "AVAILABLE") -> dict:
    ok = {"error_code": "OK", "error_message": ""}
    return {"model_version_status": [{"version": str(v), "state": state, "status": ok} for v in versions]}


def test_versions_are_kept_in_order_and_the_default_is_the_highest(served: ServedModel) -> None:
    assert served.name == "hp2"
    assert served.versions == [7, 123, 124]
    assert [p.version for p in served] == [7, 123, 124]
    assert len(served) == 3
    assert served.default.version == 124
    assert served.labels == {"stable": 123, "canary": 124}


# --- resolve -----------------------------------------------------------------------------------------------


def test_resolve_without_version_gets_the_latest(served: ServedModel) -> None:
    assert served.resolve("hp2") is served.default


@pytest.mark.parametrize(
    ("version", "label", "expected"), [("7", None, 7), ("0007", None, 7), ("123", None, 123), (None, "stable", 123)]
)
def test_resolve_by_version_or_label(served: ServedModel, version, label, expected) -> None:
    assert served.resolve("hp2", version, label) is served.predictors[expected]


@pytest.mark.parametrize(
    ("name", "version", "label", "error", "message"),
    [
        # TF Serving: BasicManager "Servable not found for request: " + ServableRequest::DebugString (404)
        ("other", None, None, NotFound, "Servable not found for request: Latest(other)"),
        ("other", "7", None, NotFound, "Servable not found for request: Specific(other, 7)"),
        ("hp2", "8", None, NotFound, "Servable not found for request: Specific(hp2, 8)"),
        # TF Serving: ServerCore::GetModelVersionForLabel, InvalidArgument (400), also for an unknown model
        ("hp2", None, "beta", InvalidInput, "Unrecognized servable version label: beta"),
        ("other", None, "stable", InvalidInput, "Unrecognized servable version label: stable"),
        # TF Serving: http_rest_api_util "Failed to convert version: X to numeric." (400)
        ("hp2", "abc", None, InvalidInput, "Failed to convert version: abc to numeric."),
        ("hp2", str(2**63), None, InvalidInput, f"Failed to convert version: {2**63} to numeric."),
        # TF Serving: http_rest_api_util FillModelSpecWithNameVersionAndLabel (400)
        (
            "hp2",
            "7",
            "stable",
            InvalidInput,
            "Both model version (7) and model version label (stable) cannot be supplied.",
        ),
    ],
)
def test_resolve_errors_are_tf_servings(served: ServedModel, name, version, label, error, message) -> None:
    with pytest.raises(error) as excinfo:
        served.resolve(name, version, label)
    assert excinfo.value.message == message
    assert excinfo.value.status == (404 if error is NotFound else 400)


# --- status ------------------------------------------------------------------------------------------------


def test_status_lists_every_version_highest_first(served: ServedModel) -> None:
    assert served.status("hp2") == status(124, 123, 7)


def test_status_of_one_version_or_label(served: ServedModel) -> None:
    assert served.status("hp2", "7") == status(7)
    assert served.status("hp2", label="stable") == status(123)


@pytest.mark.parametrize(
    ("name", "version", "label", "error", "message"),
    [
        # TF Serving: GetModelStatusImpl::GetModelStatusWithModelSpec (NotFound, 404)
        ("other", None, None, NotFound, "Could not find any versions of model other"),
        ("hp2", "8", None, NotFound, "Could not find version 8 of model hp2"),
        ("other", "7", None, NotFound, "Could not find version 7 of model other"),
        ("hp2", None, "beta", InvalidInput, "Unrecognized servable version label: beta"),
        ("hp2", "x", None, InvalidInput, "Failed to convert version: x to numeric."),
    ],
)
def test_status_errors_are_tf_servings(served: ServedModel, name, version, label, error, message) -> None:
    with pytest.raises(error) as excinfo:
        served.status(name, version, label)
    assert excinfo.value.message == message


def test_a_version_that_is_not_ready_is_loading() -> None:
    served = ServedModel([predictor(1), predictor(2, ready=False)])

    assert served.status("hp2") == {
        "model_version_status": [
            {"version": "2", "state": "LOADING", "status": {"error_code": "OK", "error_message": ""}},
            {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}},
        ]
    }


# --- readiness ---------------------------------------------------------------------------------------------


def test_ready_only_when_every_version_is() -> None:
    served = ServedModel([predictor(1, ready=False), predictor(2, ready=False)])
    assert not served.ready
    served.predictors[2].mark_ready()
    assert not served.ready, "one version is not enough"
    served.mark_ready()
    assert served.ready and all(p.ready for p in served)
    served.mark_not_ready()
    assert not any(p.ready for p in served)


def test_readyz_waits_for_every_version(settings: Settings) -> None:
    served = ServedModel([predictor(1), predictor(2)])
    app = create_app(settings, served=served)
    client = app.test_client()
    assert app.extensions["served"] is served and app.extensions["predictor"] is served.predictors[2]

    assert client.get("/readyz").get_json() == {"status": "ready", "model_name": "hp2", "model_version": "2"}
    served.predictors[1].mark_not_ready()
    response = client.get("/readyz")
    assert response.status_code == 503 and response.get_json() == {"error": "model 'hp2' is not ready"}


def test_a_single_predictor_is_served_as_one_version(settings: Settings) -> None:
    one = predictor(5)
    app = create_app(settings, one)

    served = app.extensions["served"]
    assert served.versions == [5] and served.labels == {} and app.extensions["predictor"] is one


# --- construction ------------------------------------------------------------------------------------------


def test_a_label_on_a_version_that_is_not_served_is_a_boot_error() -> None:
    with pytest.raises(ModelLoadError) as excinfo:
        ServedModel([predictor(1), predictor(2)], {"stable": 1, "canary": 3})

    assert str(excinfo.value) == (
        "MODEL_VERSION_LABELS: label 'canary' points to version 3 of model hp2, which is not served "
        "(served: 1, 2; MODEL_VERSION_POLICY chooses them)"
    )


def test_versions_must_be_of_one_model_and_at_least_one() -> None:
    with pytest.raises(ValueError, match="at least one version"):
        ServedModel([])
    with pytest.raises(ValueError, match="different models: a, b"):
        ServedModel([predictor(1, name="a"), predictor(2, name="b")])


@pytest.mark.parametrize(
    ("policy", "text"),
    [
        (VersionPolicy(), "latest"),
        (VersionPolicy(kind="latest", count=3), "latest:3"),
        (VersionPolicy(kind="all"), "all"),
        (VersionPolicy(kind="specific", versions=(1, 2)), "specific:1,2"),
    ],
)
def test_policy_is_written_as_its_setting(policy: VersionPolicy, text: str) -> None:
    assert str(policy) == text
    assert Settings.from_env({"MODEL_VERSION_POLICY": text}).version_policy == policy


def test_parse_version() -> None:
    assert parse_version("0") == 0 and parse_version(str(2**63 - 1)) == 2**63 - 1
    for bad in ("", "-1", "1.0", "١"):  # the last is an Arabic-Indic digit: str.isdigit() says yes
        with pytest.raises(InvalidInput):
            parse_version(bad)

"""Prediction and feedback entries through Flask's test client, on real SavedModels (the toy model, TF Serving's
half_plus_two for :classify/:regress): what each protocol logs, sampling, redaction, truncation, and the feedback
route's answers, errors and authorization."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import random
from collections.abc import Iterator
from pathlib import Path

import google.cloud.logging_v2 as logging_v2
import numpy as np
import orjson
import pytest
from google.cloud.logging_v2.handlers import StructuredLogHandler

from app import create_app
from app.model import Model
from app.prediction_log import PredictionLog
from app.predictor import Predictor
from app.settings import Settings
from tests.auth.issuer import AUDIENCE, CALLER, CertServer, SigningKey, claims

PREDICT = "/v1/models/toy:predict"
INFER = "/v2/models/toy/infer"
FEEDBACK = "/v1/models/toy:feedback"


class Log:
    """The structured lines written while it is open: by the prediction log, or by every logger (``everything``)."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.text().splitlines()]

    def entries(self, entry_type: str = "prediction") -> list[dict]:
        return [line for line in self.lines() if line.get("entry_type") == entry_type]


@contextlib.contextmanager
def captured_log(everything: bool = False) -> Iterator[Log]:
    """google-cloud-logging's StructuredLogHandler (as ``app.logs`` sets it up) writing to a buffer."""
    emitted = logging_v2._instrumentation_emitted
    logging_v2._instrumentation_emitted = True  # as app.logs does: no diagnostic line
    stream = io.StringIO()
    handler = StructuredLogHandler(stream=stream)
    logger = logging.getLogger() if everything else logging.getLogger("app.prediction_log")
    level = logger.level
    logger.addHandler(handler)
    if everything:
        logger.setLevel(logging.DEBUG)
    try:
        yield Log(stream)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logging_v2._instrumentation_emitted = emitted


@pytest.fixture
def log() -> Iterator[Log]:
    with captured_log() as captured:
        yield captured


def make_app(model_dir: Path, predictor: Predictor, random_source=random.random, **env: str):
    settings = Settings.from_env({"MODEL_URI": str(model_dir), **env})
    predictor.mark_ready()
    app = create_app(settings, predictor)
    app.extensions["prediction_log"] = PredictionLog(settings.prediction_log, random=random_source)
    return app


@pytest.fixture
def logging_client(toy_model_dir, toy_predictor):
    """The toy model with every prediction logged, and Vertex AI's predict route."""
    env = {"PREDICTION_LOG_SAMPLE": "1", "AIP_PREDICT_ROUTE": "/vertex/predict", "PREDICTION_LOG_REDACT": "secret"}
    return make_app(toy_model_dir, toy_predictor, **env).test_client()


def decoded(entry: dict) -> tuple[dict, dict]:
    return json.loads(entry["inputs"]), json.loads(entry["outputs"])


def columns(rows: list[dict]) -> dict:
    """TF Serving's row-format predictions as columns, the form entries log."""
    return {name: [row[name] for row in rows] for name in rows[0]}


# ---- off ---------------------------------------------------------------------------------------------------------


def test_at_zero_nothing_is_logged_and_no_random_number_drawn(toy_model_dir, toy_predictor, log):
    def no_draw() -> float:
        raise AssertionError("drew a random number with PREDICTION_LOG_SAMPLE=0")

    client = make_app(toy_model_dir, toy_predictor, no_draw).test_client()
    assert client.post(PREDICT, json={"instances": [[1, 2, 3]]}).status_code == 200
    assert client.post("/predict", json={"inputs": {"x": [[1, 2, 3]]}}).status_code == 200
    infer = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}
    assert client.post(INFER, json=infer).status_code == 200
    assert log.lines() == []


# ---- one entry per request, each protocol -------------------------------------------------------------------------


def test_tfserving_rows(logging_client, log):
    r = logging_client.post(PREDICT, json={"instances": [[1, 2, 3], [4.5, 5, -6]]})
    assert r.status_code == 200
    (entry,) = log.entries()
    assert {k: entry[k] for k in ("request_id", "model_name", "model_version", "protocol", "signature", "rows")} == {
        "request_id": r.headers["X-Request-Id"],
        "model_name": "toy",
        "model_version": "7",
        "protocol": "tfserving",
        "signature": "serving_default",
        "rows": 2,
    }
    assert decoded(entry) == ({"x": [[1, 2, 3], [4.5, 5, -6]]}, columns(r.get_json()["predictions"]))
    assert entry["truncated"] is False and entry["latency_ms"] > 0
    assert (entry["message"], entry["severity"], entry["logging.googleapis.com/labels"]["entry_type"]) == (
        "prediction",
        "INFO",
        "prediction",
    )


def test_tfserving_columns_named_inputs_and_a_scalar_output(logging_client, log):
    r = logging_client.post(PREDICT, json={"signature_name": "multi", "inputs": {"a": [[1, 2], [3, 4]], "b": [0.5, 1]}})
    assert r.status_code == 200
    r2 = logging_client.post(PREDICT, json={"signature_name": "scalar_out", "inputs": [1.0, 2.0, 6.0]})
    first, second = log.entries()
    assert (first["signature"], first["rows"]) == ("multi", 2)
    assert decoded(first) == ({"a": [[1, 2], [3, 4]], "b": [0.5, 1.0]}, {"sum": r.get_json()["outputs"]})
    assert (
        decoded(second)
        == ({"x": [1.0, 2.0, 6.0]}, {"mean": 3.0, "x": [1.0, 2.0, 6.0]})
        == (
            {"x": [1.0, 2.0, 6.0]},
            r2.get_json()["outputs"],
        )
    )


def test_the_request_id_is_the_callers_x_request_id_and_the_trace_is_the_requests(logging_client, log):
    headers = {"X-Request-Id": "order-42.attempt-1", "X-Cloud-Trace-Context": "105445aa7843bc8bf206b12000100000/1;o=1"}
    r = logging_client.post(PREDICT, json={"instances": [[1, 2, 3]]}, headers=headers)
    (entry,) = log.entries()
    assert entry["request_id"] == r.headers["X-Request-Id"] == "order-42.attempt-1"
    assert entry["logging.googleapis.com/trace"] == "105445aa7843bc8bf206b12000100000"


def test_strings_are_text_and_b64_inputs_are_summaries(logging_client, log):
    r = logging_client.post(PREDICT, json={"signature_name": "text", "instances": ["héllo", "wörld"]})
    logging_client.post(PREDICT, json={"signature_name": "text", "instances": [{"b64": "/w=="}, "text"]})
    text, b64 = log.entries()
    assert decoded(text)[0] == {"s": ["héllo", "wörld"]}
    assert decoded(text)[1] == columns(r.get_json()["predictions"])  # upper_bytes: base64, as in the response
    assert b64["truncated"] is True
    assert decoded(b64)[0] == {
        "s": {"shape": [2], "dtype": "string", "sha256": hashlib.sha256(b"\xfftext").hexdigest()}
    }


def test_vertex_route_and_plain_predict_route(logging_client, log):
    body = {"instances": [[1, 2, 3]], "parameters": {"ignored": True}}
    vertex = logging_client.post("/vertex/predict", json=body)
    logging_client.post("/predict", json=body)
    first, second = log.entries()
    assert (first["protocol"], second["protocol"]) == ("vertex", "tfserving")
    assert decoded(first) == ({"x": [[1, 2, 3]]}, columns(vertex.get_json()["predictions"]))


def test_v2_json(logging_client, log):
    body = {
        "id": "client-id",
        "inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6]}],
        "outputs": [{"name": "total"}],
    }
    r = logging_client.post("/v2/models/toy/versions/7/infer", json=body)
    assert r.status_code == 200
    (entry,) = log.entries()
    assert (entry["protocol"], entry["rows"], entry["request_id"]) == ("v2", 2, r.headers["X-Request-Id"])
    assert decoded(entry) == ({"x": [[1, 2, 3], [4, 5, 6]]}, {"total": r.get_json()["outputs"][0]["data"]})


def test_v2_binary_inputs_are_summaries_never_bytes(logging_client, log):
    x = np.array([[1, 2, 3], [4, 5, 6]], "<f4")
    header = orjson.dumps(
        {
            "inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP32", "parameters": {"binary_data_size": 24}}],
            "parameters": {"binary_data_output": True},
        }
    )
    r = logging_client.post(
        INFER,
        data=header + x.tobytes(),
        content_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(len(header))},
    )
    assert r.status_code == 200
    (entry,) = log.entries()
    inputs, outputs = decoded(entry)
    assert inputs == {"x": {"shape": [2, 3], "dtype": "float32", "sha256": hashlib.sha256(x.tobytes()).hexdigest()}}
    assert outputs == {"total": [6.0, 15.0], "y": [[2, 4, 6], [8, 10, 12]]}  # the model's answers, as JSON
    assert entry["truncated"] is True


def test_v2_bytes_as_text_and_as_b64(logging_client, log):
    data = ["plain", {"b64": "AAE="}]
    body = {"inputs": [{"name": "s", "shape": [2], "datatype": "BYTES", "data": data}]}
    logging_client.post(INFER, json={**body, "parameters": {"signature_name": "text"}})
    text = {"inputs": [{"name": "s", "shape": [1], "datatype": "BYTES", "data": ["plain"]}]}
    logging_client.post(INFER, json={**text, "parameters": {"signature_name": "text"}})
    b64, plain = log.entries()
    assert decoded(b64)[0]["s"]["sha256"] == hashlib.sha256(b"plain\x00\x01").hexdigest()
    assert decoded(plain)[0] == {"s": ["plain"]} and plain["signature"] == "text"


@pytest.fixture(scope="module")
def half_plus_two(half_plus_two_base_dir: Path) -> Predictor:
    return Predictor(Model.load(half_plus_two_base_dir / "123"), "half_plus_two", 123)


def test_classify_and_regress_log_the_examples_with_the_context_merged(half_plus_two_base_dir, half_plus_two, log):
    app = make_app(half_plus_two_base_dir, half_plus_two, PREDICTION_LOG_SAMPLE="1", PREDICTION_LOG_REDACT="tag")
    client = app.test_client()
    body = {"signature_name": "classify_x_to_y", "context": {"x": 2.0, "tag": "ctx"}, "examples": [{"x": 10.0}, {}]}
    r = client.post("/v1/models/half_plus_two:classify", json=body)
    assert r.get_json() == {"results": [[["", 7.0]], [["", 3.0]]]}
    body = {"signature_name": "regress_x_to_y", "examples": [{"x": 4.0}]}
    r2 = client.post("/v1/models/half_plus_two/versions/123:regress", json=body)
    classify, regress = log.entries()
    assert (classify["signature"], classify["rows"], classify["protocol"]) == ("classify_x_to_y", 2, "tfserving")
    assert decoded(classify) == (
        {"examples": [{"x": 10.0, "tag": "[REDACTED]"}, {"x": 2.0, "tag": "[REDACTED]"}]},
        {"scores": [[7.0], [3.0]]},  # no classes output: TF Serving answers "" for the label
    )
    assert decoded(regress) == ({"examples": [{"x": 4.0}]}, {"outputs": r2.get_json()["results"]})
    assert regress["model_version"] == "123"


def test_classify_examples_with_bytes_are_a_summary(half_plus_two_base_dir, half_plus_two, log):
    client = make_app(half_plus_two_base_dir, half_plus_two, PREDICTION_LOG_SAMPLE="1").test_client()
    examples = [{"image": {"b64": "aW1hZ2UgYnl0ZXM="}, "x": 2.0}]
    body = {"signature_name": "classify_x_to_y", "examples": examples}
    assert client.post("/v1/models/half_plus_two:classify", json=body).status_code == 200
    (entry,) = log.entries()
    summary = decoded(entry)[0]["examples"]
    assert (summary["shape"], summary["dtype"], len(summary["sha256"])) == ([1], "string", 64)
    assert "aW1hZ2UgYnl0ZXM=" not in log.text()


# ---- sampling -------------------------------------------------------------------------------------------------


def test_a_tenth_of_a_thousand_requests(toy_model_dir, toy_predictor, log):
    client = make_app(toy_model_dir, toy_predictor, random.Random(7).random, PREDICTION_LOG_SAMPLE="0.1").test_client()
    sent = {client.post(PREDICT, json={"instances": [[i, 0, 0]]}).headers["X-Request-Id"]: i for i in range(1000)}
    logged = log.entries()
    reference = random.Random(7)
    expected = [request_id for request_id in sent if reference.random() < 0.1]
    assert [entry["request_id"] for entry in logged] == expected  # one draw per request, in order
    assert 100 - 3 * 9.5 < len(logged) < 100 + 3 * 9.5  # binomial(1000, 0.1): sigma 9.5
    assert all(decoded(entry)[0] == {"x": [[sent[entry["request_id"]], 0, 0]]} for entry in logged)


# ---- redaction and truncation -------------------------------------------------------------------------------------


def test_redacted_names_never_appear_anywhere_in_the_log(toy_model_dir, toy_predictor):
    env = {"PREDICTION_LOG_SAMPLE": "1", "PREDICTION_LOG_REDACT": "x,y,total", "ACCESS_LOG_SAMPLE": "1"}
    client = make_app(toy_model_dir, toy_predictor, **env).test_client()
    with captured_log(everything=True) as log:
        client.post(PREDICT, json={"instances": [[98765.4375, 0, 0]]})
        tensor = {"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [98765.4375, 0, 0]}
        client.post(INFER, json={"inputs": [tensor]})
    entries = log.entries()
    assert len(entries) == 2 and len(log.lines()) > 2  # access lines were written too
    assert all(decoded(e) == ({"x": "[REDACTED]"}, {"total": "[REDACTED]", "y": "[REDACTED]"}) for e in entries)
    assert "98765" not in log.text() and "197530" not in log.text()  # x, and y = 2x (also the total)


def test_a_10_mib_input_is_logged_as_its_shape_dtype_and_sha256(toy_model_dir, toy_predictor, log):
    env = {"PREDICTION_LOG_SAMPLE": "1", "MAX_REQUEST_BYTES": str(16 * 2**20), "MAX_INSTANCES": "4000000"}
    client = make_app(toy_model_dir, toy_predictor, **env).test_client()
    x = (np.arange(2_200_000) % 1000 / 4).astype(np.float32)
    body = orjson.dumps({"signature_name": "single", "inputs": x}, option=orjson.OPT_SERIALIZE_NUMPY)
    assert len(body) >= 10 * 2**20
    r = client.post(PREDICT, data=body, content_type="application/json")
    assert r.status_code == 200
    (entry,) = log.entries()
    assert entry["truncated"] is True and entry["rows"] == len(x)
    assert decoded(entry) == (
        {"x": {"shape": [len(x)], "dtype": "float32", "sha256": hashlib.sha256(x.tobytes()).hexdigest()}},
        {"doubled": {"shape": [len(x)], "dtype": "float32", "sha256": hashlib.sha256((x * 2).tobytes()).hexdigest()}},
    )
    assert len(log.text()) < 2000  # the whole line


# ---- feedback -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [FEEDBACK, "/v1/models/toy/versions/7:feedback", "/v2/models/toy/feedback", "/v2/models/toy/versions/7/feedback"],
)
def test_feedback_is_its_own_entry_whatever_the_sample(client, log, path):
    r = client.post(path, json={"request_id": "abc123", "labels": [7, "cat", 0.5, False]})
    assert (r.status_code, r.get_json()) == (200, {})
    (entry,) = log.entries("feedback")
    assert {k: entry[k] for k in ("entry_type", "request_id", "model_name", "message")} == {
        "entry_type": "feedback",
        "request_id": "abc123",
        "model_name": "toy",
        "message": "feedback",
    }
    assert json.loads(entry["labels"]) == [7, "cat", 0.5, False]
    assert entry["logging.googleapis.com/labels"]["entry_type"] == "feedback"
    assert log.entries() == []  # PREDICTION_LOG_SAMPLE is 0 in this app


def test_feedback_for_a_logged_prediction_shares_its_request_id(logging_client, log):
    r = logging_client.post(PREDICT, json={"instances": [[1, 2, 3], [1, 1, 1]]})
    logging_client.post(FEEDBACK, json={"request_id": r.headers["X-Request-Id"], "labels": [6.5, 3.0]})
    (prediction,), (feedback,) = log.entries(), log.entries("feedback")
    assert prediction["request_id"] == feedback["request_id"]
    assert len(json.loads(feedback["labels"])) == prediction["rows"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            '"just text"',
            'feedback must be a JSON object: {"request_id": "<X-Request-Id of the prediction>", "labels": '
            "[one true value per predicted row]}",
        ),
        (
            '{"labels": [1]}',
            '\'request_id\' is missing: {"request_id": "<X-Request-Id of the prediction>", '
            '"labels": [one true value per predicted row]}',
        ),
        ('{"request_id": 5, "labels": [1]}', "'request_id' must be a string of 1 to 1024 printable characters"),
        (
            '{"request_id": "r", "labels": {"a": 1}}',
            "'labels' must be a non-empty list with one true value per predicted row",
        ),
        (
            '{"request_id": "r", "labels": []}',
            "'labels' must be a non-empty list with one true value per predicted row",
        ),
        (
            '{"request_id": "r", "labels": [[1, 2]]}',
            "'labels' must hold one string, number or boolean per row; value 0 is a list",
        ),
        (
            '{"request_id": "r", "labels": [1, NaN]}',
            "'labels' must hold one string, number or boolean per row; value 1 is not a finite number",
        ),
        ('{"request_id": "r", "labels": [1, 2, 3, 4]}', "'labels' has 4 values; the limit is 3 (MAX_INSTANCES)"),
        ("", "request body is empty: send a JSON object"),
        ("{", "request body is not valid JSON: Expecting property name enclosed in double quotes (line 1, column 2)"),
    ],
)
def test_bad_feedback_is_a_400_and_writes_nothing(toy_model_dir, toy_predictor, log, body, message):
    client = make_app(toy_model_dir, toy_predictor, MAX_INSTANCES="3").test_client()
    r = client.post(FEEDBACK, data=body, content_type="application/json")
    assert (r.status_code, r.get_json()) == (400, {"error": message})
    assert log.lines() == []


def test_feedback_too_large_for_an_entry_is_a_400(toy_model_dir, toy_predictor, log):
    client = make_app(toy_model_dir, toy_predictor, PREDICTION_LOG_MAX_BYTES="256").test_client()
    r = client.post(FEEDBACK, json={"request_id": "r", "labels": ["x" * 300]})
    assert (r.status_code, r.get_json()) == (
        400,
        {"error": "'labels' come to 304 bytes of JSON; the limit is 256 (PREDICTION_LOG_MAX_BYTES)"},
    )


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/models/other:feedback", 404),
        ("/v1/models/toy/versions/8:feedback", 404),
        ("/v2/models/other/feedback", 404),
        ("/v2/models/toy/versions/8/feedback", 404),
    ],
)
def test_feedback_for_an_unknown_model_or_version(client, log, path, status):
    assert client.post(path, json={"request_id": "r", "labels": [1]}).status_code == status
    assert log.lines() == []


# ---- authorization ------------------------------------------------------------------------------------------------


@pytest.fixture
def auth_client(toy_model_dir, toy_predictor) -> Iterator:
    key = SigningKey("google-key-1")
    server = CertServer({key.kid: key.cert_pem})
    env = {
        "AUTH_MODE": "google-id-token",
        "AUTH_AUDIENCE": AUDIENCE,
        "AUTH_CERTS_URL": server.url,
        "AUTH_ALLOWED_EMAILS": CALLER,
    }
    try:
        yield make_app(toy_model_dir, toy_predictor, **env).test_client(), key
    finally:
        server.stop()


def test_feedback_is_authorized_like_predict(auth_client, log):
    client, key = auth_client
    body = {"request_id": "r", "labels": [1]}
    stranger = {"Authorization": f"Bearer {key.sign(claims(email='x@y.example'))}"}
    for path in (FEEDBACK, "/v2/models/toy/feedback"):
        r = client.post(path, json=body)
        assert (r.status_code, r.get_json()) == (401, {"error": "missing bearer token"})
        r = client.post(path, json=body, headers=stranger)
        assert (r.status_code, r.get_json()) == (403, {"error": "caller x@y.example is not allowed"})
    assert log.entries("feedback") == []
    for path in (FEEDBACK, "/v2/models/toy/feedback"):
        r = client.post(path, json=body, headers={"Authorization": f"Bearer {key.sign(claims())}"})
        assert (r.status_code, r.get_json()) == (200, {})
    assert len(log.entries("feedback")) == 2

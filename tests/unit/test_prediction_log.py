"""The prediction log without HTTP: sampling, the logged JSON of tensors, redaction, the size limit and its summary,
the inputs sent as bytes, feedback validation, the settings, and the exact line the structured handler writes."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import random
from collections.abc import Iterator

import google.cloud.logging_v2 as logging_v2
import numpy as np
import pytest
from google.cloud.logging_v2.handlers import StructuredLogHandler

from app.errors import InvalidInput
from app.prediction_log import JsonInput, PredictionLog, rows_of
from app.prediction_log.feedback import MAX_REQUEST_ID, parse_feedback
from app.prediction_log.values import REDACTED, Columns, encode, fit, sha256_hex
from app.prediction_log.wire import has_b64, tfserving_bytes_inputs, v2_bytes_inputs
from app.settings import PredictionLogSettings, Settings, SettingsError

# Every field of a prediction entry, with its JSON type (the BigQuery side is built against these).
PREDICTION_FIELDS = {
    "entry_type": str,
    "request_id": str,
    "model_name": str,
    "model_version": str,
    "protocol": str,
    "signature": str,
    "rows": int,
    "inputs": str,
    "outputs": str,
    "truncated": bool,
    "latency_ms": float,
}
FEEDBACK_FIELDS = {"entry_type": str, "request_id": str, "model_name": str, "labels": str}
# What google-cloud-logging's StructuredLogHandler adds to every line.
HANDLER_FIELDS = {
    "message",
    "severity",
    "logging.googleapis.com/labels",
    "logging.googleapis.com/trace",
    "logging.googleapis.com/spanId",
    "logging.googleapis.com/trace_sampled",
    "logging.googleapis.com/sourceLocation",
    "httpRequest",
}


@pytest.fixture
def lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """What the app's structured handler writes for the prediction log's logger."""
    monkeypatch.setattr(logging_v2, "_instrumentation_emitted", True)  # as app.logs does: no diagnostic line
    stream = io.StringIO()
    handler = StructuredLogHandler(stream=stream)
    logger = logging.getLogger("app.prediction_log")
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


def entries(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def settings(**env: str) -> PredictionLogSettings:
    return PredictionLogSettings.from_env(env)


# ---- sampling ------------------------------------------------------------------------------------------------


def test_at_zero_no_draw_is_made():
    def no_draw() -> float:
        raise AssertionError("drew a random number with the sample at 0")

    log = PredictionLog(settings(), random=no_draw)
    assert not any(log.sampled() for _ in range(1000))


def test_at_one_every_request_is_sampled():
    log = PredictionLog(settings(PREDICTION_LOG_SAMPLE="1"))
    assert all(log.sampled() for _ in range(1000))


def test_a_tenth_is_about_one_in_ten():
    draws = random.Random(1234)
    log = PredictionLog(settings(PREDICTION_LOG_SAMPLE="0.1"), random=draws.random)
    count = sum(log.sampled() for _ in range(10_000))
    reference = random.Random(1234)
    assert count == sum(reference.random() < 0.1 for _ in range(10_000))  # one draw per decision, nothing more
    assert abs(count - 1000) < 4 * math.sqrt(10_000 * 0.1 * 0.9)  # binomial: 4 sigma = 120


# ---- values --------------------------------------------------------------------------------------------------


def logged(values: dict, redact: tuple[str, ...] = (), max_bytes: int = 65536, as_bytes: tuple = ()) -> tuple:
    columns = encode(values, frozenset(redact), max_bytes, frozenset(as_bytes))
    return json.loads(columns.text()), columns.summarized


def test_columns_hold_one_value_per_row_and_scalars_as_themselves():
    values = {
        "x": np.array([[1.5, 2.0], [3.0, -4.25]], np.float32),
        "n": np.array([1, 2], np.int64),
        "ok": np.array([True, False]),
        "mean": np.array(2.5, np.float32),
    }
    assert logged(values) == (
        {"x": [[1.5, 2.0], [3.0, -4.25]], "n": [1, 2], "ok": [True, False], "mean": 2.5},
        set(),
    )


def test_strings_are_text_bytes_are_b64_and_non_finite_numbers_null():
    values = {
        "s": np.array([b"caf\xc3\xa9", b"\xff\x00"], dtype=object),
        "raw_bytes": np.array([b"abc"], dtype=object),  # TF Serving's rule: *_bytes outputs are always base64
        "f": np.array([np.nan, np.inf, 1.0], np.float32),
    }
    assert logged(values)[0] == {
        "s": ["café", {"b64": "/wA="}],
        "raw_bytes": [{"b64": "YWJj"}],
        "f": [None, None, 1.0],
    }


def test_redacted_names_are_never_read():
    unreadable = object()  # not even an array: reading it would raise
    text = encode({"secret": unreadable, "y": np.array([1.0])}, frozenset({"secret"}), 65536, frozenset()).text()
    assert json.loads(text) == {"secret": REDACTED, "y": [1.0]}


def test_json_inputs_are_redacted_by_member_name_and_summarized_when_they_hold_bytes():
    examples = np.array([b"serialized-1", b"serialized-2"], dtype=object)
    value = [{"age": 41, "ssn": "123-45-6789"}, {"age": 7, "ssn": ["987"]}]
    assert logged({"examples": JsonInput(value, examples)}, redact=("ssn",)) == (
        {"examples": [{"age": 41, "ssn": REDACTED}, {"age": 7, "ssn": REDACTED}]},
        set(),
    )
    with_bytes = [{"age": 41, "photo": {"b64": "/w=="}}]
    text, summarized = logged({"examples": JsonInput(with_bytes, examples)})
    assert summarized == {"examples"}
    assert text["examples"] == {
        "shape": [2],
        "dtype": "string",
        "sha256": hashlib.sha256(b"serialized-1serialized-2").hexdigest(),
    }


def test_a_value_over_the_limit_becomes_its_shape_dtype_and_sha256():
    big = np.arange(10_000, dtype=np.float32).reshape(100, 100)
    small = np.array([1.0], np.float32)
    text, summarized = logged({"big": big, "small": small}, max_bytes=1000)
    assert summarized == {"big"}
    assert text == {
        "big": {"shape": [100, 100], "dtype": "float32", "sha256": hashlib.sha256(big.tobytes()).hexdigest()},
        "small": [1.0],
    }
    # Exactly at the limit is still logged: the limit is on the value's own JSON.
    exact = np.array([1, 2, 3], np.int64)  # [1,2,3]: 7 bytes
    assert logged({"v": exact}, max_bytes=7)[0] == {"v": [1, 2, 3]}
    assert logged({"v": exact}, max_bytes=6)[1] == {"v"}


def test_sha256_is_of_little_endian_row_major_bytes_or_concatenated_strings():
    arr = np.arange(6, dtype=np.int32).reshape(2, 3)
    assert sha256_hex(arr) == hashlib.sha256(arr.astype("<i4").tobytes()).hexdigest()
    assert sha256_hex(arr.astype(">i4")) == sha256_hex(arr)  # the same numbers, whatever their byte order
    assert sha256_hex(arr.T) == hashlib.sha256(arr.T.copy().tobytes()).hexdigest()  # row-major, as seen
    strings = np.array([[b"ab", b""], [b"c", b"\xff"]], dtype=object)
    assert sha256_hex(strings) == hashlib.sha256(b"abc\xff").hexdigest()


def test_inputs_sent_as_bytes_are_always_summaries():
    s = np.array([b"hello"], dtype=object)
    text, summarized = logged({"s": s}, as_bytes=("s",))
    assert summarized == {"s"}
    assert text["s"] == {"shape": [1], "dtype": "string", "sha256": hashlib.sha256(b"hello").hexdigest()}


def test_an_entry_too_large_for_cloud_logging_loses_its_largest_values_first():
    inputs = {"a": np.zeros(6000, np.float32), "b": np.ones(2, np.float32)}  # a: 24 KB of JSON
    outputs = {"c": np.zeros(4000, np.float32), "d": np.zeros(3000, np.float32)}
    logged_inputs = encode(inputs, frozenset(), 65536, frozenset())
    logged_outputs = encode(outputs, frozenset(), 65536, frozenset())
    fit([(logged_inputs, inputs), (logged_outputs, outputs)], budget=30_000)
    assert (logged_inputs.summarized, logged_outputs.summarized) == ({"a"}, set())
    assert sum(len(t) for c in (logged_inputs, logged_outputs) for t in c.fragments.values()) <= 30_000
    unchanged = Columns({"b": b"[1.0]"}, set())
    fit([(unchanged, inputs)], budget=1)  # nothing but summaries left to shrink: stop, never loop
    assert unchanged.summarized == {"b"}


def test_rows_are_the_first_dimension_of_the_first_input_with_one():
    assert rows_of({"s": np.array(3.0), "x": np.zeros((5, 2))}) == 5
    assert rows_of({"s": np.array(3.0)}) == 1
    assert rows_of({"examples": JsonInput([{}, {}], np.array([b"", b""], dtype=object))}) == 2


# ---- inputs sent as bytes ------------------------------------------------------------------------------------


def test_tfserving_b64_inputs_are_found_in_rows_and_columns():
    assert tfserving_bytes_inputs({"instances": [{"b64": "AA=="}, "text"]}, ["s"]) == {"s"}
    assert tfserving_bytes_inputs({"instances": ["text", "more"]}, ["s"]) == set()
    rows = {"instances": [{"img": {"b64": "AA=="}, "tag": "x"}, {"img": {"b64": "AQ=="}, "tag": "y"}]}
    assert tfserving_bytes_inputs(rows, ["img", "tag"]) == {"img"}
    assert tfserving_bytes_inputs({"inputs": {"img": [[{"b64": "AA=="}]], "tag": ["x"]}}, ["img", "tag"]) == {"img"}
    assert tfserving_bytes_inputs({"inputs": [{"b64": "AA=="}]}, ["s"]) == {"s"}
    assert tfserving_bytes_inputs({"instances": [{"b64": "AA=="}]}, []) == set()  # no string input at all


def test_v2_binary_and_b64_inputs_are_found():
    body = {
        "inputs": [
            {"name": "raw", "shape": [1], "datatype": "FP32", "parameters": {"binary_data_size": 4}},
            {"name": "b", "shape": [1], "datatype": "BYTES", "data": [{"b64": "AA=="}]},
            {"name": "t", "shape": [1], "datatype": "BYTES", "data": ["text"]},
        ]
    }
    assert v2_bytes_inputs(body) == {"raw", "b"}
    assert has_b64([[1, 2], [{"b64": "x"}]]) and not has_b64([{"b64": "x", "other": 1}])


# ---- feedback ------------------------------------------------------------------------------------------------


def test_valid_feedback_keeps_the_labels_as_json_text():
    feedback = parse_feedback({"request_id": "gs://b/in/a.jsonl#12", "labels": [7, "cat", 0.5, True]}, 10, 1000)
    assert (feedback.request_id, json.loads(feedback.labels)) == ("gs://b/in/a.jsonl#12", [7, "cat", 0.5, True])


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ([1], "feedback must be a JSON object"),
        ({"labels": [1]}, "'request_id' is missing"),
        ({"request_id": 12, "labels": [1]}, "'request_id' must be a string of 1 to 1024 printable characters"),
        ({"request_id": "", "labels": [1]}, "'request_id' must be a string"),
        ({"request_id": "a\nb", "labels": [1]}, "'request_id' must be a string"),
        ({"request_id": "r" * (MAX_REQUEST_ID + 1), "labels": [1]}, "'request_id' must be a string"),
        ({"request_id": "r"}, "'labels' is missing"),
        ({"request_id": "r", "labels": 1}, "'labels' must be a non-empty list"),
        ({"request_id": "r", "labels": []}, "'labels' must be a non-empty list"),
        ({"request_id": "r", "labels": [1, [2]]}, "value 1 is a list"),
        ({"request_id": "r", "labels": [{"a": 1}]}, "value 0 is an object"),
        ({"request_id": "r", "labels": [None]}, "value 0 is null"),
        ({"request_id": "r", "labels": [float("nan")]}, "value 0 is not a finite number"),
        ({"request_id": "r", "labels": [2**64]}, "value 0 is an integer out of range"),
        ({"request_id": "r", "labels": ["\ud800"]}, "'labels' has a string that is not valid Unicode"),
        ({"request_id": "r", "labels": [1, 2, 3, 4]}, "'labels' has 4 values; the limit is 3 (MAX_INSTANCES)"),
        ({"request_id": "r", "labels": ["x" * 60]}, "come to 64 bytes of JSON; the limit is 50 (PREDICTION_LOG_MAX"),
    ],
)
def test_bad_feedback_is_a_400_that_says_what_is_wrong(body, error):
    with pytest.raises(InvalidInput, match=error.replace("(", r"\(").replace(")", r"\)")):
        parse_feedback(body, max_labels=3, max_bytes=50)


# ---- settings ------------------------------------------------------------------------------------------------


def test_settings_defaults_and_parsing():
    assert Settings.from_env({}).prediction_log == PredictionLogSettings(sample=0.0, redact=(), max_bytes=65536)
    parsed = settings(
        PREDICTION_LOG_SAMPLE="0.25", PREDICTION_LOG_REDACT=" ssn, email ,,ssn", PREDICTION_LOG_MAX_BYTES="4096"
    )
    assert parsed == PredictionLogSettings(sample=0.25, redact=("ssn", "email"), max_bytes=4096)


@pytest.mark.parametrize(
    ("env", "error"),
    [
        ({"PREDICTION_LOG_SAMPLE": "1.5"}, "PREDICTION_LOG_SAMPLE=1.5 must be between 0 and 1"),
        ({"PREDICTION_LOG_SAMPLE": "all"}, "PREDICTION_LOG_SAMPLE='all' is not a number"),
        ({"PREDICTION_LOG_MAX_BYTES": "10"}, r"PREDICTION_LOG_MAX_BYTES=10 is out of range \[256, 200000\]"),
    ],
)
def test_bad_settings_name_the_variable(env, error):
    with pytest.raises(SettingsError, match=error):
        Settings.from_env(env)


# ---- the line ------------------------------------------------------------------------------------------------


def write_prediction(inputs: dict, outputs: dict) -> None:
    PredictionLog(settings(PREDICTION_LOG_SAMPLE="1")).prediction(
        request_id="r-1",
        model_name="toy",
        model_version=7,
        protocol="tfserving",
        signature="serving_default",
        inputs=inputs,
        outputs=outputs,
        latency_ms=2.3104,
    )


def test_a_prediction_entry_is_one_line_with_exactly_these_fields(lines):
    write_prediction({"x": np.array([[1.0, 2.0]], np.float32)}, {"y": np.array([3.0], np.float32)})
    (entry,) = entries(lines)
    assert set(entry) == set(PREDICTION_FIELDS) | HANDLER_FIELDS
    assert {k: type(entry[k]) for k in PREDICTION_FIELDS} == PREDICTION_FIELDS
    assert {k: entry[k] for k in PREDICTION_FIELDS} == {
        "entry_type": "prediction",
        "request_id": "r-1",
        "model_name": "toy",
        "model_version": "7",
        "protocol": "tfserving",
        "signature": "serving_default",
        "rows": 1,
        "inputs": '{"x":[[1.0,2.0]]}',
        "outputs": '{"y":[3.0]}',
        "truncated": False,
        "latency_ms": 2.31,
    }
    assert (entry["message"], entry["severity"]) == ("prediction", "INFO")
    assert entry["logging.googleapis.com/labels"]["entry_type"] == "prediction"


def test_a_feedback_entry_is_one_line_with_exactly_these_fields(lines):
    PredictionLog(settings()).feedback(request_id="r-1", model_name="toy", labels="[7,3]")
    (entry,) = entries(lines)
    assert set(entry) == set(FEEDBACK_FIELDS) | HANDLER_FIELDS
    assert {k: entry[k] for k in FEEDBACK_FIELDS} == {
        "entry_type": "feedback",
        "request_id": "r-1",
        "model_name": "toy",
        "labels": "[7,3]",
    }
    assert (entry["message"], entry["logging.googleapis.com/labels"]["entry_type"]) == ("feedback", "feedback")


def test_entries_are_written_whatever_the_log_level(lines):
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        PredictionLog(settings()).feedback(request_id="r", model_name="m", labels="[1]")
    finally:
        root.setLevel(level)
    assert len(entries(lines)) == 1


def test_a_value_that_cannot_be_encoded_skips_the_entry_with_a_warning(lines):
    write_prediction({"x": np.array([object()], dtype=object)}, {})
    assert [e["severity"] for e in entries(lines)] == ["WARNING"]
    assert "prediction entry of request r-1 not written" in entries(lines)[0]["message"]

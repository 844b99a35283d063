"""TF Serving warm-up records: round trips, absent and corrupt files, and TF Serving's wire format by hand."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from app.errors import ModelLoadError
from app.warmup import WARMUP_FILE, WarmupRequest, read_warmup_requests, write_warmup_requests


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if not value:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def _bytes_field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2): sub-messages, strings, map entries."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _varint_field(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _write_records(saved_model_dir: Path, records: list[bytes]) -> None:
    path = saved_model_dir / WARMUP_FILE
    path.parent.mkdir(parents=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)


def test_round_trip_float_int_and_string_tensors(tmp_path: Path) -> None:
    requests = [
        WarmupRequest("serving_default", {"image": np.random.default_rng(0).random((2, 28, 28, 1), np.float32)}),
        WarmupRequest(
            "classify",
            {
                "ids": np.array([[1, 2], [3, 4]], np.int64),
                "count": np.array(7, np.int32),
                "text": np.array([b"hello", "héllo".encode()]),
            },
        ),
    ]

    path = write_warmup_requests(tmp_path, requests, model_name="demo")
    read = read_warmup_requests(tmp_path)

    assert path == tmp_path / "assets.extra" / "tf_serving_warmup_requests"
    assert [r.signature_name for r in read] == ["serving_default", "classify"]
    for original, decoded in zip(requests, read, strict=True):
        assert sorted(decoded.inputs) == sorted(original.inputs)
        for name, value in original.inputs.items():
            assert decoded.inputs[name].dtype == value.dtype or value.dtype.kind == "S"
            np.testing.assert_array_equal(decoded.inputs[name], value)


def test_absent_file_gives_no_requests(tmp_path: Path) -> None:
    assert read_warmup_requests(tmp_path) == []


@pytest.mark.parametrize("content", [b"definitely not a TFRecord file", None], ids=["bad-framing", "bad-proto"])
def test_corrupt_file_raises_model_load_error(tmp_path: Path, content: bytes | None) -> None:
    if content is None:  # valid TFRecord framing around bytes that are not a PredictionLog
        _write_records(tmp_path, [b"\xff\xff\xff\xff"])
    else:
        (tmp_path / "assets.extra").mkdir()
        (tmp_path / WARMUP_FILE).write_bytes(content)

    with pytest.raises(ModelLoadError, match="tf_serving_warmup_requests"):
        read_warmup_requests(tmp_path)


def test_limit_caps_the_number_of_requests(tmp_path: Path) -> None:
    request = WarmupRequest("serving_default", {"x": np.zeros((1, 2), np.float32)})
    write_warmup_requests(tmp_path, [request] * 3)

    assert len(read_warmup_requests(tmp_path, limit=2)) == 2


def test_reads_a_hand_encoded_prediction_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Field numbers of tensorflow_serving/apis/{model,predict,prediction_log,logging}.proto, by hand."""
    tensor = tf.make_tensor_proto(np.array([[1.5, 2.5]], np.float32)).SerializeToString()
    model_spec = (
        _bytes_field(1, b"demo")  # ModelSpec.name = 1
        + _bytes_field(2, _varint_field(1, 7))  # ModelSpec.version = 2 (Int64Value.value = 1)
        + _bytes_field(3, b"scores")
    )  # ModelSpec.signature_name = 3
    input_entry = _bytes_field(1, b"x") + _bytes_field(2, tensor)  # map entry: key = 1, value = 2
    request = _bytes_field(1, model_spec) + _bytes_field(2, input_entry)  # PredictRequest.model_spec/inputs
    metadata = _bytes_field(1, model_spec) + _varint_field(4, 1700000000)  # LogMetadata.model_spec/timestamp
    predict_log = _bytes_field(1, metadata) + _bytes_field(6, _bytes_field(1, request))  # PredictionLog
    unnamed = _bytes_field(6, _bytes_field(1, _bytes_field(2, input_entry)))  # no model_spec: default signature
    classify_log = _bytes_field(2, b"")  # PredictionLog.classify_log = 2: not a predict request, skipped
    _write_records(tmp_path, [predict_log, classify_log, unnamed])

    with caplog.at_level(logging.INFO, logger="app.warmup"):
        requests = read_warmup_requests(tmp_path)

    assert [r.signature_name for r in requests] == ["scores", "serving_default"]
    for decoded in requests:
        assert list(decoded.inputs) == ["x"]
        np.testing.assert_array_equal(decoded.inputs["x"], np.array([[1.5, 2.5]], np.float32))
    assert "Skipping warm-up record 1" in caplog.text


def test_writer_emits_tf_serving_wire_format(tmp_path: Path) -> None:
    value = np.array([3, 4], np.int64)
    write_warmup_requests(tmp_path, [WarmupRequest("serving_default", {"ids": value})], model_name="demo")

    tensor = tf.make_tensor_proto(value).SerializeToString()
    model_spec = _bytes_field(1, b"demo") + _bytes_field(3, b"serving_default")
    request = _bytes_field(1, model_spec) + _bytes_field(2, _bytes_field(1, b"ids") + _bytes_field(2, tensor))
    expected = _bytes_field(6, _bytes_field(1, request))
    records = list(tf.data.TFRecordDataset(str(tmp_path / WARMUP_FILE)).as_numpy_iterator())
    assert records == [expected]

"""TF Serving predict format: row and columnar requests, responses, and every malformed request."""

import numpy as np
import orjson
import pytest

from app.codecs.tfserving import decode_predict, encode_predict
from app.errors import InvalidInput, NotFound
from tests.unit.signatures import lookup

IMG = [[0.0, 0.1], [0.2, 0.3]]


def test_row_format_single_input_stacks_instances():
    req = decode_predict({"instances": [IMG, IMG]}, lookup)
    assert req.row_format and req.signature_name is None
    assert req.inputs["image"].shape == (2, 2, 2) and req.inputs["image"].dtype == np.float32


def test_row_format_objects_of_named_inputs():
    req = decode_predict(
        {
            "signature_name": "features",
            "instances": [{"temperature": 80, "count": 3}, {"temperature": 20.5, "count": 1}],
        },
        lookup,
    )
    assert req.signature_name == "features"
    assert req.inputs["temperature"].tolist() == [80.0, 20.5]
    assert req.inputs["count"].dtype == np.int32


def test_columnar_format_single_value_and_named_object():
    assert decode_predict({"inputs": [IMG]}, lookup).inputs["image"].shape == (1, 2, 2)
    req = decode_predict({"signature_name": "features", "inputs": {"temperature": [1.0], "count": [2]}}, lookup)
    assert not req.row_format and req.inputs["count"].tolist() == [2]


def test_b64_instances_for_a_single_string_input():
    req = decode_predict({"signature_name": "text", "instances": [{"b64": "aGk="}, "yo"]}, lookup)
    assert req.inputs["s"].tolist() == [b"hi", b"yo"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "must be a JSON object"),
        ({}, "not neither"),
        ({"instances": [IMG], "inputs": [IMG]}, "not both"),
        ({"instances": []}, "is empty"),
        ({"instances": IMG[0][0]}, "must be a list"),
        ({"instances": [IMG], "signature_name": 3}, "must be a string"),
        ({"signature_name": "features", "instances": [1.0, 2.0]}, "must be an object keyed by input name"),
        (
            {"signature_name": "features", "instances": [{"temperature": 1, "count": 1}, {"temperature": 2}]},
            "same named inputs",
        ),
        ({"signature_name": "features", "instances": [{"temperature": 1, "count": 1}, 5]}, "mixes objects"),
        ({"signature_name": "features", "inputs": {"pressure": [1.0]}}, "Missing named input: temperature"),
        ({"signature_name": "features", "inputs": [1.0]}, "must be an object keyed by input name"),
        ({"instances": [[["a", "b"], ["c", "d"]]]}, "got strings"),
    ],
)
def test_malformed_requests_are_invalid_input(body, message):
    with pytest.raises(InvalidInput, match=message):
        decode_predict(body, lookup)


def test_unknown_signature_is_not_found():
    def strict(name):
        if name not in (None, "serving_default"):
            raise NotFound(f"signature {name!r} not found")
        return lookup(name)

    with pytest.raises(NotFound):
        decode_predict({"signature_name": "nope", "instances": [IMG]}, strict)


def test_row_response_one_object_per_instance_for_several_outputs():
    outputs = {
        "probabilities": np.array([[0.25, 0.5, 0.25], [1, 0, 0]], np.float32),
        "digit": np.array([1, 0]),
    }
    assert orjson.loads(encode_predict(outputs, row_format=True)) == {
        "predictions": [
            {"probabilities": [0.25, 0.5, 0.25], "digit": 1},
            {"probabilities": [1.0, 0.0, 0.0], "digit": 0},
        ]
    }


def test_row_response_plain_list_for_one_output_and_columnar_forms():
    one = {"y": np.array([3.5, 4.0], np.float32)}
    assert orjson.loads(encode_predict(one, row_format=True)) == {"predictions": [3.5, 4.0]}
    assert orjson.loads(encode_predict(one, row_format=False)) == {"outputs": [3.5, 4.0]}
    two = {"y": np.array([1.0]), "risk": np.array([b"HIGH"], dtype=object)}
    assert orjson.loads(encode_predict(two, row_format=False)) == {"outputs": {"y": [1.0], "risk": ["HIGH"]}}


def test_row_response_needs_a_shared_batch_dimension():
    with pytest.raises(InvalidInput, match="columnar"):
        encode_predict({"mean": np.float32(1.0), "x": np.array([1.0, 2.0])}, row_format=True)

"""TF Serving's :classify / :regress JSON (``app.codecs.examples``): TF Serving's own json_tensor_test.cc cases for
classification and regression, then this service's limits and deliberate differences.

TF Serving runs its request cases for both ``ClassificationRequest`` and ``RegressionRequest`` (a typed test over
one parser); here one decoder serves both APIs, so each case runs once.
"""

import math

import numpy as np
import orjson
import pytest
from google.protobuf import text_format
from tensorflow.core.example import example_pb2

from app.codecs.examples import decode_examples, encode_classification, encode_regression
from app.codecs.jsonio import loads
from app.codecs.limits import Limits
from app.errors import InvalidInput

BIG = 1 << 30


def decode(body, limits=None, max_bytes=BIG):
    return decode_examples(body, limits or Limits(), max_bytes)


def parsed(serialized: bytes) -> example_pb2.Example:
    """What the model's ParseExample sees: the serialized context and example, read as one Example."""
    example = example_pb2.Example()
    example.ParseFromString(serialized)
    return example


def text(example: example_pb2.Example) -> str:
    return text_format.MessageToString(example)  # sorted map keys; NaN as "nan", so NaN compares equal


def expected(proto_text: str) -> str:
    return text(text_format.Parse(proto_text, example_pb2.Example()))


# -- json_tensor_test.cc: ClassifyRegressRequestTest ----------------------------------------------------------


def test_request_no_context():
    # TF Serving: ClassifyRegressRequestTest.RequestNoContext
    req = decode_examples(
        loads(
            b"""{"examples": [
                {"names": ["foo", "bar"], "ratings": [8.0, 9.0], "age": 20},
                {"names": ["baz"], "ratings": 6.0}
            ]}"""
        ),
        Limits(),
        BIG,
    )
    assert req.signature_name == ""
    assert req.examples.shape == (2,) and req.examples.dtype == object
    assert [text(parsed(e)) for e in req.examples] == [
        expected(
            """features {
              feature { key: "names" value { bytes_list { value: "foo" value: "bar" } } }
              feature { key: "ratings" value { float_list { value: 8.0 value: 9.0 } } }
              feature { key: "age" value { int64_list { value: 20 } } }
            }"""
        ),
        expected(
            """features {
              feature { key: "names" value { bytes_list { value: "baz" } } }
              feature { key: "ratings" value { float_list { value: 6.0 } } }
            }"""
        ),
    ]


def test_request_with_context_and_signature():
    # TF Serving: ClassifyRegressRequestTest.RequestWithContextAndSignature. TF Serving keeps the context apart
    # (example_list_with_context) and its servables put the serialized context before each serialized example
    # (util.cc InputToSerializedExampleTensor); what the model parses is that concatenation, checked here.
    body = b"""{
      "signature_name": "custom_signture",
      "context": {"query": "pizza", "location": ["sfo"]},
      "examples": [
        {"names": ["foo", "bar"], "ratings": [8.0, 9.0, NaN, Infinity], "age": 20},
        {"names": ["baz", {"b64": "aGVsbG8="}], "ratings": 6.0, "intboolmix": [1, true, false]},
        {"names": "bar", "ratings": -Infinity}
      ]
    }"""
    req = decode(loads(body))
    assert req.signature_name == "custom_signture"
    context = """feature { key: "query" value { bytes_list { value: "pizza" } } }
                 feature { key: "location" value { bytes_list { value: "sfo" } } }"""
    assert [text(parsed(e)) for e in req.examples] == [
        expected(
            f"""features {{ {context}
              feature {{ key: "names" value {{ bytes_list {{ value: "foo" value: "bar" }} }} }}
              feature {{ key: "ratings" value {{ float_list {{ value: 8.0 value: 9.0 value: nan value: inf }} }} }}
              feature {{ key: "age" value {{ int64_list {{ value: 20 }} }} }}
            }}"""
        ),
        expected(
            f"""features {{ {context}
              feature {{ key: "names" value {{ bytes_list {{ value: "baz" value: "hello" }} }} }}
              feature {{ key: "ratings" value {{ float_list {{ value: 6.0 }} }} }}
              feature {{ key: "intboolmix" value {{ int64_list {{ value: 1 value: 1 value: 0 }} }} }}
            }}"""
        ),
        expected(
            f"""features {{ {context}
              feature {{ key: "names" value {{ bytes_list {{ value: "bar" }} }} }}
              feature {{ key: "ratings" value {{ float_list {{ value: -inf }} }} }}
            }}"""
        ),
    ]
    # The context is serialized once and put, byte for byte, before each example.
    ctx = decode({"context": {"query": "pizza", "location": ["sfo"]}, "examples": [{}]}).examples[0]
    assert ctx and all(e.startswith(ctx) for e in req.examples)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # TF Serving: ClassifyRegressRequestTest.JsonErrors, in its order.
        (
            {"signature_name": ["hello"], "examples": [{"names": ["foo", "bar"]}]},
            "not formatted correctly. 'signature_name' key must be a string value.",
        ),
        ({"context": [{"names": ["foo", "bar"]}]}, "Example must be JSON object but got JSON Array"),
        ({"examples": {"names": ["foo", "bar"]}}, "Expecting 'examples' value to be an list/array"),
        ({"examples": [[{"names": ["foo", "bar"]}]]}, "Example must be JSON object but got JSON Array"),
        ({"examples": [{"names": [10, None]}]}, "Feature: names has element with unexpected JSON type: Null"),
        ({"examples": [{"names": [10, 10.0]}]}, "Unexpected element type in feature: names expecting type: int64"),
        (
            {"examples": [{"names": [10, {"test": 10}]}]},
            "Feature: names has element with unexpected JSON type: Object",
        ),
        ({"examples": [{"names": [[10], 20]}]}, "Feature: names has element with unexpected JSON type: Array"),
        (
            {"examples": [{"names": [20, 18446744073709551603]}]},
            "Feature: names has uint64_t element. Only int64_t is supported.",
        ),
    ],
)
def test_json_errors(body, message):
    with pytest.raises(InvalidInput) as exc:
        decode(body)
    assert exc.value.message == message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # The other errors of FillClassifyRegressRequestFromJson and AddValueToFeature (json_tensor.cc).
        ({"signature_name": "s"}, "When method is classify, key 'examples' is expected and was not found"),
        ({"examples": []}, "'examples' value is an empty array"),
        ({"examples": [5]}, "Example must be JSON object but got JSON Number"),
        ({"examples": [{"f": None}]}, "Feature: f has element with unexpected JSON type: Null"),
        ({"examples": [{"f": {"b64": 5}}]}, "Feature: f has element with unexpected JSON type: Object"),
        ({"examples": [{"f": {"b64": "aGk=", "x": 1}}]}, "Feature: f has element with unexpected JSON type: Object"),
        ({"examples": [{"f": [1.5, "a"]}]}, "Unexpected element type in feature: f expecting type: float"),
        ({"examples": [{"f": ["a", 1]}]}, "Unexpected element type in feature: f expecting type: bytes"),
        ({"examples": [{"f": [True, 1.5]}]}, "Unexpected element type in feature: f expecting type: int64"),
        # The kind is checked before the value: a mismatched kind wins over a bad value.
        ({"examples": [{"f": [1.5, 2**64 - 13]}]}, "Unexpected element type in feature: f expecting type: float"),
        ({"examples": [{"f": ["a", {"b64": "!!"}]}]}, "Unable to base64 decode"),
        (
            {"context": {"f": [False, "x"]}, "examples": [{}]},
            "Unexpected element type in feature: f expecting type: int64",
        ),
    ],
)
def test_other_tf_serving_errors(body, message):
    with pytest.raises(InvalidInput) as exc:
        decode(body)
    assert exc.value.message == message


def test_numbers_follow_rapidjson_types():
    # AddValueToFeature: IsDouble() (a fraction or exponent, or too big for 64 bits) -> float_list, else int64_list.
    req = decode(
        {
            "examples": [
                {
                    "i": [-(2**63), 2**63 - 1, 0, True],
                    "f": [1e2, 2.0, 2**64, -(2**63) - 1],
                    "huge": 10**400,  # wider than a double: Infinity, as the literal 1e400
                }
            ]
        }
    )
    features = parsed(req.examples[0]).features.feature
    assert list(features["i"].int64_list.value) == [-(2**63), 2**63 - 1, 0, 1]
    assert list(features["f"].float_list.value) == [100.0, 2.0, float(2**64), float(-(2**63) - 1)]
    assert list(features["huge"].float_list.value) == [math.inf]


def test_empty_list_makes_a_feature_of_no_kind():
    # MakeExampleFromJsonObject stores the Feature whatever it holds; from [] that is one with no kind set.
    feature = parsed(decode({"examples": [{"f": []}]}).examples[0]).features.feature["f"]
    assert feature.WhichOneof("kind") is None


def test_example_feature_overrides_context_feature_of_the_same_name():
    # util.cc puts the context first; when protobuf parses the concatenation, the later map entry wins.
    req = decode({"context": {"x": 1.0, "c": "ctx"}, "examples": [{"x": 2.0}, {}]})
    first, second = (parsed(e).features.feature for e in req.examples)
    assert list(first["x"].float_list.value) == [2.0] and list(first["c"].bytes_list.value) == [b"ctx"]
    assert list(second["x"].float_list.value) == [1.0]


# -- json_tensor_test.cc: ClassifyRegressnResultTest ----------------------------------------------------------


def test_json_from_classification_result():
    # TF Serving: ClassifyRegressnResultTest.JsonFromClassificationResult
    labels = np.array([[b"car", b"bike", b"bus"], [b"car", b"bike", b"bus"]], dtype=object)
    scores = np.array([[0.2, 0.7, 0.1], [0.7, 0.1, 0.2]], dtype=np.float32)
    assert orjson.loads(encode_classification(labels, scores)) == {
        "results": [
            [["car", 0.2], ["bike", 0.7], ["bus", 0.1]],
            [["car", 0.7], ["bike", 0.1], ["bus", 0.2]],
        ]
    }


def test_classification_with_only_labels_or_only_scores():
    # PostProcessClassificationResult leaves the missing field at its proto default: label "" or score 0.
    assert orjson.loads(encode_classification(None, np.array([[2.5]], np.float32))) == {"results": [[["", 2.5]]]}
    labels = np.array([[b"a", b"b"]], dtype=object)
    assert orjson.loads(encode_classification(labels, None)) == {"results": [[["a", 0.0], ["b", 0.0]]]}


def test_json_from_regression_result():
    # TF Serving: ClassifyRegressnResultTest.JsonFromRegressionResult
    body = encode_regression(np.array([0.2, 0.9, 1.0], np.float32))
    assert body == b'{"results":[0.2,0.9,1.0]}'


def test_json_from_regression_result_with_non_finite():
    # TF Serving: ClassifyRegressnResultTest.JsonFromRegressionResultWithNonFinite (compared as text, so 0.2 must
    # not come out as 0.20000000298023224).
    values = np.array([0.2, np.inf, 1.0, -np.inf, np.nan], np.float32)
    assert encode_regression(values) == b'{"results":[0.2,Infinity,1.0,-Infinity,NaN]}'


def test_classification_scores_with_non_finite():
    scores = np.array([[0.2, np.nan]], np.float32)
    assert encode_classification(None, scores) == b'{"results":[[["",0.2],["",NaN]]]}'


def test_json_from_result_errors():
    # TF Serving: ClassifyRegressnResultTest.JsonFromResultErrors
    with pytest.raises(InvalidInput, match="Cannot convert empty ClassificationResults to JSON"):
        encode_classification(None, np.zeros((0, 1), np.float32))
    with pytest.raises(InvalidInput, match="Cannot convert empty RegressionResults to JSON"):
        encode_regression(np.zeros((0,), np.float32))


# -- this service: limits and deliberate differences ------------------------------------------------------------


def test_unknown_top_level_field_is_ignored():
    # As TF Serving (FillClassifyRegressRequestFromJson looks up only its own keys), within the nesting limit.
    assert len(decode({"example": [{"x": 1.0}], "examples": [{"x": 1.0}]}).examples) == 1
    with pytest.raises(InvalidInput, match="MAX_NESTING_DEPTH"):
        decode(
            {
                "deep": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
                "examples": [{"x": 1.0}],
            }
        )


def test_errors_do_not_echo_the_request():
    # Difference: TF Serving prefixes some errors with "JSON Value: <the request>"; this service never echoes it.
    secret = "s3cr3t-value"
    for body in ({"secret": secret, "examples": []}, [secret], {"examples": secret}):
        with pytest.raises(InvalidInput) as exc:
            decode(body)
        assert secret not in exc.value.message


def test_base64_must_be_padded():
    # Difference: TF Serving's decoder (absl) also takes unpadded base64 and skips whitespace; here, as for
    # :predict, {"b64": ...} is strict RFC 4648.
    assert (
        parsed(decode({"examples": [{"f": {"b64": "aGk="}}]}).examples[0]).features.feature["f"].bytes_list.value[0]
        == b"hi"
    )
    with pytest.raises(InvalidInput, match="Unable to base64 decode"):
        decode({"examples": [{"f": {"b64": "aGk"}}]})


def test_lone_surrogate_is_a_400():
    with pytest.raises(InvalidInput, match="lone surrogate"):
        decode({"examples": [{"f": "\ud800"}]})
    with pytest.raises(InvalidInput, match="lone surrogate"):
        decode({"examples": [{"\ud800": 1.0}]})


def test_non_utf8_label_is_replaced():
    # Difference: TF Serving copies a label's bytes into the JSON string, making invalid JSON when they are not
    # UTF-8; here they are decoded with U+FFFD replacement characters.
    body = encode_classification(np.array([[b"ok", b"\xff"]], dtype=object), None)
    assert orjson.loads(body) == {"results": [[["ok", 0.0], ["\ufffd", 0.0]]]}


def test_floats_are_written_shortest():
    # Difference: TF Serving writes a float32 that 6 digits do not round-trip with 9 ("0.333333343"); this
    # service writes the shortest text that reads back as the same float32, as :predict does.
    assert encode_regression(np.array([1 / 3], np.float32)) == b'{"results":[0.33333334]}'


def test_max_instances():
    decode({"examples": [{}] * 3}, Limits(max_instances=3))
    with pytest.raises(InvalidInput, match=r"4 instances; the limit is 3 \(MAX_INSTANCES\)"):
        decode({"examples": [{}] * 4}, Limits(max_instances=3))


def test_max_elements_counts_the_context_once_per_example():
    limits = Limits(max_elements=10)
    decode({"context": {"c": [1, 2]}, "examples": [{"x": 1.0}] * 3}, limits)  # 2 * 3 + 3 = 9 values
    with pytest.raises(InvalidInput, match=r"\(MAX_ELEMENTS\)"):
        decode({"context": {"c": [1, 2, 3]}, "examples": [{"x": 1.0}] * 3}, limits)  # 3 * 3 + 3 = 12
    with pytest.raises(InvalidInput, match=r"\(MAX_ELEMENTS\)"):
        decode({"examples": [{"x": [1.0] * 11}]}, limits)


def test_max_string_bytes_for_values_and_names():
    limits = Limits(max_string_bytes=4)
    decode({"examples": [{"name": ["abcd", {"b64": "YWJjZA=="}]}]}, limits)
    for body in (
        {"examples": [{"f": "abcde"}]},
        {"examples": [{"f": {"b64": "YWJjZGU="}}]},
        {"examples": [{"names": 1.0}]},
        {"context": {"f": ["abcde"]}, "examples": [{}]},
    ):
        with pytest.raises(InvalidInput, match=r"\(MAX_STRING_BYTES\)"):
            decode(body, limits)


def test_max_nesting_depth():
    # body (1) -> examples (2) -> example (3) -> feature list (4) -> {"b64"} (5)
    body = {"examples": [{"f": [{"b64": "aGk="}]}]}
    decode(body, Limits(max_nesting_depth=5))
    with pytest.raises(InvalidInput, match=r"\(MAX_NESTING_DEPTH\)"):
        decode(body, Limits(max_nesting_depth=4))
    with pytest.raises(InvalidInput, match=r"\(MAX_NESTING_DEPTH\)"):
        decode({"examples": [{"f": [1.0]}]}, Limits(max_nesting_depth=3))


def test_merged_examples_are_bounded_like_the_body():
    # The context is copied into every example: 1,000 bytes of context times 100 examples is ~100 kB to the model.
    body = {"context": {"c": "x" * 1000}, "examples": [{}] * 100}
    assert decode(body, max_bytes=200_000).examples.shape == (100,)
    with pytest.raises(InvalidInput, match=r"the limit is 50000 \(MAX_REQUEST_BYTES\)"):
        decode(body, max_bytes=50_000)

"""Classify and regress on a model (``app.classify``): TF Serving's signature and result checks (classifier.cc,
regressor.cc) on its own half_plus_two model, on the predict-only toy model, and on fakes with odd outputs."""

import numpy as np
import pytest

from app import classify as tasks
from app.batching import BatchingSettings
from app.codecs.examples import decode_examples
from app.codecs.limits import Limits
from app.errors import InvalidInput
from app.model import Model
from app.predictor import Predictor
from app.tensors import SignatureInfo, TensorInfo


def examples(*rows, context=None):
    body = {"examples": list(rows)} | ({"context": context} if context else {})
    return decode_examples(body, Limits(), 1 << 20).examples


@pytest.fixture(scope="module")
def half_plus_two(half_plus_two_base_dir):
    predictor = Predictor(Model.load(half_plus_two_base_dir / "123"), "half_plus_two", 123)
    predictor.mark_ready()
    return predictor


def test_method_names_come_from_the_signature_defs(half_plus_two):
    assert {name: sig.method_name for name, sig in half_plus_two.signatures.items()} == {
        "classify_x_to_y": "tensorflow/serving/classify",
        "classify_x2_to_y3": "tensorflow/serving/classify",
        "regress_x_to_y": "tensorflow/serving/regress",
        "regress_x_to_y2": "tensorflow/serving/regress",
        "regress_x2_to_y3": "tensorflow/serving/regress",
        "serving_default": "tensorflow/serving/predict",
    }


@pytest.mark.parametrize("check_method_name", [False, True])
def test_classify(half_plus_two, check_method_name):
    # TF Serving: tensorflow_model_server_test.py testClassify (x = 2.0 -> score 3.0), with one more example.
    result = tasks.classify(half_plus_two, "classify_x_to_y", examples({"x": 2.0}, {"x": 10.0}), check_method_name)
    assert result.labels is None
    assert result.scores.dtype == np.float32 and result.scores.tolist() == [[3.0], [7.0]]


@pytest.mark.parametrize(("signature", "expected"), [("regress_x_to_y", [3.0, 42.0]), ("regress_x_to_y2", [4.0, 43.0])])
def test_regress(half_plus_two, signature, expected):
    # TF Serving: tensorflow_model_server_test.py testRegress (2.0 -> 3.0); http_rest_api_handler_test.cc Regress
    # (80.0 -> 42). regress_x_to_y2 computes 0.5x + 3.
    values = tasks.regress(half_plus_two, signature, examples({"x": 2.0}, {"x": 80.0}), True)
    assert values.dtype == np.float32 and values.tolist() == expected


def test_context_is_merged_into_each_example(half_plus_two):
    # util.cc InputToSerializedExampleTensor: the context's features reach every example; an example's own
    # feature of the same name wins.
    values = tasks.regress(half_plus_two, "regress_x_to_y", examples({}, {"x": 4.0}, context={"x": 2.0}), False)
    assert values.tolist() == [3.0, 4.0]


@pytest.mark.parametrize(
    ("run", "signature"), [(tasks.regress, "regress_x2_to_y3"), (tasks.classify, "classify_x2_to_y3")]
)
def test_signature_whose_input_is_not_serialized_examples(half_plus_two, run, signature):
    # The x2_to_y3 signatures take the float tensor x2. TF Serving feeds them the string tensor of examples anyway
    # and TensorFlow refuses (the message of predict_util_test.cc PredictionInvalidTensor, for a string).
    with pytest.raises(InvalidInput) as exc:
        run(half_plus_two, signature, examples({"x": 2.0}), True)
    assert exc.value.message == "Expects arg[0] to be float but string is provided"


def test_unknown_signature_is_invalid_argument(half_plus_two):
    # classifier.cc / regressor.cc Get*SignatureDef: InvalidArgument (400), not NotFound.
    for run in (tasks.classify, tasks.regress):
        with pytest.raises(InvalidInput) as exc:
            run(half_plus_two, "nope", examples({"x": 1.0}), False)
        assert exc.value.message == "No signature was found with the name: nope"


def test_predict_signature_with_the_method_name_check(half_plus_two):
    # classifier.cc / regressor.cc with --enable_signature_method_name_check. No name: serving_default.
    with pytest.raises(InvalidInput) as exc:
        tasks.classify(half_plus_two, "", examples({"x": 1.0}), True)
    assert exc.value.message == (
        "Expected classification signature method_name to be tensorflow/serving/classify. "
        "Was: tensorflow/serving/predict"
    )
    with pytest.raises(InvalidInput) as exc:
        tasks.regress(half_plus_two, "classify_x_to_y", examples({"x": 1.0}), True)
    assert exc.value.message == (
        "Expected regression signature method_name to be tensorflow/serving/regress. Was: tensorflow/serving/classify"
    )


def test_predict_signature_without_the_method_name_check(half_plus_two):
    # TF Serving's default: the signature's structure decides. serving_default has input "x", not "inputs", and
    # the error carries the SignatureDef's DebugString.
    with pytest.raises(InvalidInput) as exc:
        tasks.classify(half_plus_two, "serving_default", examples({"x": 1.0}), False)
    message = exc.value.message
    assert message.startswith('No classification inputs found in SignatureDef: inputs {\n  key: "x"\n  value {\n')
    assert 'name: "x:0"' in message and "dtype: DT_FLOAT" in message
    assert message.endswith('method_name: "tensorflow/serving/predict"\n')
    with pytest.raises(InvalidInput, match="^No regression inputs found in SignatureDef: inputs {"):
        tasks.regress(half_plus_two, "", examples({"x": 1.0}), False)


def test_classify_and_regress_signatures_swapped_without_the_check(half_plus_two):
    with pytest.raises(InvalidInput) as exc:
        tasks.classify(half_plus_two, "regress_x_to_y", examples({"x": 1.0}), False)
    assert exc.value.message.startswith(
        'Expected classification signature outputs to contain at least one of "classes" or "scores". '
        'Signature was: inputs {\n  key: "inputs"'
    )
    with pytest.raises(InvalidInput, match='^No regression outputs found in SignatureDef: inputs {\n  key: "inputs"'):
        tasks.regress(half_plus_two, "classify_x_to_y", examples({"x": 1.0}), False)


def test_examples_the_model_cannot_parse(half_plus_two):
    # A whole number is an int64 feature (TF Serving's rule), and half_plus_two parses x as float.
    with pytest.raises(InvalidInput, match="Data types don't match. Data type: int64 but expected type: float"):
        tasks.regress(half_plus_two, "regress_x_to_y", examples({"x": 1}), False)
    with pytest.raises(InvalidInput, match=r"Feature: x \(data type: float\) is required but could not be found"):
        tasks.classify(half_plus_two, "classify_x_to_y", examples({"y": 1.0}), False)


@pytest.mark.parametrize(
    ("run", "signature", "message"),
    [
        # The toy model's signatures are all predict signatures (a TF2 export): their structure decides.
        (tasks.classify, "multi", "Expected one input Tensor."),
        (tasks.regress, "multi", "Expected one input Tensor."),
        (tasks.classify, "text", "Expected one or two output Tensors, found 3"),
        (tasks.regress, "serving_default", "Expected one output Tensor."),
    ],
)
def test_predict_only_model(toy_predictor, run, signature, message):
    with pytest.raises(InvalidInput) as exc:
        run(toy_predictor, signature, examples({"x": 1.0}), False)
    assert exc.value.message == message


def test_predict_only_model_single_input(toy_predictor):
    with pytest.raises(InvalidInput, match='^No classification inputs found in SignatureDef: inputs {\n  key: "x"'):
        tasks.classify(toy_predictor, "single", examples({"x": 1.0}), False)
    with pytest.raises(InvalidInput, match="^Expected regression signature method_name to be tensorflow/serving/"):
        tasks.regress(toy_predictor, "single", examples({"x": 1.0}), True)


# -- result checks (PostProcessClassificationResult, PostProcessRegressionResult) on fakes ------------------------

STRING_IN = {"inputs": TensorInfo("inputs", "string", (None,))}


def _sig(name, outputs, inputs=None):
    return SignatureInfo(
        name,
        inputs=inputs or STRING_IN,
        outputs={key: TensorInfo(key, dtype, (None, None)) for key, (dtype, _) in outputs.items()},
    )


# signature name -> {output: (dtype, make(n) -> array)}
FAKES = {
    "both": {
        "classes": ("string", lambda n: np.array([[b"cat", b"dog"]] * n, dtype=object)),
        "scores": ("float32", lambda n: np.array([[0.25, 0.75]] * n, np.float32)),
    },
    "labels_only": {"classes": ("string", lambda n: np.array([[b"cat"]] * n, dtype=object))},
    "flat_scores": {"scores": ("float32", lambda n: np.zeros((n,), np.float32))},
    "int_classes": {"classes": ("int32", lambda n: np.zeros((n, 1), np.int32))},
    "double_scores": {"scores": ("float64", lambda n: np.zeros((n, 1), np.float64))},
    "short_scores": {"scores": ("float32", lambda n: np.zeros((n - 1, 1), np.float32))},
    "mismatched": {
        "classes": ("string", lambda n: np.array([[b"a", b"b"]] * n, dtype=object)),
        "scores": ("float32", lambda n: np.zeros((n, 3), np.float32)),
    },
    "flat_outputs": {"outputs": ("float32", lambda n: np.arange(n, dtype=np.float32))},
    "wide_outputs": {"outputs": ("float32", lambda n: np.zeros((n, 2), np.float32))},
    "double_outputs": {"outputs": ("float64", lambda n: np.zeros((n, 1), np.float64))},
    "short_outputs": {"outputs": ("float32", lambda n: np.zeros((n - 1,), np.float32))},
}


class ExamplesModel:
    """Answers each signature with the arrays of ``FAKES``, one row per serialized example."""

    signatures = {name: _sig(name, outputs) for name, outputs in FAKES.items()} | {
        f"{dtype}_input": _sig(
            f"{dtype}_input", FAKES["flat_outputs"], {"inputs": TensorInfo("inputs", dtype, (None,))}
        )
        for dtype in ("float32", "float64", "int32")
    }
    signature_defs: dict = {}

    def run(self, signature_name, inputs):
        n = len(inputs["inputs"])
        return {key: make(n) for key, (_, make) in FAKES[signature_name].items()}


@pytest.fixture
def fake():
    predictor = Predictor(ExamplesModel(), "fake", 1)
    predictor.mark_ready()
    return predictor


def test_classes_and_scores(fake):
    result = tasks.classify(fake, "both", examples({}, {}), False)
    assert result.labels.tolist() == [[b"cat", b"dog"]] * 2 and result.scores.tolist() == [[0.25, 0.75]] * 2
    result = tasks.classify(fake, "labels_only", examples({}), False)
    assert result.labels.tolist() == [[b"cat"]] and result.scores is None


def test_regression_of_shape_batch(fake):
    assert tasks.regress(fake, "flat_outputs", examples({}, {}, {}), False).tolist() == [0.0, 1.0, 2.0]


@pytest.mark.parametrize(
    ("run", "signature", "message"),
    [
        (tasks.classify, "flat_scores", "Expected Tensor shape: [batch_size num_classes] but got [2]"),
        (tasks.classify, "int_classes", "Expected classes Tensor of DT_STRING. Got: DT_INT32"),
        (tasks.classify, "double_scores", "Expected scores Tensor of DT_FLOAT. Got: DT_DOUBLE"),
        (tasks.classify, "short_scores", "Expected scores output batch size of 2. Got: 1"),
        (tasks.classify, "mismatched", "Tensors class and score should match in dim_size(1). Got 2 vs. 3"),
        (
            tasks.regress,
            "wide_outputs",
            "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got [2,2]",
        ),
        (tasks.regress, "double_outputs", "Expected output Tensor of DT_FLOAT.  Got: DT_DOUBLE"),
        (tasks.regress, "short_outputs", "Input batch size did not match output batch size: 2 vs. 1"),
        (tasks.regress, "float32_input", "Expects arg[0] to be float but string is provided"),
        (tasks.regress, "float64_input", "Expects arg[0] to be double but string is provided"),
        (tasks.regress, "int32_input", "Expects arg[0] to be int32 but string is provided"),
    ],
)
def test_result_checks(fake, run, signature, message):
    with pytest.raises(InvalidInput) as exc:
        run(fake, signature, examples({}, {}), False)
    assert exc.value.message == message


def test_through_the_batcher():
    # As in production, where concurrent requests of a batchable signature are merged into one model call.
    predictor = Predictor(ExamplesModel(), "fake", 1)
    assert "both" in predictor.enable_batching(BatchingSettings(max_batch_size=8))
    predictor.mark_ready()
    result = tasks.classify(predictor, "both", examples({}, {}, {}), False)
    assert result.labels.shape == (3, 2) and result.scores.tolist() == [[0.25, 0.75]] * 3
    assert tasks.regress(predictor, "flat_outputs", examples({}, {}), False).tolist() == [0.0, 1.0]

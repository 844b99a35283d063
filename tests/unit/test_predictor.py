"""The predictor with fake models: validation, readiness, output selection, warm-up policy."""

import numpy as np
import pytest

from app.errors import InvalidInput, ModelLoadError, ModelNotReady
from app.predictor import Predictor, synthetic_inputs
from tests.unit.signatures import ALL, IMAGE


class SumModel:
    """Sums each image; the digit is the sum rounded. Records the calls it gets."""

    signatures = ALL
    signature_defs: dict = {}

    def __init__(self):
        self.calls = []

    def run(self, signature_name, inputs):
        self.calls.append((signature_name, {k: v.shape for k, v in inputs.items()}))
        total = inputs["image"].reshape(len(inputs["image"]), -1).sum(axis=1)
        return {
            "probabilities": np.zeros((len(total), 3), np.float32),
            "digit": np.round(total).astype(np.int64),
        }


class RejectingModel(SumModel):
    def run(self, signature_name, inputs):
        raise InvalidInput("the model rejected the input: bad")


def ready(model):
    p = Predictor(model, "mnist", 3)
    p.mark_ready()
    return p


def test_predict_validates_and_runs():
    model = SumModel()
    out = ready(model).predict({"image": np.ones((2, 2, 2), np.float32)})
    assert out["digit"].tolist() == [4, 4]
    assert model.calls == [("serving_default", {"image": (2, 2, 2)})]


def test_output_selection():
    out = ready(SumModel()).predict({"image": np.ones((1, 2, 2), np.float32)}, output_names=["digit"])
    assert list(out) == ["digit"]
    with pytest.raises(InvalidInput, match="unknown output 'logits'"):
        ready(SumModel()).predict({"image": np.ones((1, 2, 2), np.float32)}, output_names=["logits"])


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({}, "missing input 'image'"),
        ({"image": np.ones((1, 2, 2), np.float32), "extra": np.ones(1)}, "unknown input 'extra'"),
        (
            {"image": np.ones((1, 2, 3), np.float32)},
            r"shape \[1,2,3\] but signature 'serving_default' expects \[-1,2,2\]",
        ),
        ({"image": np.ones((2, 2), np.float32)}, "has shape"),
        ({"image": np.ones((1, 2, 2), np.float64)}, "dtype float64"),
    ],
)
def test_inputs_that_do_not_fit_the_signature(inputs, message):
    with pytest.raises(InvalidInput, match=message):
        ready(SumModel()).predict(inputs)


def test_not_ready_and_unknown_signature():
    p = Predictor(SumModel(), "mnist", 3)
    with pytest.raises(ModelNotReady):
        p.predict({"image": np.ones((1, 2, 2), np.float32)})
    p.mark_ready()
    with pytest.raises(InvalidInput, match='"classify" not found in signature def; model .mnist. has: features, flags'):
        p.predict({"image": np.ones((1, 2, 2), np.float32)}, "classify")
    p.mark_not_ready()
    assert not p.ready


def test_synthetic_warmup_failure_is_tolerated_but_recorded_failure_is_fatal():
    p = Predictor(RejectingModel(), "mnist", 3)
    assert p.warm_up() == 0
    with pytest.raises(ModelLoadError, match="warm-up request failed"):
        p.warm_up([("serving_default", {"image": np.ones((1, 2, 2), np.float32)})])


def test_synthetic_inputs_fill_unknown_dimensions_with_one():
    arrays = synthetic_inputs(IMAGE)
    assert arrays["image"].shape == (1, 2, 2) and arrays["image"].dtype == np.float32
    assert synthetic_inputs(ALL["text"])["s"].tolist() == [b""]

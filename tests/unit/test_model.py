"""The model layer against a real SavedModel: introspection, metadata, calls, error translation, bad exports."""

from pathlib import Path

import numpy as np
import pytest

import app.startup as startup
from app.batching import is_batchable
from app.errors import InvalidInput, ModelLoadError
from app.model import Model
from app.settings import Settings


@pytest.fixture(scope="module")
def toy(toy_model_dir: Path) -> Model:
    return Model.load(toy_model_dir / "7")


def test_every_signature_is_introspected(toy):
    assert set(toy.signatures) == {"serving_default", "single", "multi", "text", "log", "checked", "scalar_out", "spin"}
    default = toy.signatures["serving_default"]
    assert [(t.name, t.dtype, t.shape) for t in default.inputs.values()] == [("x", "float32", (None, 3))]
    assert [(t.name, t.dtype, t.shape) for t in default.outputs.values()] == [
        ("total", "float32", (None,)),
        ("y", "float32", (None, 3)),
    ]
    multi = toy.signatures["multi"]
    assert {n: (t.dtype, t.shape) for n, t in multi.inputs.items()} == {
        "a": ("int64", (None, 2)),
        "b": ("float32", (None,)),
    }
    assert toy.signatures["text"].inputs["s"].v2_datatype == "BYTES"
    assert toy.signatures["scalar_out"].outputs["mean"].shape == ()
    batchable = {name for name, sig in toy.signatures.items() if is_batchable(sig)}
    assert batchable == {"serving_default", "single", "multi", "text", "log", "checked", "spin"}


def test_signature_defs_match_tf_serving_metadata(toy):
    sig = toy.signature_defs["multi"]
    assert sig["method_name"] == "tensorflow/serving/predict"
    assert sig["inputs"]["a"]["dtype"] == "DT_INT64"
    # Fields at their defaults are printed too, as TF Serving prints them.
    assert sig["inputs"]["a"]["tensor_shape"] == {
        "dim": [{"size": "-1", "name": ""}, {"size": "2", "name": ""}],
        "unknown_rank": False,
    }
    assert "__saved_model_init_op" not in toy.signature_defs


def test_run_returns_numpy_in_signature_order(toy):
    out = toy.run("serving_default", {"x": np.array([[1, 2, 3]], np.float32)})
    assert list(out) == ["total", "y"]
    assert out["total"].tolist() == [6.0] and out["y"].dtype == np.float32


def test_graph_errors_become_invalid_input_without_echoing_values(toy):
    with pytest.raises(InvalidInput) as info:
        toy.run("checked", {"x": np.array([-123.5], np.float32)})
    assert info.value.message == "the model rejected the input: assertion failed: x must be >= 0."
    assert "123" not in info.value.message


def test_not_a_saved_model(tmp_path):
    (tmp_path / "saved_model.pb").write_bytes(b"\x00garbage")
    with pytest.raises(ModelLoadError, match="is not a loadable SavedModel"):
        Model.load(tmp_path)


def test_missing_demo_model_names_the_command_that_creates_it(tmp_path, monkeypatch):
    missing = tmp_path / "models" / "mnist"
    monkeypatch.setattr(startup, "DEMO_MODEL_DIR", missing)
    with pytest.raises(ModelLoadError, match=r"create it with `python -m model_export mnist --output .*`"):
        startup.load_predictor(Settings(model_uri=str(missing)))


def test_load_predictor_runs_tf_serving_warmup_records(mnist_base_dir, caplog):
    caplog.set_level("INFO", logger="app.startup")
    predictor = startup.load_predictor(Settings(model_uri=str(mnist_base_dir), model_name="mnist"))
    assert predictor.ready and predictor.version == 1
    (line,) = [r for r in caplog.records if r.name == "app.startup"]
    assert line.json_fields["warmup_calls"] == 1 + 4  # one synthetic call + the export's four recorded requests
    assert set(line.json_fields["phases_s"]) == {"import_s", "download_s", "load_s", "warmup_s", "total_s"}

"""The REQUIRE_GPU self-check, against the real TensorFlow of this (CPU-only) machine."""

import pytest

from app.devices import check_gpu, describe_devices
from app.errors import ModelLoadError


def test_cpu_only_machine():
    import tensorflow as tf

    assert describe_devices(tf) == ["CPU"]
    assert check_gpu(tf, required=False) == ["CPU"]
    with pytest.raises(ModelLoadError, match=r"^REQUIRE_GPU=true but TensorFlow sees no GPU \(TensorFlow 2\.\d+"):
        check_gpu(tf, required=True)


class FakeConfig:
    """Only where no GPU exists here: TensorFlow's device listing, as it answers on a GPU machine."""

    class experimental:  # noqa: N801 - mirrors tf.config.experimental
        @staticmethod
        def get_device_details(device):
            return {"device_name": "NVIDIA L4", "compute_capability": (8, 9)}

    @staticmethod
    def list_physical_devices(kind):
        class Device:
            name = "/physical_device:GPU:0"

        return [Device()] if kind == "GPU" else []


class FakeTF:
    config = FakeConfig


def test_gpu_machine_is_described_by_name():
    assert check_gpu(FakeTF, required=True) == ["GPU:0 (NVIDIA L4)"]

"""Which devices TensorFlow serves on, and the ``REQUIRE_GPU`` self-check. Knows TensorFlow; no HTTP.

A GPU container that silently falls back to CPU still answers, only many times slower: with ``REQUIRE_GPU=true``
the server refuses to start instead, with one line saying what TensorFlow saw.
"""

from __future__ import annotations

import os
from typing import Any

from app.errors import ModelLoadError


def describe_devices(tf: Any) -> list[str]:
    """The devices TensorFlow can place ops on, e.g. ``["GPU:0 (NVIDIA L4)"]``; ``["CPU"]`` without an accelerator."""
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return ["CPU"]
    names = []
    for gpu in gpus:
        details = tf.config.experimental.get_device_details(gpu)
        index = gpu.name.rsplit(":", 1)[-1]
        names.append(f"GPU:{index}" + (f" ({details['device_name']})" if details.get("device_name") else ""))
    return names


def check_gpu(tf: Any, required: bool) -> list[str]:
    """``describe_devices``; ModelLoadError naming REQUIRE_GPU when a GPU is required and TensorFlow sees none."""
    devices = describe_devices(tf)
    if required and devices == ["CPU"]:
        cuda = tf.test.is_built_with_cuda()
        visible = os.environ.get("NVIDIA_VISIBLE_DEVICES", "unset")
        raise ModelLoadError(
            "REQUIRE_GPU=true but TensorFlow sees no GPU "
            f"(TensorFlow {tf.__version__} built with CUDA: {'yes' if cuda else 'no'}; "
            f"NVIDIA_VISIBLE_DEVICES={visible}): "
            + (
                "deploy with a GPU (Cloud Run: --gpu 1 --gpu-type nvidia-l4)"
                if cuda
                else "this is the CPU image; use the GPU image (docs/gpu.md)"
            )
            + ", or unset REQUIRE_GPU"
        )
    return devices

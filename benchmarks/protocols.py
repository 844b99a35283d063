"""The wire formats of the servers under test: each one's body for the benchmark image, and its predicted digit.

- ``tf-serving`` (ours and both baselines): ``{"instances": [image]}``, answer ``{"predictions": [{"digit": 7, ...}]}``;
- ``v2`` (MLServer): ``{"inputs": [{"name": "image", "shape": [1, 28, 28, 1], "datatype": "FP32", "data": [...]}]}``
  with the image flattened row-major, answer ``{"outputs": [{"name": "digit", "data": [7], ...}, ...]}``;
- ``bentoml`` (BentoML's ``np.ndarray`` parameter named ``image``): ``{"image": [image]}``, answer the
  probabilities, ``[[p0, ..., p9]]``, whose argmax is the digit.

The V2 and BentoML bodies are derived from the TF-Serving one ``benchmarks.prepare`` writes, so every server gets
the very same image.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TF_SERVING = "tf-serving"
V2 = "v2"
BENTOML = "bentoml"


def _shape(value: Any) -> list[int]:
    return [len(value), *_shape(value[0])] if isinstance(value, list) else []


def _flat(value: Any) -> list[float]:
    return [x for item in value for x in _flat(item)] if isinstance(value, list) else [value]


def body(protocol: str, image: list[Any]) -> dict[str, Any]:
    """The request body of ``protocol`` carrying one image (nested lists, e.g. 28×28×1)."""
    if protocol == TF_SERVING:
        return {"instances": [image]}
    if protocol == V2:
        return {"inputs": [{"name": "image", "shape": [1, *_shape(image)], "datatype": "FP32", "data": _flat(image)}]}
    if protocol == BENTOML:
        return {"image": [image]}
    raise ValueError(f"unknown protocol {protocol!r}")


def body_file(protocol: str, tf_serving_body: Path) -> Path:
    """The body file for ``protocol``, written next to the TF-Serving body (from its image) unless it is that one."""
    if protocol == TF_SERVING:
        return tf_serving_body
    path = tf_serving_body.with_name(f"body-{protocol}.json")
    image = json.loads(tf_serving_body.read_bytes())["instances"][0]
    text = json.dumps(body(protocol, image))
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def predicted_digit(protocol: str, payload: bytes) -> int:
    """The digit predicted for the first (only) image in a 200 answer of ``protocol``."""
    answer = json.loads(payload)
    if protocol == TF_SERVING:
        return int(answer["predictions"][0]["digit"])
    if protocol == V2:
        digit = next(output for output in answer["outputs"] if output["name"] == "digit")
        return int(digit["data"][0])
    if protocol == BENTOML:
        probabilities = answer[0]
        return max(range(len(probabilities)), key=probabilities.__getitem__)
    raise ValueError(f"unknown protocol {protocol!r}")

"""An MLServer 1.7 runtime serving the demo SavedModel's ``serving_default`` signature over the V2 protocol.

Runs inside ``.venv-mlserver`` (``mlserver start DIR``; ``benchmarks.servers.mlserver`` writes DIR's settings).
MLServer's adaptive batcher merges concurrent requests along the first axis before :meth:`predict` and splits
the answer after it, so this runtime sees one V2 request holding a batch of images.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.errors import InferenceError
from mlserver.types import InferenceRequest, InferenceResponse
from mlserver.utils import get_model_uri


class SavedModelRuntime(MLModel):
    """``tf.saved_model.load(uri).signatures["serving_default"]``, input ``image``, every output returned."""

    async def load(self) -> bool:
        uri = await get_model_uri(self._settings)
        self._signature = tf.saved_model.load(uri).signatures["serving_default"]
        self._input = next(iter(self._signature.structured_input_signature[1]))
        self._signature(**{self._input: tf.zeros([1, 28, 28, 1], tf.float32)})  # warm up: trace and allocate once
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        by_name = {request_input.name: request_input for request_input in payload.inputs}
        if self._input not in by_name:
            raise InferenceError(f"expected an input named {self._input!r}")
        batch = NumpyCodec.decode_input(by_name[self._input]).astype(np.float32, copy=False)
        outputs = self._signature(**{self._input: tf.constant(batch)})
        return InferenceResponse(
            model_name=self.name,
            outputs=[NumpyCodec.encode_output(name, tensor.numpy()) for name, tensor in sorted(outputs.items())],
        )

"""TF Serving's own test models, half_plus_two and half_plus_three, built as TF Serving builds them.

A port of the default (TF1, CPU) path of tensorflow/serving
``tensorflow_serving/servables/tensorflow/testdata/saved_model_half_plus_two.py``: a serialized ``tf.Example``
placeholder parsed with features ``x`` and ``x2`` (``FixedLenFeature([1])``, ``x2`` defaulting to 0), then
``y = a*x + b``, ``y2 = a*x + c``, ``y3 = a2*x2 + c2``, with ``a = 0.5``, ``c = 3`` and ``b = 2`` (half_plus_two)
or ``b = 3`` (half_plus_three). The signatures are TF Serving's: ``serving_default`` (predict ``x`` -> ``y``),
``regress_x_to_y``, ``regress_x_to_y2``, ``regress_x2_to_y3``, ``classify_x_to_y`` and ``classify_x2_to_y3``.

Where TF Serving's generator and the model its REST handler test loads (TensorFlow's
``cc/saved_model/testdata/half_plus_two``) differ, this follows the latter, so that our metadata answer can be compared
with TF Serving's golden file (``saved_model_half_plus_two_2_versions_metadata.json``): the serialized-example
placeholder has unknown rank, and there is a ``classify_x2_to_y3`` signature.

Used by the conformance tests (``tests/conformance``), which run TF Serving's own REST test cases against these.
"""

from __future__ import annotations

from pathlib import Path


def export(base_dir: Path, version: int = 123, b: float = 2.0, half_plus_three: bool = False) -> Path:
    """Write the model as ``base_dir/<version>/`` (TF Serving's testdata uses version 123); return that path.

    ``half_plus_three`` gives the signatures of TF Serving's ``saved_model_half_plus_three`` testdata model instead
    (read from its saved_model.pb): ``serving_default`` and a regression signature named ``tensorflow/serving/regress``,
    which api_rest.md's regress example calls. ``b`` is then 3.
    """
    import tensorflow.compat.v1 as tf

    export_dir = Path(base_dir) / str(version)
    assets = Path(base_dir) / f".assets-{version}"
    assets.mkdir(parents=True, exist_ok=True)
    (assets / "foo.txt").write_text("asset-file-contents")

    sigs = tf.saved_model.signature_constants
    builder = tf.saved_model.builder.SavedModelBuilder(str(export_dir))
    with tf.Session(graph=tf.Graph()) as sess:
        a = tf.Variable(0.5, name="a")
        b_var = tf.Variable(b, name="b")
        c = tf.Variable(3.0, name="c")
        serialized = tf.placeholder(tf.string, name="tf_example")  # unknown rank, as in the golden metadata
        features = {
            "x": tf.FixedLenFeature([1], dtype=tf.float32),
            "x2": tf.FixedLenFeature([1], dtype=tf.float32, default_value=[0.0]),
        }
        example = tf.parse_example(serialized, features)
        for feature in example.values():
            feature.set_shape([None, 1])  # what parse_example gave from a placeholder of unknown rank in TF 1.x
        x = tf.identity(example["x"], name="x")
        y = tf.identity(tf.add(tf.multiply(a, x), b_var), name="y")
        y2 = tf.identity(tf.add(tf.multiply(a, x), c), name="y2")
        x2 = tf.identity(example["x2"], name="x2")
        a2 = tf.Variable(0.5, name="a2")
        c2 = tf.Variable(3.0, name="c2")
        y3 = tf.identity(tf.add(tf.multiply(a2, x2), c2), name="y3")

        asset_path = tf.constant(str(assets / "foo.txt"))
        tf.add_to_collection(tf.GraphKeys.ASSET_FILEPATHS, asset_path)
        filename = tf.Variable("foo.txt", name="filename_tensor", trainable=False, collections=[])
        assign_filename = filename.assign("foo.txt")

        def info(tensor):
            return tf.saved_model.utils.build_tensor_info(tensor)

        def signature(inputs, outputs, method):
            return tf.saved_model.signature_def_utils.build_signature_def(
                {k: info(v) for k, v in inputs.items()}, {k: info(v) for k, v in outputs.items()}, method
            )

        def regression(inp, out):
            return signature({sigs.REGRESS_INPUTS: inp}, {sigs.REGRESS_OUTPUTS: out}, sigs.REGRESS_METHOD_NAME)

        signature_def_map = {
            "regress_x_to_y": regression(serialized, y),
            "regress_x_to_y2": regression(serialized, y2),
            "regress_x2_to_y3": regression(x2, y3),
            "classify_x_to_y": signature(
                {sigs.CLASSIFY_INPUTS: serialized}, {sigs.CLASSIFY_OUTPUT_SCORES: y}, sigs.CLASSIFY_METHOD_NAME
            ),
            "classify_x2_to_y3": signature(
                {sigs.CLASSIFY_INPUTS: x2}, {sigs.CLASSIFY_OUTPUT_SCORES: y3}, sigs.CLASSIFY_METHOD_NAME
            ),
            sigs.DEFAULT_SERVING_SIGNATURE_DEF_KEY: signature({"x": x}, {"y": y}, sigs.PREDICT_METHOD_NAME),
        }
        if half_plus_three:
            signature_def_map = {
                sigs.REGRESS_METHOD_NAME: regression(serialized, y),
                sigs.DEFAULT_SERVING_SIGNATURE_DEF_KEY: signature({"x": x}, {"y": y}, sigs.PREDICT_METHOD_NAME),
            }
        sess.run(tf.global_variables_initializer())
        builder.add_meta_graph_and_variables(
            sess,
            [tf.saved_model.tag_constants.SERVING],
            signature_def_map=signature_def_map,
            assets_collection=tf.get_collection(tf.GraphKeys.ASSET_FILEPATHS),
            main_op=tf.group(assign_filename),
        )
    builder.save()
    return export_dir

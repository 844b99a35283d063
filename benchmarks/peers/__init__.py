"""Peer servers measured beside ours, each in its own venv (``.venv-mlserver``, ``.venv-bentoml``).

``mlserver_runtime`` and ``bento_service`` run inside those venvs (they import MLServer or BentoML and TensorFlow);
the harness only starts them (``benchmarks.servers``) and never imports them. Their pinned requirements are
``requirements-mlserver.txt`` and ``requirements-bentoml.txt`` here (separate venvs: their opentelemetry pins
conflict).
"""

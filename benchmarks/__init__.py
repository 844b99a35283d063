"""Benchmark harness: ``python -m benchmarks`` measures this server against two baselines and two peer servers
(MLServer, BentoML) and writes the report.

Modules: ``prepare`` (models and request body, the only one importing TensorFlow, run as its own process),
``servers`` (how each server starts), ``protocols`` (each server's request body and answer), ``load`` (wrk +
``predict.lua``), ``loadtest`` (interleaved runs), ``coldstart``, ``targets``, ``report`` and ``chart``; ``procs``
owns every child process; ``baselines/`` holds the two comparison servers and ``peers/`` the peers' runtime and
service (run from their own venvs).
"""

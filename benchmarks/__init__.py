"""Benchmark harness: ``python -m benchmarks`` measures this server against two baselines and writes the report.

Modules: ``prepare`` (models and request body, the only one importing TensorFlow, run as its own process),
``servers`` (how each server starts), ``load`` (wrk + ``predict.lua``), ``loadtest`` (interleaved runs),
``coldstart``, ``targets``, ``report`` and ``chart``; ``procs`` owns every child process; ``baselines/`` holds
the two comparison servers.
"""

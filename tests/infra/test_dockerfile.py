"""Static checks of the Dockerfile: plain text parsing, no container engine needed.

scripts/container-smoke builds and runs the image for real; these catch, in milliseconds, the regressions
visible in the text: an unpinned base, a root user, a shell-form CMD, a build tool reaching the runtime stage, the
CPU and GPU images drifting apart, a pruning step lost (docs/container.md, "What the image leaves out").
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


@dataclass
class Stage:
    """One ``FROM ... [AS name]`` block: its base (ARGs expanded) and its instructions as (KEYWORD, args)."""

    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Split a Dockerfile into global ARG defaults and stages, joining ``\\``-continued lines."""
    logical = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical.splitlines():
        if not line.strip():
            continue
        keyword, _, args = line.strip().partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            words = args.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: global_args.get(m.group(1), m.group(0)), words[0])
            stages.append(Stage(base, words[2] if len(words) == 3 and words[1].upper() == "AS" else None))
        elif not stages and keyword == "ARG":
            name, _, default = args.partition("=")
            global_args[name] = default
        else:
            stages[-1].instructions.append((keyword, args))
    return global_args, stages


GLOBAL_ARGS, STAGES = parse(DOCKERFILE.read_text())
BY_NAME = {stage.name: stage for stage in STAGES if stage.name}
FINAL = STAGES[-1]
SOURCE_DIRS = ("app/", "model_export/")


def chain(stage: Stage) -> list[Stage]:
    """The stage and the stages it is built FROM, base first."""
    parents = [stage]
    while parents[0].base in BY_NAME:
        parents.insert(0, BY_NAME[parents[0].base])
    return parents


def effective(stage: Stage, keyword: str) -> str | None:
    """The value of ``keyword`` the image built from ``stage`` ends up with (its own, else inherited)."""
    values = [args for parent in chain(stage) for args in parent.args(keyword)]
    return values[-1] if values else None


def env(stage: Stage) -> dict[str, str]:
    return dict(
        pair.split("=", 1) for parent in chain(stage) for args in parent.args("ENV") for pair in shlex.split(args)
    )


def copied_venv_sources(stage: Stage) -> list[Stage]:
    return [BY_NAME[m.group(1)] for args in stage.args("COPY") if (m := re.match(r"--from=(\S+)\s+/opt/venv\b", args))]


def venv_stages(stage: Stage) -> list[Stage]:
    """Every stage whose /opt/venv ends up in ``stage``'s: those it copies the venv from, what they copy it from,
    and the stages each is built FROM."""
    found: list[Stage] = []
    todo = copied_venv_sources(stage)
    while todo:
        for parent in chain(todo.pop()):
            if parent not in found:
                found.append(parent)
                todo += copied_venv_sources(parent)
    return found


def run_args(stage: Stage) -> list[str]:
    """The RUN instructions of ``stage`` and of the stages it is built FROM."""
    return [args for parent in chain(stage) for args in parent.args("RUN")]


RUNTIME_STAGES = [FINAL, BY_NAME["gpu"]]
VENV_STAGES = {"runtime": BY_NAME["venv"], "gpu": BY_NAME["venv-gpu"]}


def test_base_image_is_pinned_to_a_patch_release() -> None:
    root = chain(FINAL)[0]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", root.base), root.base
    assert all(stage.base in BY_NAME or stage.base == root.base for stage in STAGES)


def test_default_target_is_the_cpu_runtime() -> None:
    assert FINAL.name == "runtime"
    assert not any("and-cuda" in args for parent in chain(FINAL) for args in parent.args("RUN"))


@pytest.mark.parametrize("stage", RUNTIME_STAGES, ids=lambda s: s.name)
def test_runtime_stage_ends_as_numeric_non_root_user(stage: Stage) -> None:
    users = stage.args("USER")  # set in the stage itself, after its FROM
    assert users, f"no USER after FROM ... AS {stage.name}"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, users[-1]


def test_cmd_is_exec_form_python_m_app() -> None:
    assert json.loads(effective(FINAL, "CMD") or "null") == ["python", "-m", "app"]


def test_exposes_8080_and_tf_servings_rest_port() -> None:
    assert effective(FINAL, "EXPOSE") == "8080 8501"


def test_healthcheck_probes_healthz_with_python_not_curl() -> None:
    check = effective(FINAL, "HEALTHCHECK")
    assert check is not None
    assert "urllib" in check and "/healthz" in check and "PORT" in check
    assert "curl" not in check and "wget" not in check


def test_python_environment() -> None:
    variables = env(FINAL)
    assert variables["PYTHONUNBUFFERED"] == "1"
    assert variables["PYTHONDONTWRITEBYTECODE"] == "1"
    assert variables["PATH"].startswith("/opt/venv/bin:")
    assert variables["MODEL_CACHE_DIR"].startswith("/tmp/")  # writable under a read-only root filesystem


@pytest.mark.parametrize("stage", RUNTIME_STAGES, ids=lambda s: s.name)
def test_requirements_are_installed_before_any_source_is_copied(stage: Stage) -> None:
    for venv_stage in venv_stages(stage):
        steps = [args for kw, args in venv_stage.instructions if kw in ("COPY", "RUN")]
        assert not any(d in args or re.search(r"\s\.\s", args) for args in steps for d in SOURCE_DIRS), (
            f"stage {venv_stage.name} copies source: every edit would reinstall the requirements"
        )
    builder = BY_NAME["builder"]
    assert builder in venv_stages(stage)
    steps = [args for kw, args in builder.instructions if kw in ("COPY", "RUN")]
    install = next(i for i, args in enumerate(steps) if "-r /tmp/requirements.txt" in args)
    assert any("requirements.txt" in args for args in steps[:install])


def test_every_pip_install_skips_the_cache_and_the_bytecode() -> None:
    # --no-compile: the venv stages compile only what the server imports (see test_pruning_...).
    installs = [args for stage in STAGES for args in stage.args("RUN") if "pip install" in args]
    assert installs and all("--no-cache-dir" in args and "--no-compile" in args for args in installs)


@pytest.mark.parametrize("stage", RUNTIME_STAGES, ids=lambda s: s.name)
def test_runtime_stage_has_no_scikit_learn_or_build_tools(stage: Stage) -> None:
    # The runtime stage's own chain installs nothing; binutils (strip) lives in `pruner`, whose only output the
    # runtime stages take is /opt/venv.
    for args in run_args(stage):
        assert not re.search(r"scikit-learn|sklearn|apt-get|binutils|gcc|build-essential|pip install", args), args
    assert "pruner" not in {parent.name for parent in chain(stage)}
    for venv_stage in venv_stages(stage):
        for args in venv_stage.args("RUN"):
            assert not re.search(r"scikit-learn|sklearn", args), args
    for args in stage.args("COPY"):
        if args.startswith("--from=exporter"):
            assert args.split()[1:] == ["/app/models", "/app/models"], args
        assert not args.startswith(("--from=builder", "--from=pruner")), f"unpruned or build-tool files: {args}"


def test_gpu_variant_is_the_gpu_target_with_gpu_tensorflow_and_growing_memory() -> None:
    # One mechanism: `--target gpu` (cloudbuild.yaml builds SERVICE-gpu with it). No build argument picks the
    # TensorFlow package, so a plain build cannot silently become a GPU one.
    gpu = BY_NAME["gpu"]
    assert env(gpu)["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
    assert any("tensorflow[and-cuda]" in args for s in venv_stages(gpu) for args in s.args("RUN"))
    assert not any("and-cuda" in args for s in venv_stages(FINAL) for args in s.args("RUN"))
    assert not GLOBAL_ARGS, f"global build arguments: {GLOBAL_ARGS}"
    assert not [args for stage in STAGES for args in stage.args("ARG") if "TF" in args.upper()]


def test_gpu_tensorflow_is_the_version_requirements_pin() -> None:
    (swap,) = [args for args in BY_NAME["builder-gpu"].args("RUN") if "and-cuda" in args]
    assert "sed -n 's/^tensorflow-cpu==//p' /tmp/requirements.txt" in swap
    assert '"tensorflow[and-cuda]==${tf_version}"' in swap


def test_cpu_and_gpu_venvs_are_pruned_by_the_same_command() -> None:
    cpu, gpu = VENV_STAGES["runtime"], VENV_STAGES["gpu"]
    assert cpu.base == gpu.base == "pruner"
    assert copied_venv_sources(cpu) == [BY_NAME["builder"]]
    assert copied_venv_sources(gpu) == [BY_NAME["builder-gpu"]]
    assert cpu.args("RUN") == gpu.args("RUN") and len(cpu.args("RUN")) == 1


PRUNE = VENV_STAGES["runtime"].args("RUN")[0]


@pytest.mark.parametrize(
    "cut",
    [
        # packages the server never imports (pip last: it removes itself)
        "pip uninstall --yes --quiet libclang keras h5py rich pygments markdown-it-py mdurl optree namex",
        # headers, XLA AOT sources and three TensorFlow shared objects nothing loads
        '"${site}/tensorflow/include"',
        '"${site}/numpy/_core/include"',
        '"${site}/tensorflow/xla_aot_runtime_src"',
        '"${site}/tensorflow/compiler/tf2xla/ops/_xla_ops.so"',
        '"${site}/tensorflow/compiler/mlir/stablehlo/stablehlo_extension.so"',
        '"${site}/tensorflow/python/framework/lib_native_proto_caster.so"',
        # tests, type stubs, static libraries
        "-type d -name tests",
        "-name '*_test.py' -o -name '*.pyi' -o -name '*.a'",
        # symbol tables, but not of auditwheel-patched or NVIDIA libraries
        "strip --strip-unneeded",
        "! -path '*.libs/*' ! -path '*/nvidia/*'",
        # bytecode only for what the server imports
        "env -u PYTHONDONTWRITEBYTECODE",
    ],
)
def test_pruning_removes_what_the_server_never_loads(cut: str) -> None:
    assert cut in PRUNE


def test_pruning_compiles_what_the_server_imports_then_removes_pip_last() -> None:
    compile_step = PRUNE.index("env -u PYTHONDONTWRITEBYTECODE")
    imported = PRUNE[compile_step : PRUNE.index("' ", compile_step)]
    for module in ("tensorflow", "flask", "gunicorn.app.base", "google.cloud.storage", "google.cloud.logging_v2"):
        assert module in imported
    assert PRUNE.rstrip().endswith("pip uninstall --yes --quiet pip setuptools wheel")
    assert compile_step < PRUNE.index("pip setuptools wheel")
    # Nothing the server loads may be named: the traced imports and mapped libraries (docs/container.md).
    for needed in ("grpc", "cryptography", "ml_dtypes", "tensorflow/lite", "_pywrap_profiler_plugin"):
        assert needed not in PRUNE.replace("libclang", "")


def test_dockerignore_keeps_local_state_out_of_the_context() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "expected an allow-list .dockerignore"
    assert {p for p in patterns if p.startswith("!")} == {
        "!requirements.txt",
        "!requirements-dev.txt",
        "!app/",
        "!model_export/",
    }

"""Static checks of the Dockerfile: plain text parsing, no container engine needed.

scripts/container-smoke builds and runs the image for real; these catch, in milliseconds, the regressions
visible in the text: an unpinned base, a root user, a shell-form CMD, a build tool reaching the runtime stage.
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


RUNTIME_STAGES = [FINAL, BY_NAME["gpu"]]


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


def test_requirements_are_installed_before_any_source_is_copied() -> None:
    for venv_stage in {s.name: s for stage in RUNTIME_STAGES for s in copied_venv_sources(stage)}.values():
        steps = [args for parent in chain(venv_stage) for kw, args in parent.instructions if kw in ("COPY", "RUN")]
        install = next(i for i, args in enumerate(steps) if "-r /tmp/requirements.txt" in args)
        assert any("requirements.txt" in args for args in steps[:install])
        assert not any(d in args or re.search(r"\s\.\s", args) for args in steps for d in SOURCE_DIRS), (
            f"stage {venv_stage.name} copies source: every edit would reinstall the requirements"
        )


def test_every_pip_install_skips_the_cache() -> None:
    installs = [args for stage in STAGES for args in stage.args("RUN") if "pip install" in args]
    assert installs and all("--no-cache-dir" in args for args in installs)


@pytest.mark.parametrize("stage", RUNTIME_STAGES, ids=lambda s: s.name)
def test_runtime_stage_has_no_scikit_learn_or_build_tools(stage: Stage) -> None:
    for parent in chain(stage) + copied_venv_sources(stage):
        for args in parent.args("RUN"):
            assert not re.search(r"scikit-learn|sklearn|apt-get|gcc|build-essential", args), args
    for args in stage.args("COPY"):
        if args.startswith("--from=exporter"):
            assert args.split()[1:] == ["/app/models", "/app/models"], args


def test_gpu_target_installs_gpu_tensorflow_and_grows_memory() -> None:
    gpu = BY_NAME["gpu"]
    assert env(gpu)["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
    assert any("tensorflow[and-cuda]" in args for s in copied_venv_sources(gpu) for args in s.args("RUN"))


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

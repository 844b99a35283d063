"""The GKE manifests: the files as written (PyYAML) and, where kustomize is installed, the rendered overlays.

Rendering uses the same kustomize as scripts/check-infra (`kubectl kustomize`, or a `kustomize` binary).
"""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.infra import K8S_DIR

OVERLAYS = sorted(p.name for p in (K8S_DIR / "overlays").iterdir() if p.is_dir())


def _load(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _kustomize(directory: Path) -> list[dict]:
    if shutil.which("kubectl"):
        command = ["kubectl", "kustomize", str(directory)]
    elif shutil.which("kustomize"):
        command = ["kustomize", "build", str(directory)]
    else:
        pytest.skip("neither kubectl nor kustomize is installed: rendered manifests not checked here")
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def _one(docs: list[dict], kind: str) -> dict:
    (doc,) = [d for d in docs if d["kind"] == kind]
    return doc


def _server(pod_spec: dict) -> dict:
    (container,) = [c for c in pod_spec["containers"] if c["name"] == "server"]
    return container


# ---- checks shared by the raw files and the rendered overlays ----------------------------------------


def assert_hardened(pod_spec: dict) -> None:
    """Non-root, read-only root filesystem with emptyDirs for scratch space, probes on the right routes."""
    container = _server(pod_spec)
    pod_security = pod_spec["securityContext"]
    assert pod_security["runAsNonRoot"] is True
    assert pod_security["runAsUser"] == 10001
    assert pod_security["seccompProfile"]["type"] == "RuntimeDefault"
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert pod_spec["automountServiceAccountToken"] is False
    assert pod_spec["terminationGracePeriodSeconds"] <= 30

    empty_dirs = {v["name"] for v in pod_spec["volumes"] if "emptyDir" in v}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert mounts["/tmp"] in empty_dirs
    assert mounts[env["MODEL_CACHE_DIR"]] in empty_dirs, "the model cache must be on a writable emptyDir"

    assert container["startupProbe"]["httpGet"]["path"] == "/readyz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300, "give the model time to load"
    assert container["ports"][0]["containerPort"] == 8080

    resources = container["resources"]
    assert resources["requests"] == resources["limits"]
    assert {"cpu", "memory"} <= set(resources["limits"])


def assert_gpu(pod_spec: dict) -> None:
    """One L4 GPU requested and limited, scheduled on L4 nodes, tolerating their taint."""
    container = _server(pod_spec)
    resources = container["resources"]
    assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"] == "1"
    assert resources["requests"] == resources["limits"]
    assert pod_spec["nodeSelector"]["cloud.google.com/gke-accelerator"] == "nvidia-l4"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod_spec["tolerations"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"


# ---- the files as written -------------------------------------------------------------------------


def test_base_deployment_is_hardened() -> None:
    deployment = _one(_load(K8S_DIR / "base" / "deployment.yaml"), "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert_hardened(deployment["spec"]["template"]["spec"])


def test_gpu_patch_requests_equal_limits() -> None:
    patch = _one(_load(K8S_DIR / "overlays" / "gpu" / "deployment-gpu.yaml"), "Deployment")
    assert_gpu(patch["spec"]["template"]["spec"])


def test_workload_identity_annotation() -> None:
    account = _one(_load(K8S_DIR / "base" / "serviceaccount.yaml"), "ServiceAccount")
    assert account["metadata"]["annotations"]["iam.gke.io/gcp-service-account"].endswith(".iam.gserviceaccount.com")
    assert account["automountServiceAccountToken"] is False


def test_base_objects() -> None:
    docs = [doc for path in sorted((K8S_DIR / "base").glob("*.yaml")) for doc in _load(path)]
    kinds = {(d["apiVersion"], d["kind"]) for d in docs}
    assert {
        ("apps/v1", "Deployment"),
        ("v1", "Service"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("policy/v1", "PodDisruptionBudget"),
        ("v1", "ServiceAccount"),
        ("v1", "Namespace"),
    } <= kinds
    service = _one(docs, "Service")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    hpa = _one(docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"


# ---- the rendered overlays ------------------------------------------------------------------------


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict]]:
    return request.param, _kustomize(K8S_DIR / "overlays" / request.param)


def test_overlays_exist() -> None:
    assert OVERLAYS == ["cpu", "gpu"]


def test_rendered_overlay(rendered: tuple[str, list[dict]]) -> None:
    overlay, docs = rendered
    namespaced = [d for d in docs if d["kind"] != "Namespace"]
    assert {d["metadata"].get("namespace") for d in namespaced} == {"model-serving"}
    pod_spec = _one(docs, "Deployment")["spec"]["template"]["spec"]
    assert_hardened(pod_spec)
    image = _server(pod_spec)["image"]
    assert "@sha256:" in image, f"{overlay}: image must be pinned by digest, got {image}"
    if overlay == "gpu":
        assert_gpu(pod_spec)
        assert image.split("@")[0].endswith("-gpu")
    else:
        assert "nvidia.com/gpu" not in _server(pod_spec)["resources"]["limits"]
        assert "nodeSelector" not in pod_spec
    # The PDB and the Service select the pods the Deployment creates.
    labels = _one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    for kind in ("PodDisruptionBudget", "Service"):
        doc = _one(docs, kind)
        selector = doc["spec"]["selector"].get("matchLabels", doc["spec"]["selector"])
        assert selector.items() <= labels.items(), f"{overlay}: {kind} selects no pod"

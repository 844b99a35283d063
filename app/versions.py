"""Several versions of one model served at once, as TF Serving does: version policy, labels, lookup and status.

``VersionPolicy`` says which numeric versions of a base directory are served (TF Serving's
``ServableVersionPolicy``; storage applies it). ``ServedModel`` holds one ready ``Predictor`` per served version and
answers the two questions the REST layer asks: which predictor serves ``/v1/models/{name}[/versions/{v}|/labels/{l}]``
(``resolve``), and what ``GET`` on that path returns (``status``). Error texts and codes are TF Serving's (see
docs/versions.md). No HTTP and no TensorFlow here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.errors import InvalidInput, ModelLoadError, NotFound

if TYPE_CHECKING:
    from app.predictor import Predictor

_INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class VersionPolicy:
    """Which numeric versions under a TF Serving base directory are served (``MODEL_VERSION_POLICY``)."""

    kind: str = "latest"
    """``latest`` (the ``count`` highest versions), ``all``, or ``specific`` (exactly ``versions``)."""
    count: int = 1
    """With ``latest``: how many of the highest versions (TF Serving's ``num_versions``, default 1)."""
    versions: tuple[int, ...] = ()
    """With ``specific``: the version numbers, each of which must exist."""

    def __str__(self) -> str:
        """The ``MODEL_VERSION_POLICY`` spelling: ``latest``, ``latest:2``, ``all`` or ``specific:1,2``."""
        if self.kind == "latest":
            return "latest" if self.count == 1 else f"latest:{self.count}"
        if self.kind == "specific":
            return "specific:" + ",".join(map(str, self.versions))
        return self.kind


class ServedModel:
    """The served versions of one model, each a ready ``Predictor``, and the labels that name some of them."""

    def __init__(self, predictors: Iterable[Predictor], labels: Mapping[str, int] | None = None) -> None:
        by_version = {p.version: p for p in predictors}
        if not by_version:
            raise ValueError("a served model needs at least one version")
        names = {p.name for p in by_version.values()}
        if len(names) != 1:
            raise ValueError(f"predictors of different models: {', '.join(sorted(names))}")
        self.name: str = names.pop()
        self.predictors: dict[int, Predictor] = dict(sorted(by_version.items()))
        self.labels: dict[str, int] = dict(labels or {})
        check_labels(self.name, self.labels, self.predictors)

    @property
    def versions(self) -> list[int]:
        """The served version numbers, lowest first."""
        return list(self.predictors)

    @property
    def default(self) -> Predictor:
        """The predictor a request without version or label gets: the highest served version (TF Serving's Latest)."""
        return self.predictors[max(self.predictors)]

    def __iter__(self) -> Iterator[Predictor]:
        """Every served version's predictor, lowest version first."""
        return iter(self.predictors.values())

    def __len__(self) -> int:
        return len(self.predictors)

    # -- readiness: over all versions ---------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """True only when every served version is ready."""
        return all(p.ready for p in self)

    def mark_ready(self) -> None:
        for predictor in self:
            predictor.mark_ready()

    def mark_not_ready(self) -> None:
        for predictor in self:
            predictor.mark_not_ready()

    # -- lookup -------------------------------------------------------------------------------------------------
    def resolve(self, name: str, version: str | None = None, label: str | None = None) -> Predictor:
        """The predictor for ``/v1/models/{name}[/versions/{version}|/labels/{label}]``.

        As TF Serving: an unknown label is ``InvalidInput`` (400) "Unrecognized servable version label: L" (checked
        first, as ServerCore::GetModelVersionForLabel does, whatever the name); an unknown name or version is
        ``NotFound`` (404) "Servable not found for request: Latest(NAME)" / "Specific(NAME, V)"."""
        number = self._requested(name, version, label)
        if name == self.name:
            if number is None:
                return self.default
            if number in self.predictors:
                return self.predictors[number]
        request = f"Latest({name})" if number is None else f"Specific({name}, {number})"
        raise NotFound(f"Servable not found for request: {request}")

    def status(self, name: str, version: str | None = None, label: str | None = None) -> dict:
        """TF Serving's GetModelStatusResponse as JSON: every served version (highest first), or just the one named by
        ``version`` or ``label``. Unknown: "Could not find any versions of model NAME" / "Could not find version V of
        model NAME" (404); an unknown label as in ``resolve`` (400)."""
        number = self._requested(name, version, label)
        if number is None:
            if name != self.name:
                raise NotFound(f"Could not find any versions of model {name}")
            numbers = sorted(self.predictors, reverse=True)  # ServableStateMonitor's VersionMap: highest first
        elif name != self.name or number not in self.predictors:
            raise NotFound(f"Could not find version {number} of model {name}")
        else:
            numbers = [number]
        return {"model_version_status": [_version_status(self.predictors[n]) for n in numbers]}

    def _requested(self, name: str, version: str | None, label: str | None) -> int | None:
        """The version a request names (None: the latest), with TF Serving's 400s for what cannot name one."""
        if version is not None and label is not None:  # http_rest_api_util's FillModelSpecWithNameVersionAndLabel
            raise InvalidInput(f"Both model version ({version}) and model version label ({label}) cannot be supplied.")
        if label is None:
            return None if version is None else parse_version(version)
        if name != self.name or label not in self.labels:
            raise InvalidInput(f"Unrecognized servable version label: {label}")
        return self.labels[label]


def parse_version(text: str) -> int:
    """A version from a request path; TF Serving's "Failed to convert version: X to numeric." (400) otherwise."""
    if not (text.isascii() and text.isdigit()) or int(text) > _INT64_MAX:
        raise InvalidInput(f"Failed to convert version: {text} to numeric.")
    return int(text)


def check_labels(name: str, labels: Mapping[str, int], served: Iterable[int]) -> None:
    """``ModelLoadError`` unless every label names a served version (TF Serving's default: labels may only point at
    available versions; ServerCore::UpdateModelVersionLabelMap)."""
    served = sorted(served)
    for label, version in labels.items():
        if version not in served:
            raise ModelLoadError(
                f"MODEL_VERSION_LABELS: label {label!r} points to version {version} of model {name}, which is not "
                f"served (served: {', '.join(map(str, served))}; MODEL_VERSION_POLICY chooses them)"
            )


def _version_status(predictor: Predictor) -> dict:
    return {
        "version": str(predictor.version),
        # A version is only put in a ServedModel once loaded; not ready means warming up or shutting down.
        "state": "AVAILABLE" if predictor.ready else "LOADING",
        "status": {"error_code": "OK", "error_message": ""},
    }

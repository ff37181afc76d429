"""A versioned, hash-checked credit-risk model on disk: the *bundle*.

A bundle is a directory of plain files, none of them a pickle:

``manifest.json``
    What the model is and how to check it: format, name, version, kind (``scorecard`` or
    ``lightgbm``), features (and which are categorical), target, the fingerprint of the
    training data, the training parameters and library versions, metrics, ``created_at``,
    and the SHA-256 and size of every other file. It ends with ``manifest_sha256``, the
    SHA-256 of the manifest without that field; :attr:`Bundle.sha256` is that digest, the
    one value that pins the whole bundle.
``model.json``
    The model as data. Scorecard: the binning tables (numeric split points or categorical
    groups, the weight of evidence of every bin including the missing one), the logistic
    regression coefficients and intercept, and the points scaling. LightGBM: the feature
    encoding of the categorical features and the training parameters.
``booster.txt``
    LightGBM only: the booster in LightGBM's own text format (``model_to_string``).
``baseline.json``
    The training sample's distribution of every feature and of the predicted probability,
    for population stability (:func:`fairdun.risk.metrics.psi_table`).

Everything is JSON written canonically (sorted keys, UTF-8, no NaN), so retraining on the
same data with the same seed (and the same ``created_at``) gives byte-identical files and the
same :attr:`Bundle.sha256`. :attr:`Bundle.version` is the first 12 hex digits of a digest
of the content alone (kind, features, target, data fingerprint, model and baseline files;
no name, no time): the same model has the same version whenever it was trained.

:meth:`Bundle.load` refuses (:class:`BundleError`) a missing or unreadable file, a manifest
of another format, a file whose SHA-256 or size differs from the manifest, a manifest whose
digest does not match, and a manifest that is not byte for byte what :meth:`Bundle.save`
would write for that content; with ``expected_sha256`` (e.g. from the database row that
recorded a score) it also refuses any other bundle. The hashes detect alteration and
corruption; they are not a signature, so a bundle from an untrusted source should be pinned
by ``expected_sha256``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import polars as pl

from fairdun.kit.clock import ensure_utc, utcnow
from fairdun.risk.dataset import RiskInputError, as_categorical, as_numeric

FORMAT = "fairdun-risk-bundle/1"
KINDS = ("scorecard", "lightgbm")
MANIFEST_NAME = "manifest.json"
MODEL_NAME = "model.json"
BASELINE_NAME = "baseline.json"
BOOSTER_NAME = "booster.txt"
ARTEFACTS: dict[str, tuple[str, ...]] = {
    "scorecard": (MODEL_NAME, BASELINE_NAME),
    "lightgbm": (MODEL_NAME, BOOSTER_NAME, BASELINE_NAME),
}
MAX_FILE_BYTES = 512 * 1024 * 1024
VERSION_LENGTH = 12
LIBRARIES = ("numpy", "polars", "scikit-learn", "optbinning", "lightgbm")

FloatArray = npt.NDArray[np.float64]


class BundleError(Exception):
    """A bundle that cannot be trusted or read: altered, of an unknown format or version,
    a file missing or malformed."""


class Scorer(Protocol):
    """The model inside a bundle, working on a frame of its features (numeric ``Float64``,
    categorical ``String``, in the bundle's feature order)."""

    def proba(self, features: pl.DataFrame) -> FloatArray: ...

    def points(self, features: pl.DataFrame) -> FloatArray | None: ...

    def adverse(self, features: pl.DataFrame) -> FloatArray: ...

    def artefacts(self) -> dict[str, bytes]:
        """The files that hold the model (``model.json`` and, for LightGBM,
        ``booster.txt``), as they are written to disk."""
        ...


def dump_json(obj: Any) -> bytes:
    """The canonical JSON form of ``obj``: sorted keys, UTF-8, one space indent, no NaN."""
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, indent=1, allow_nan=False)
    return text.encode("utf-8") + b"\n"


def normalise_json(obj: Any) -> Any:
    """``obj`` as it reads back from :func:`dump_json` (tuples become lists...)."""
    return json.loads(dump_json(obj))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def library_versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for name in LIBRARIES:
        try:
            out[name] = package_version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


class Bundle:
    """A trained model with everything needed to use, check and monitor it.

    Built by :func:`fairdun.risk.scorecard.train_scorecard` and
    :func:`fairdun.risk.challenger.train_challenger`, or read by :meth:`load`."""

    def __init__(
        self,
        *,
        name: str,
        kind: str,
        features: Sequence[str],
        categorical: Sequence[str],
        target: str,
        fingerprint: str,
        metrics: Mapping[str, Any],
        params: Mapping[str, Any],
        baseline: Mapping[str, Any],
        scorer: Scorer,
        created_at: datetime | None = None,
        training: Mapping[str, Any] | None = None,
        libraries: Mapping[str, str] | None = None,
        artefacts: Mapping[str, bytes] | None = None,
    ) -> None:
        if kind not in KINDS:
            raise BundleError(f"unknown model kind {kind!r} (known: {', '.join(KINDS)})")
        if not name or "@" in name or "/" in name:
            raise BundleError(f"a bundle name must be non-empty, without '@' or '/': {name!r}")
        self.name = name
        self.kind = kind
        self.features: tuple[str, ...] = tuple(features)
        self.categorical: tuple[str, ...] = tuple(c for c in self.features if c in categorical)
        self.target = target
        self.fingerprint = fingerprint
        self.metrics: dict[str, Any] = normalise_json(dict(metrics))
        self.params: dict[str, Any] = normalise_json(dict(params))
        self.baseline: dict[str, Any] = normalise_json(dict(baseline))
        self.training: dict[str, Any] = normalise_json(dict(training or {}))
        self.libraries: dict[str, str] = dict(libraries or library_versions())
        self.created_at = ensure_utc(created_at or utcnow())
        self._scorer = scorer
        files = dict(artefacts if artefacts is not None else scorer.artefacts())
        files[BASELINE_NAME] = dump_json(self.baseline)
        expected = ARTEFACTS[kind]
        if sorted(files) != sorted(expected):
            raise BundleError(f"a {kind} bundle has files {expected}, got {sorted(files)}")
        self._files = files
        self.model: dict[str, Any] = json.loads(files[MODEL_NAME])
        digests = {n: sha256_bytes(b) for n, b in sorted(files.items())}
        content = {
            "kind": kind,
            "features": list(self.features),
            "categorical": list(self.categorical),
            "target": target,
            "fingerprint": fingerprint,
            "files": digests,
        }
        self.version = sha256_bytes(dump_json(content))[:VERSION_LENGTH]
        body: dict[str, Any] = {
            "format": FORMAT,
            "name": name,
            "version": self.version,
            "kind": kind,
            "features": list(self.features),
            "categorical": list(self.categorical),
            "target": target,
            "fingerprint": fingerprint,
            "training": self.training,
            "params": self.params,
            "metrics": self.metrics,
            "libraries": self.libraries,
            "created_at": self.created_at.isoformat(),
            "files": {n: {"sha256": digests[n], "bytes": len(b)} for n, b in files.items()},
        }
        self.sha256 = sha256_bytes(dump_json(body))
        self._manifest = dump_json({**body, "manifest_sha256": self.sha256})

    # ----------------------------------------------------------------------- identity

    @property
    def model_id(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def manifest(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self._manifest)
        return result

    def __repr__(self) -> str:
        return f"Bundle({self.model_id}, kind={self.kind}, sha256={self.sha256[:12]}...)"

    # ----------------------------------------------------------------------- scoring

    def feature_frame(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The model's features from ``frame``, in order and in the types the model reads;
        refuses a frame without one of them, or with text where a number is needed."""
        missing = [f for f in self.features if f not in frame.columns]
        if missing:
            raise RiskInputError(
                f"the scoring data lacks model feature(s) {', '.join(repr(m) for m in missing)}"
                f" needed by {self.model_id}"
            )
        columns: list[pl.Series] = []
        for name in self.features:
            s = frame[name]
            if name in self.categorical:
                columns.append(as_categorical(s))
            elif s.dtype.is_numeric() or s.dtype in (pl.Null, pl.Boolean):
                columns.append(as_numeric(s))
            else:
                raise RiskInputError(
                    f"model feature {name!r} must be numeric for {self.model_id}, "
                    f"the scoring data has {s.dtype}"
                )
        return pl.DataFrame(columns)

    def predict_proba(self, frame: pl.DataFrame) -> FloatArray:
        """Probability of the target (bad) for each row of ``frame``."""
        features = self.feature_frame(frame)
        if features.height == 0:
            return np.zeros(0, dtype=np.float64)
        return self._scorer.proba(features)

    def points(self, frame: pl.DataFrame) -> FloatArray | None:
        """Scorecard points (higher = safer); ``None`` for a LightGBM bundle."""
        features = self.feature_frame(frame)
        if features.height == 0:
            return None if self.kind == "lightgbm" else np.zeros(0, dtype=np.float64)
        return self._scorer.points(features)

    def adverse(self, frame: pl.DataFrame) -> FloatArray:
        """``n x len(features)``: how much each feature pushes each row toward bad. A
        scorecard gives the points lost against the feature's best bin (>= 0); LightGBM
        gives the SHAP contribution to the log-odds of bad (positive = toward bad)."""
        features = self.feature_frame(frame)
        if features.height == 0:
            return np.zeros((0, len(self.features)), dtype=np.float64)
        return self._scorer.adverse(features)

    @property
    def scorer(self) -> Scorer:
        return self._scorer

    # ----------------------------------------------------------------------- disk

    def save(self, directory: str | Path) -> None:
        """Write the bundle into ``directory`` (created if needed); the manifest last, so
        a crash leaves no manifest that points at missing files."""
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        for fname, data in self._files.items():
            _write_atomic(target / fname, data)
        _write_atomic(target / MANIFEST_NAME, self._manifest)

    @classmethod
    def load(cls, directory: str | Path, *, expected_sha256: str | None = None) -> Bundle:
        """Read and check the bundle in ``directory`` (see the module docstring)."""
        where = Path(directory)
        manifest_bytes = _read(where / MANIFEST_NAME, where)
        try:
            manifest = json.loads(manifest_bytes.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise BundleError(
                f"refusing the bundle at {where}: {MANIFEST_NAME} is not valid JSON ({exc})"
            ) from None
        if not isinstance(manifest, dict):
            raise BundleError(f"refusing the bundle at {where}: {MANIFEST_NAME} is not an object")
        fmt = manifest.get("format")
        if fmt != FORMAT:
            raise BundleError(
                f"refusing the bundle at {where}: format {fmt!r} is not {FORMAT!r} "
                "(an unknown or newer bundle version)"
            )
        recorded = manifest.pop("manifest_sha256", None)
        actual = sha256_bytes(dump_json(manifest))
        if recorded != actual:
            raise BundleError(
                f"refusing the bundle at {where}: the manifest's digest is {actual}, but it "
                f"records {recorded}; the manifest was altered"
            )
        if expected_sha256 is not None and actual != expected_sha256:
            raise BundleError(
                f"refusing the bundle at {where}: its SHA-256 is {actual}, "
                f"expected {expected_sha256}"
            )
        try:
            kind = str(manifest["kind"])
            listed = manifest["files"]
            if kind not in ARTEFACTS or not isinstance(listed, dict):
                raise BundleError(f"refusing the bundle at {where}: unknown kind {kind!r}")
            if sorted(listed) != sorted(ARTEFACTS[kind]):
                raise BundleError(
                    f"refusing the bundle at {where}: a {kind} bundle has files "
                    f"{list(ARTEFACTS[kind])}, the manifest lists {sorted(listed)}"
                )
            files: dict[str, bytes] = {}
            for fname in ARTEFACTS[kind]:
                data = _read(where / fname, where)
                digest = sha256_bytes(data)
                if digest != listed[fname]["sha256"] or len(data) != listed[fname]["bytes"]:
                    raise BundleError(
                        f"refusing the bundle at {where}: {fname} has SHA-256 {digest}, but "
                        f"the manifest records {listed[fname]['sha256']}; the file was "
                        "altered or corrupted"
                    )
                files[fname] = data
            scorer = _scorer_from_files(kind, files)
            bundle = cls(
                name=str(manifest["name"]),
                kind=kind,
                features=list(manifest["features"]),
                categorical=list(manifest["categorical"]),
                target=str(manifest["target"]),
                fingerprint=str(manifest["fingerprint"]),
                metrics=manifest["metrics"],
                params=manifest["params"],
                baseline=json.loads(files[BASELINE_NAME]),
                scorer=scorer,
                created_at=datetime.fromisoformat(str(manifest["created_at"])),
                training=manifest["training"],
                libraries=manifest["libraries"],
                artefacts={n: b for n, b in files.items() if n != BASELINE_NAME},
            )
        except BundleError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise BundleError(f"refusing the bundle at {where}: malformed ({exc!r})") from None
        if bundle._manifest != manifest_bytes:
            raise BundleError(
                f"refusing the bundle at {where}: {MANIFEST_NAME} is not what save() writes "
                "for this content (edited by hand?)"
            )
        return bundle


def _scorer_from_files(kind: str, files: Mapping[str, bytes]) -> Scorer:
    # Imported here: the trainers import this module to build their bundles.
    if kind == "scorecard":
        from fairdun.risk.scorecard import ScorecardModel

        return ScorecardModel.from_json(json.loads(files[MODEL_NAME]))
    from fairdun.risk.challenger import BoosterModel

    return BoosterModel.from_files(
        json.loads(files[MODEL_NAME]), files[BOOSTER_NAME].decode("utf-8")
    )


def _read(path: Path, where: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise BundleError(f"refusing the bundle at {where}: {path.name} is too large")
        return path.read_bytes()
    except FileNotFoundError:
        raise BundleError(f"refusing the bundle at {where}: {path.name} is missing") from None
    except OSError as exc:
        raise BundleError(
            f"refusing the bundle at {where}: {path.name} cannot be read ({exc})"
        ) from None


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)

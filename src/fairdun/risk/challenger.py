"""The challenger: gradient-boosted trees (LightGBM) on the same features.

:func:`train_challenger` fits a binary LightGBM model with fixed, conservative parameters
(:data:`DEFAULT_PARAMS`: small learning rate, shallow trees, L2 penalty, row and feature
subsampling; chosen by cross-validation on the training part of the Taiwan data, never on a
test split). The number of trees is chosen on the training data alone, by early stopping
(100 rounds of patience, AUC): with 5-fold stratified cross-validation under 50,000 rows,
on a stratified 20% validation split above; the model is then refitted on all rows with
that many trees. LightGBM runs on one thread by default (``threads``), with
``deterministic`` set: the same data and seed grow the same trees.

Categorical features are encoded deterministically: the levels seen in training, sorted,
numbered from 0 and passed to LightGBM as categorical; a missing value or a level never
seen in training is missing (NaN) for the model. The encoding is stored in ``model.json``.
The booster itself is stored in LightGBM's text format (``model_to_string``) and read back
with ``lgb.Booster(model_str=...)``: no pickle. Inside the booster the features are named
``f0, f1, ...`` (LightGBM restricts feature names); the bundle maps them by position.

Reason codes use LightGBM's own SHAP values (``pred_contrib=True``): each feature's
contribution to the log-odds of bad for that row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from fairdun.risk import metrics
from fairdun.risk.bundle import BOOSTER_NAME, MODEL_NAME, Bundle, BundleError, dump_json
from fairdun.risk.dataset import Dataset, RiskInputError

FloatArray = npt.NDArray[np.float64]

MODEL_FORMAT = "fairdun-lightgbm/1"
DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.03,
    "num_leaves": 15,
    "min_data_in_leaf": 50,
    "feature_fraction": 0.7,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 5.0,
    "max_bin": 255,
}
# Fixed so that a retraining reproduces the same booster bit for bit.
FIXED_PARAMS: dict[str, Any] = {
    "verbose": -1,
    "deterministic": True,
    "force_col_wise": True,
}
MAX_ROUNDS = 5000
PATIENCE = 100
CV_BELOW_ROWS = 50_000
CV_FOLDS = 5
VALIDATION_SHARE = 0.2
MIN_CLASS_ROWS = 2 * CV_FOLDS


def feature_matrix(
    features: pl.DataFrame, names: Sequence[str], codes: Mapping[str, Mapping[str, int]]
) -> FloatArray:
    """The ``n x F`` float matrix LightGBM reads: categorical levels as their codes,
    missing values and levels not in ``codes`` as NaN."""
    out = np.empty((features.height, len(names)), dtype=np.float64)
    for j, name in enumerate(names):
        col = features[name]
        if name in codes:
            col = col.cast(pl.String).replace_strict(
                dict(codes[name]), default=None, return_dtype=pl.Float64
            )
        out[:, j] = col.cast(pl.Float64).to_numpy()
    return out


def _codes(encodings: Mapping[str, Sequence[str]]) -> dict[str, dict[str, int]]:
    return {k: {lv: i for i, lv in enumerate(v)} for k, v in encodings.items()}


class BoosterModel:
    """A LightGBM booster with its categorical encodings; scores a frame of its features."""

    def __init__(
        self,
        booster_text: str,
        *,
        features: Sequence[str],
        categorical: Sequence[str],
        encodings: Mapping[str, Sequence[str]],
        info: Mapping[str, Any] | None = None,
    ) -> None:
        import lightgbm as lgb

        self.features = tuple(features)
        self.categorical = tuple(categorical)
        self.encodings = {k: [str(v) for v in levels] for k, levels in encodings.items()}
        if set(self.encodings) != set(self.categorical):
            raise ValueError("every categorical feature needs an encoding, and only those")
        self.info = dict(info or {})
        self.booster_text = booster_text
        self.booster = lgb.Booster(model_str=booster_text)
        if self.booster.num_feature() != len(self.features):
            raise ValueError(
                f"the booster has {self.booster.num_feature()} features, "
                f"the model lists {len(self.features)}"
            )
        self._codes = _codes(self.encodings)

    def matrix(self, features: pl.DataFrame) -> FloatArray:
        return feature_matrix(features, self.features, self._codes)

    def proba(self, features: pl.DataFrame) -> FloatArray:
        p: FloatArray = np.asarray(self.booster.predict(self.matrix(features)), dtype=np.float64)
        return p

    def points(self, features: pl.DataFrame) -> FloatArray | None:
        return None

    def adverse(self, features: pl.DataFrame) -> FloatArray:
        contrib = self.booster.predict(self.matrix(features), pred_contrib=True)
        out: FloatArray = np.asarray(contrib, dtype=np.float64)[:, : len(self.features)]
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT,
            "kind": "lightgbm",
            "features": list(self.features),
            "categorical": list(self.categorical),
            "encodings": self.encodings,
            "booster_feature_names": [f"f{i}" for i in range(len(self.features))],
            **self.info,
        }

    def artefacts(self) -> dict[str, bytes]:
        return {
            MODEL_NAME: dump_json(self.to_json()),
            BOOSTER_NAME: self.booster_text.encode("utf-8"),
        }

    @classmethod
    def from_files(cls, data: Mapping[str, Any], booster_text: str) -> BoosterModel:
        if data.get("format") != MODEL_FORMAT:
            raise BundleError(f"model.json is not a {MODEL_FORMAT} model")
        info = {
            k: v
            for k, v in data.items()
            if k
            not in (
                "format",
                "kind",
                "features",
                "categorical",
                "encodings",
                "booster_feature_names",
            )
        }
        from lightgbm.basic import LightGBMError

        try:
            return cls(
                booster_text,
                features=data["features"],
                categorical=data["categorical"],
                encodings=data["encodings"],
                info=info,
            )
        except LightGBMError as exc:
            raise BundleError(f"booster.txt is not a LightGBM model: {exc}") from None


def _encodings(ds: Dataset) -> dict[str, list[str]]:
    return {
        c: sorted(str(v) for v in ds.frame[c].drop_nulls().unique().to_list())
        for c in ds.categorical
    }


def _choose_rounds(
    params: Mapping[str, Any],
    x: FloatArray,
    y: npt.NDArray[np.int8],
    categorical: list[int],
    seed: int,
    validation: str,
) -> tuple[int, float, str]:
    """Trees to grow, the validation AUC there, and how it was chosen."""
    import lightgbm as lgb
    from sklearn.model_selection import StratifiedKFold, train_test_split

    p = {**params, "metric": "auc"}
    cat: Any = categorical or "auto"
    stop: list[Any] = [lgb.early_stopping(PATIENCE, verbose=False)]
    if validation == "cv" or (validation == "auto" and len(y) < CV_BELOW_ROWS):
        folds = list(StratifiedKFold(CV_FOLDS, shuffle=True, random_state=seed).split(x, y))
        result = lgb.cv(
            p,
            lgb.Dataset(x, y, categorical_feature=cat, free_raw_data=False),
            num_boost_round=MAX_ROUNDS,
            folds=folds,
            callbacks=stop,
        )
        curve: list[float] = list(result["valid auc-mean"])  # type: ignore[arg-type]
        best = int(np.argmax(curve)) + 1
        return best, float(curve[best - 1]), f"{CV_FOLDS}-fold stratified CV"
    fit_idx, val_idx = train_test_split(
        np.arange(len(y)), test_size=VALIDATION_SHARE, stratify=y, random_state=seed
    )
    train_set = lgb.Dataset(x[fit_idx], y[fit_idx], categorical_feature=cat)
    valid_set = lgb.Dataset(x[val_idx], y[val_idx], categorical_feature=cat, reference=train_set)
    booster = lgb.train(
        p, train_set, num_boost_round=MAX_ROUNDS, valid_sets=[valid_set], callbacks=stop
    )
    best = int(booster.best_iteration) or booster.current_iteration()
    auc = float(booster.best_score["valid_0"]["auc"])
    return best, auc, f"{int(VALIDATION_SHARE * 100)}% stratified validation split"


def train_challenger(
    ds: Dataset,
    *,
    seed: int = 7,
    name: str = "challenger",
    params: Mapping[str, Any] | None = None,
    threads: int = 1,
    validation: str = "auto",
    holdout: Dataset | None = None,
    created_at: datetime | None = None,
) -> Bundle:
    """A LightGBM bundle trained on ``ds`` (see the module docstring).

    ``params`` override :data:`DEFAULT_PARAMS`. ``threads`` is a fixed number (1 by
    default, not "all cores"): a retraining elsewhere then grows the same trees, and a
    busy machine does not stall LightGBM's spinning threads; raise it for large data.
    ``validation`` chooses how the number of trees is found: ``"cv"``, ``"split"``, or
    ``"auto"`` (cross-validation under 50,000 rows, a split above)."""
    import lightgbm as lgb

    if validation not in ("auto", "cv", "split"):
        raise ValueError(f"validation must be auto, cv or split, not {validation!r}")
    bads = int(ds.y.sum())
    fewest = min(bads, ds.n_rows - bads)
    if fewest < MIN_CLASS_ROWS:
        raise RiskInputError(
            f"{ds.source}: {fewest} {'bad' if bads == fewest else 'good'} row(s) for target "
            f"{ds.target!r}; the challenger needs at least {MIN_CLASS_ROWS} of each class"
        )

    encodings = _encodings(ds)
    booster_params: dict[str, Any] = {
        **DEFAULT_PARAMS,
        **(params or {}),
        **FIXED_PARAMS,
        "seed": seed,
        "num_threads": threads,
    }
    features = ds.frame.select(ds.features)
    x = feature_matrix(features, ds.features, _codes(encodings))
    y = ds.y
    cat_idx = [ds.features.index(c) for c in ds.categorical]
    rounds, val_auc, how = _choose_rounds(booster_params, x, y, cat_idx, seed, validation)
    booster = lgb.train(
        booster_params,
        lgb.Dataset(
            x,
            y,
            feature_name=[f"f{i}" for i in range(len(ds.features))],
            categorical_feature=cat_idx or "auto",
        ),
        num_boost_round=rounds,
    )
    gain = booster.feature_importance(importance_type="gain")
    total_gain = float(gain.sum()) or 1.0
    model = BoosterModel(
        booster.model_to_string(),
        features=ds.features,
        categorical=ds.categorical,
        encodings=encodings,
        info={
            "rounds": rounds,
            "importance": {
                f: round(float(g) / total_gain, 6) for f, g in zip(ds.features, gain, strict=True)
            },
        },
    )
    p_train = model.proba(features)
    result: dict[str, Any] = {
        "train": metrics.summary(y, p_train),
        "validation": {"auc": round(val_auc, 6), "rounds": rounds, "method": how},
    }
    if holdout is not None:
        result["holdout"] = metrics.summary(
            holdout.y, model.proba(holdout.frame.select(ds.features))
        )
    return Bundle(
        name=name,
        kind="lightgbm",
        features=ds.features,
        categorical=ds.categorical,
        target=ds.target,
        fingerprint=ds.fingerprint,
        metrics=result,
        params={**booster_params, "max_rounds": MAX_ROUNDS, "patience": PATIENCE},
        baseline=metrics.make_baseline(features, ds.features, ds.categorical, p_train),
        scorer=model,
        created_at=created_at,
        training={"rows": ds.n_rows, "bad_rate": round(ds.bad_rate, 6), "source": ds.source},
    )

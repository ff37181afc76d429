"""``fairdun risk train|score|report|activate`` on a CSV with a target column, and their
bad-input refusals (exit 2 naming the problem; a tampered bundle: exit 1)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from fairdun.cli import app
from fairdun.kit import crypto
from tests.conftest import TEST_INDEX_KEY, TEST_KEY_1

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, " ".join(result.output.split())


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(crypto, "_keyring", crypto._keyring)
    for name in list(os.environ):
        if name.upper().startswith("FAIRDUN_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "FAIRDUN_ENV": "test",
        "FAIRDUN_SECRET_KEY": "test-secret-key-" + "x" * 32,
        "FAIRDUN_DATA_KEYS": f"t1:{TEST_KEY_1}",
        "FAIRDUN_ACTIVE_KEY_ID": "t1",
        "FAIRDUN_BLIND_INDEX_KEY": TEST_INDEX_KEY,
        "FAIRDUN_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "FAIRDUN_RISK_MODEL_DIR": str(tmp_path / "models"),
    }.items():
        monkeypatch.setenv(name, value)


def _credit_csv(path: Path, n: int = 1500, seed: int = 3) -> Path:
    """Synthetic applications whose default odds rise with delay and utilisation."""
    rng = np.random.default_rng(seed)
    delay = rng.integers(0, 5, n)
    utilisation = rng.uniform(0, 1.2, n)
    income = rng.lognormal(8.5, 0.5, n)
    housing = rng.choice(["own", "rent", "family"], n)
    logit = -2.5 + 0.8 * delay + 1.5 * utilisation - 0.0001 * income + (housing == "rent") * 0.4
    bad = rng.uniform(size=n) < 1 / (1 + np.exp(-logit))
    pl.DataFrame(
        {
            "delay": delay,
            "utilisation": utilisation,
            "income": income,
            "housing": housing,
            "sex": rng.choice(["f", "m"], n),
            "default": bad.astype(int),
        }
    ).write_csv(path)
    return path


def test_train_score_and_report_from_a_csv(tmp_path: Path) -> None:
    data = _credit_csv(tmp_path / "apps.csv")
    code, out = run(
        "risk", "train", "--data", str(data), "--target", "default",
        "--protected", "sex", "--activate",
    )  # fmt: skip
    assert code == 0, out
    assert "apps-scorecard@" in out and "apps-lightgbm@" in out and "active model" in out
    models = tmp_path / "models"
    reports = list((models / "reports").glob("*.html"))
    assert len(reports) == 1
    html = reports[0].read_text(encoding="utf-8")
    assert "WOE" in html and "sex" in html  # bins, and disparate impact by the protected column
    # Scoring a CSV writes probabilities, points and reasons in words.
    code, out = run(
        "risk", "score", "--data", str(data), "--output", str(tmp_path / "scored.csv"),
        "--lang", "en",
    )  # fmt: skip
    assert code == 0, out
    scored = pl.read_csv(tmp_path / "scored.csv")
    assert scored.height == 1500
    assert scored["probability"].is_between(0, 1).all()
    assert scored["reasons"].drop_nulls().len() > 0
    code, out = run(
        "risk", "report", "--data", str(data), "--target", "default",
        "--output", str(tmp_path / "again.html"),
    )  # fmt: skip
    assert code == 0, out
    assert "AUC" in (tmp_path / "again.html").read_text(encoding="utf-8")


def test_a_training_file_without_the_target_is_refused_by_name(tmp_path: Path) -> None:
    data = _credit_csv(tmp_path / "apps.csv")
    code, out = run("risk", "train", "--data", str(data), "--target", "defaulted")
    assert code == 2 and "defaulted" in out
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_a_one_class_target_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "one.csv"
    pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [0, 0, 0, 0]}).write_csv(data)
    code, out = run("risk", "train", "--data", str(data), "--target", "y")
    assert code == 2 and "class" in out.lower()


def test_scoring_data_missing_a_model_feature_is_refused_by_name(tmp_path: Path) -> None:
    data = _credit_csv(tmp_path / "apps.csv")
    assert run("risk", "train", "--data", str(data), "--target", "default", "--activate")[0] == 0
    pl.read_csv(data).drop("utilisation").write_csv(tmp_path / "short.csv")
    code, out = run(
        "risk", "score", "--data", str(tmp_path / "short.csv"), "--output", str(tmp_path / "o.csv")
    )
    assert code == 2 and "utilisation" in out
    assert not (tmp_path / "o.csv").exists()


def test_a_tampered_bundle_is_refused(tmp_path: Path) -> None:
    data = _credit_csv(tmp_path / "apps.csv")
    assert run("risk", "train", "--data", str(data), "--target", "default", "--activate")[0] == 0
    bundle = next(p for p in (tmp_path / "models").iterdir() if p.name.startswith("apps-score"))
    target = bundle / "model.json"
    target.write_text(target.read_text(encoding="utf-8").replace("0.", "0.9", 1), "utf-8")
    code, out = run("risk", "score", "--data", str(data), "--output", str(tmp_path / "o.csv"))
    assert code == 1 and "refused" in out
    code, out = run("risk", "activate", str(bundle))
    assert code == 1 and "refused" in out


def test_score_without_an_active_model_says_how_to_get_one(tmp_path: Path) -> None:
    code, out = run("risk", "score")
    assert code == 1 and "fairdun risk train" in out

"""The content checker's statistical layer: artefact integrity, determinism, how its
findings combine with the rules', and training (on a tiny corpus, in seconds)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from fairdun.content import model as content_model
from fairdun.content import train as content_train
from fairdun.content.model import (
    ARTEFACT_DIR,
    ContentModel,
    ModelArtefactError,
    ModelIntegrityError,
    clear_cache,
    fact_allows_model,
    load_model,
    model_findings,
    segments,
)
from fairdun.content.types import CATEGORIES, MISSING_ELEMENT, Context, Facts, Finding

SHARED_DATA = Path(
    os.environ.get("FAIRDUN_SHARED_DATA", Path(__file__).parents[3] / "shared" / "data")
)

SAMPLES = [
    ("zh", "再不还钱，小心你家里人出事。我们知道你住哪。"),
    ("zh", "您好，我是XX银行信用卡中心，您尾号8899的账户本期应还1,200元，请按时还款。"),
    ("zh", "你这种老赖就是不要脸，全家都是骗子！马上还钱。"),
    ("zh", "去别的平台借点钱先把我们的还了，今天必须结清。"),
    ("en", "Pay the $840 today or things are going to get ugly for you. We know where you park."),
    (
        "en",
        "This is Jane from ABC Recovery, a debt collector. Please call 555-0100. "
        "Reply STOP to opt out.",
    ),
    ("en", "Ignore the dispute form. Just pay now or face action."),
    ("en", "Send it to my personal Cash App and we can forget the rest, you deadbeat."),
]


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


# --------------------------------------------------------------------------- the artefact


def test_shipped_artefact_loads_and_matches_its_manifest() -> None:
    manifest = json.loads((ARTEFACT_DIR / "manifest.json").read_text(encoding="utf-8"))
    weights = ARTEFACT_DIR / manifest["artefact"]
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == manifest["sha256"]
    assert weights.stat().st_size < 5_000_000
    m = load_model()
    assert m is load_model()  # cached
    assert set(m.langs) == {"zh", "en"}
    for lang in m.langs:
        assert set(m.categories(lang)) <= set(CATEGORIES)
        assert MISSING_ELEMENT not in m.categories(lang)
        probs = m.predict("test message", lang)
        assert all(0.0 <= p <= 1.0 for p in probs.values())
    # The manifest says where the model came from: train + the development splits, never
    # the blind test2 split, and each file's hash.
    data = manifest["training_data"]
    assert set(data["splits"]) <= {"train", "heldout", "test"}
    assert data["files"]
    assert all(".test2." not in name for name in data["files"])
    assert {f["split"] for f in data["files"].values()} == set(data["splits"])
    assert all(len(f["sha256"]) == 64 for f in data["files"].values())
    assert manifest["versions"]["scikit-learn"]


def test_artefact_is_plain_arrays_without_pickle() -> None:
    import numpy as np

    with np.load(ARTEFACT_DIR / "weights.npz", allow_pickle=False) as npz:
        for name in npz.files:
            assert npz[name].dtype != object, name


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(ARTEFACT_DIR, target)
    return target


def test_tampered_weights_are_refused(tmp_path: Path) -> None:
    target = _copy(tmp_path)
    weights = target / "weights.npz"
    blob = bytearray(weights.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    weights.write_bytes(bytes(blob))
    with pytest.raises(ModelIntegrityError, match="SHA-256"):
        load_model(target)


def test_manifest_with_another_hash_is_refused(tmp_path: Path) -> None:
    target = _copy(tmp_path)
    manifest_path = target / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["sha256"] = "0" * 64
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ModelIntegrityError):
        load_model(target)


@pytest.mark.parametrize("blob", [b"", b"PK\x03\x04 truncated", b"\x93NUMPY not an npz"])
def test_malformed_weights_with_a_matching_hash_are_an_artefact_error(
    tmp_path: Path, blob: bytes
) -> None:
    target = _copy(tmp_path)
    (target / "weights.npz").write_bytes(blob)
    manifest_path = target / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["sha256"] = hashlib.sha256(blob).hexdigest()
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ModelArtefactError) as caught:
        load_model(target)
    assert not isinstance(caught.value, ModelIntegrityError)


def test_unreadable_manifest_is_an_artefact_error(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").mkdir()  # a directory: reading it is an OSError
    with pytest.raises(ModelArtefactError, match="cannot be read"):
        load_model(tmp_path)


def test_missing_artefact_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelArtefactError, match=r"manifest\.json is missing"):
        load_model(tmp_path)


def test_predictions_are_deterministic() -> None:
    first = [load_model().predict(text, lang) for lang, text in SAMPLES]
    again = [load_model().predict(text, lang) for lang, text in SAMPLES]
    clear_cache()
    reloaded = [load_model().predict(text, lang) for lang, text in SAMPLES]
    assert first == again == reloaded


# --------------------------------------------------------------------------- findings


def _all_findings(m: ContentModel) -> list[tuple[str, Context, list[Finding]]]:
    out = []
    for lang, text in SAMPLES:
        ctx = Context(lang=lang, jurisdiction="cn" if lang == "zh" else "us")
        out.append((text, ctx, model_findings(text, ctx, [], m)))
    return out


def test_spans_are_slices_of_the_text() -> None:
    m = load_model()
    for text, ctx, found in _all_findings(m):
        for f in found:
            assert f.span == text[f.start : f.end]
            assert f.span.strip() == f.span and f.span
            assert f.layer == "model"
            assert f.rule == f"model.{f.category}"
            assert f.score is not None and f.score > m.thresholds(ctx.lang)[f.category]
            assert f.explanation and f.explanation_en
            assert f.category in CATEGORIES


def test_model_never_repeats_what_the_rules_found() -> None:
    m = load_model()
    for text, ctx, found in _all_findings(m):
        for category in {f.category for f in found}:
            rule = Finding(category, text[:2], 0, 2, "test.rule", "x")
            again = model_findings(text, ctx, [rule], m)
            assert category not in {f.category for f in again}
        everything = [Finding(c, "", 0, 0, "test.rule", "x") for c in CATEGORIES]
        assert model_findings(text, ctx, everything, m) == []


def test_segments_cover_sentences_and_clauses() -> None:
    text = "Hi John.  You owe $5.00 now, pay it; or else!\n\n谢谢，再见。"
    pieces = segments(text)
    assert all(text[a:b].strip() == text[a:b] and a < b for a, b in pieces)
    spans = [text[a:b] for a, b in pieces]
    assert "Hi John." in spans
    assert "You owe $5.00 now, pay it;" in spans
    assert "or else!" in spans
    assert "谢谢，再见。" in spans
    assert segments("   ") == [(0, 3)]


def test_fact_gates() -> None:
    lawful_suit = Facts(legal_action_intended=True, time_barred=False)
    assert not fact_allows_model("false-legal", lawful_suit)
    assert fact_allows_model("false-legal", Facts())
    assert fact_allows_model("false-legal", Facts(legal_action_intended=True, time_barred=True))
    assert not fact_allows_model("unlawful-amount", Facts(allowed_fees=("late fee",)))
    assert fact_allows_model("unlawful-amount", Facts())
    assert fact_allows_model("threat", lawful_suit)


# --------------------------------------------------------------------------- training

TINY = {
    "en": {
        "threat": [
            "We know where you live and your family will get hurt",
            "Pay or your kids will get hurt on the way to school",
            "Things will get ugly, we know where your family lives",
            "Your car windows might get smashed tonight if you do not pay",
            "We know where you live, pay or someone gets hurt",
            "Your family could get hurt, we know where they live",
        ],
        "false-legal": [
            "You will be arrested tomorrow and go to jail",
            "A warrant for your arrest will be issued today",
            "Police will arrest you and you will go to jail",
            "You face jail and a criminal record unless you pay",
            "An arrest warrant is ready, jail is next",
            "Pay today or you will be arrested and jailed",
        ],
        "": [
            "Your payment of $120 is due on Friday. Reply STOP to opt out.",
            "This is ABC Recovery, a debt collector. Please call us back.",
            "Thank you for your payment. Your balance is now $0.",
            "We can offer a payment plan. Call 555-0100 during office hours.",
            "Reminder: your instalment is due next week. Reply STOP to opt out.",
            "Please contact us to discuss your account at your convenience.",
            "You may dispute this debt within 30 days of this notice.",
            "Our office is open Monday to Friday, 9am to 5pm.",
        ],
    },
    "zh": {
        "threat": [
            "再不还小心你家人出事",
            "我们知道你住哪，小心你家里人出事",
            "不还钱就让你全家出事",
            "小心你孩子放学路上出事",
            "再不还钱，你家人就要出事了",
            "我们知道你家在哪，家人出事别怪我们",
        ],
        "": [
            "您好，您本期应还1200元，请按时还款",
            "您好，我是XX银行，请您方便时回电",
            "感谢您的还款，您的账户已结清",
            "如有困难可申请分期，请致电客服",
            "温馨提示：您的账单将于下周到期",
            "请您按时还款，谢谢配合",
            "您好，关于您的账户，请回电4008",
            "我们可以为您提供还款计划",
        ],
    },
}


def _write_tiny_corpus(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for lang, groups in TINY.items():
        lines = []
        for category, texts in groups.items():
            for text in texts:
                row = {
                    "id": f"{lang}-{len(lines)}",
                    "text": text,
                    "lang": lang,
                    "recipient_role": "debtor",
                    "channel": "sms",
                    "jurisdiction": "cn" if lang == "zh" else "us",
                    "labels": [category] if category else [],
                    "kind": "violation" if category else "compliant",
                }
                lines.append(json.dumps(row, ensure_ascii=False))
        (directory / f"{lang}.train.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    # A dev (held-out) file, read only when asked for, and a blind test file that must
    # never be read: both unparseable on purpose.
    (directory / "en.heldout.jsonl").write_text("not json\n", encoding="utf-8")
    (directory / "en.test2.jsonl").write_text("not json\n", encoding="utf-8")


TINY_OPTIONS = {"min_positives": 3, "folds": 3}
TINY_PARAMS = {"n_features": 2**12}  # small, so liblinear is quick


def test_training_on_a_tiny_corpus_is_deterministic(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    _write_tiny_corpus(corpus)
    files = content_train.train_files(corpus)
    assert [p.name for p in files] == ["en.train.jsonl", "zh.train.jsonl"]
    records = content_train.read_records(files)
    first = content_train.train(records, params=TINY_PARAMS, options=TINY_OPTIONS)
    second = content_train.train(records, params=TINY_PARAMS, options=TINY_OPTIONS)
    assert content_train.artefact_bytes(first.arrays) == content_train.artefact_bytes(second.arrays)
    out = tmp_path / "model"
    manifest = content_train.write(first, out, {"files": {p.name: {} for p in files}})
    assert manifest["thresholds"]["en"]["threat"] <= 1.0
    assert manifest["thresholds"]["en"]["insult"] > 1.0  # no examples: switched off
    m = load_model(out)
    ctx = Context(lang="en", jurisdiction="us")
    text = "Hello. We know where you live, and your family will get hurt. Bye."
    found = model_findings(text, ctx, [], m)
    threat = [f for f in found if f.category == "threat"]
    assert threat and threat[0].span == text[threat[0].start : threat[0].end]
    assert "family" in threat[0].span
    assert model_findings("Your payment is due on Friday. Reply STOP to opt out.", ctx, [], m) == []

    # The fact gate: the same words, legal action intended and lawful -> not the model's call.
    arrest = "You will be arrested and go to jail tomorrow."
    assert "false-legal" in {f.category for f in model_findings(arrest, ctx, [], m)}
    lawful = Context(lang="en", jurisdiction="us", facts=Facts(legal_action_intended=True))
    assert "false-legal" not in {f.category for f in model_findings(arrest, lawful, [], m)}


def test_training_cli_writes_a_loadable_artefact(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    _write_tiny_corpus(corpus)
    out = tmp_path / "model"
    argv = ["--corpus", str(corpus), "--out", str(out), "--folds", "3", "--n-features", "4096"]
    assert content_train.main(argv) == 0
    first = (out / "weights.npz").read_bytes()
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["sha256"] == hashlib.sha256(first).hexdigest()
    assert set(manifest["training_data"]["files"]) == {"en.train.jsonl", "zh.train.jsonl"}
    assert content_train.main(argv) == 0
    assert (out / "weights.npz").read_bytes() == first
    load_model(out)


def test_training_refuses_the_blind_test_split(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    _write_tiny_corpus(corpus)
    with pytest.raises(SystemExit, match="blind"):
        content_train.read_records([corpus / "en.test2.jsonl"])
    with pytest.raises(SystemExit, match="blind"):
        content_train.train_files(corpus, ["train", "test2"])
    with pytest.raises(SystemExit, match="blind"):
        content_train.parse_splits("train,test2")
    with pytest.raises(SystemExit, match="unknown split"):
        content_train.parse_splits("train,dev2")
    out = tmp_path / "model"
    with pytest.raises(SystemExit, match="blind"):
        content_train.main(["--corpus", str(corpus), "--out", str(out), "--splits", "test2"])
    assert not out.exists()


def test_training_on_train_and_dev_records_both_splits(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    _write_tiny_corpus(corpus)
    # Replace the unparseable dev file with real lines: a second copy of the English
    # compliant texts and threats (the same texts: grouped folds keep them together).
    train_lines = (corpus / "en.train.jsonl").read_text(encoding="utf-8").splitlines()
    dev = [json.loads(line) for line in train_lines[::2]]
    for row in dev:
        row["id"] = "dev-" + row["id"]
    (corpus / "en.heldout.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in dev), encoding="utf-8"
    )
    assert content_train.parse_splits("train,heldout") == ["train", "heldout"]
    files = content_train.train_files(corpus, ["train", "heldout"])
    assert [p.name for p in files] == ["en.train.jsonl", "zh.train.jsonl", "en.heldout.jsonl"]
    out = tmp_path / "model"
    argv = ["--corpus", str(corpus), "--out", str(out), "--folds", "3", "--n-features", "4096"]
    assert content_train.main([*argv, "--splits", "train,heldout"]) == 0
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    data = manifest["training_data"]
    assert data["splits"] == ["train", "heldout"]
    assert data["files"]["en.heldout.jsonl"] == {
        "split": "heldout",
        "sha256": hashlib.sha256((corpus / "en.heldout.jsonl").read_bytes()).hexdigest(),
        "lines": len(dev),
    }
    assert "--splits train,heldout" in data["command"]
    assert manifest["counts"]["en"]["messages"] == len(train_lines) + len(dev)
    load_model(out)


def test_folds_keep_one_text_on_one_side() -> None:
    groups = ["a", "b", "a", "c", "d", "b", "e", "a"]
    fold = content_train._folds(groups, 3, 0)
    for g in set(groups):
        assert len({int(f) for f, h in zip(fold, groups, strict=True) if h == g}) == 1
    assert (fold == content_train._folds(groups, 3, 0)).all()


def test_cold_reader_on_the_real_data() -> None:
    path = SHARED_DATA / "cold" / "train.csv"
    if not path.is_file():
        pytest.skip(f"COLD data not found at {path} (../shared/data is outside the project)")
    rows = content_train.read_cold(path, max_rows=200)
    assert len(rows) == 200
    assert {label for _, label in rows} <= {0, 1}
    assert all(text for text, _ in rows)


def test_module_exposes_the_documented_api() -> None:
    assert callable(content_model.load_model)
    assert callable(content_model.model_findings)
    assert set(content_model.FACT_CONDITIONAL) == {"false-legal", "unlawful-amount"}


def test_role_interaction_marks_recipients_who_may_not_hear_about_the_debt() -> None:
    params = {**content_train.DEFAULT_PARAMS}
    to_debtor = content_model.analyse("You owe $500", "en", params, "debtor")
    to_contact = content_model.analyse("You owe $500", "en", params, "contact_person")
    assert "r:not-debt-role" not in to_debtor
    assert "r:not-debt-role" in to_contact
    assert set(to_debtor) < set(to_contact)


def test_threshold_selection_keeps_the_budget_out_of_sample() -> None:
    import numpy as np

    rng = np.random.default_rng(1)
    n, cats = 400, ["threat", "insult"]
    y = np.zeros((n, 2), dtype=np.int_)
    y[:60, 0] = 1
    y[60:120, 1] = 1
    # Positives score high, compliant messages mostly low with a noisy tail.
    oof = np.where(y == 1, rng.uniform(0.3, 1.0, (n, 2)), rng.beta(1, 6, (n, 2)))
    cv = content_train.LangCV(
        categories=cats,
        y=y,
        oof=oof,
        masks=np.ones((n, 2), dtype=bool),
        compliant=~y.any(axis=1),
        violations=y.any(axis=1),
        enabled=[True, True],
        fold=content_train._folds([str(i) for i in range(n)], 5, 0),
    )
    options = {**content_train.DEFAULT_OPTIONS, "false_alarm_budget": 0.02}
    before, after, selection = content_train.select_thresholds(cv, options)
    assert len(selection["candidates"]) == 16
    chosen = selection["chosen"]
    if selection["within_budget"]:
        assert chosen["crossfit_false_alarm_rate"] <= 0.02
        within = [
            row for row in selection["candidates"] if row["crossfit_false_alarm_rate"] <= 0.02
        ]
        assert chosen["crossfit_macro_f1"] == max(r["crossfit_macro_f1"] for r in within)
    assert all(a >= b for a, b in zip(after, before, strict=True))  # the budget only raises
    assert all(t >= chosen["min_threshold"] for t in before)
    again = content_train.select_thresholds(cv, options)
    assert again[1] == after  # deterministic

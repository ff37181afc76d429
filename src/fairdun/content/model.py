"""The statistical layer of the content checker: paraphrases the rules miss.

One linear classifier per category and language (logistic regression, trained by
:mod:`fairdun.content.train` with scikit-learn) over hashed features of the text:

* Chinese: character 1- and 2-grams of the normalised text;
* English: word 1- and 2-grams and character 3- to 5-grams inside words;
* when the recipient may not hear about the debt (a role outside ``DEBT_ROLES``), a flag
  and a second copy of the word features (Chinese: the character n-grams) marked as
  such, so that debt words to a contact person or employer weigh differently from the
  same words to the debtor (what ``third-party-disclosure`` is about).

The text is normalised first (NFKC, case-folded, every run of digits becomes ``0``), and
every feature is hashed with CRC-32 into ``n_features`` buckets, counted, damped
(``1 + log(count)``) and the row scaled to unit length. Inference needs numpy only: no
scikit-learn, no network, nothing downloaded. (jieba word features were tried and did not
raise the cross-validated average precision on the Chinese training split, so the model
keeps to characters and does not depend on jieba's dictionary.)

**Artefact.** ``model/weights.npz`` holds plain numeric arrays and the configuration as
UTF-8 JSON bytes; it is read with ``allow_pickle=False`` (no pickle, no joblib, no code in
the file). ``model/manifest.json`` records its SHA-256, which is checked on every load: a
mismatch is refused with :class:`ModelIntegrityError`.

**Decisions.** The model judges the whole message against a per-category threshold chosen
by cross-validation on its training splits (train + dev; favouring precision, within a
false-alarm budget on lawful messages). It reports only the categories the rules did not
already find, never ``missing-element`` (the rules check required elements), and the span
it reports is the sentence or clause that scores highest.

**Fact-conditional categories.** ``false-legal`` and ``unlawful-amount`` depend on the
account facts, which a text classifier cannot weigh. The model may report them only when
the facts cannot make the mention lawful:

* ``false-legal`` is never reported by the model when legal action is intended and the
  debt is not time-barred (``legal_action_intended is True and time_barred is not True``);
  there, only the rules (which read the facts) decide. Unknown facts are the strict case.
* ``unlawful-amount`` is never reported by the model when the contract allows any fee
  (``allowed_fees`` not empty): the model cannot tell an allowed fee from another one.

Training mirrors the gates: a compliant example whose facts would make the mention lawful
is left out of that category's training set, so the model learns the strict case only.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import threading
import unicodedata
import zipfile
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fairdun.content.types import CATEGORIES, DEBT_ROLES, Context, Facts, Finding

FORMAT = "fairdun-content-model/1"
ARTEFACT_DIR = Path(__file__).with_name("model")
MANIFEST_NAME = "manifest.json"
WEIGHTS_NAME = "weights.npz"

# Categories that depend on the account facts (see the module docstring).
FACT_CONDITIONAL: tuple[str, ...] = ("false-legal", "unlawful-amount")

CATEGORY_NAMES: dict[str, tuple[str, str]] = {
    "threat": ("威胁人身、家人或财产", "a threat of harm to the person, family or property"),
    "false-legal": ("虚假或不实的法律后果", "a false or unintended legal consequence"),
    "impersonation": (
        "冒充公检法、政府或律师",
        "impersonating police, a court, an official or a lawyer",
    ),
    "insult": ("侮辱、谩骂或羞辱", "an insult, obscenity or humiliation"),
    "third-party-disclosure": (
        "向第三方透露或扬言透露债务",
        "disclosing the debt to a third party",
    ),
    "expose": ("扬言曝光或散布隐私", "a threat to publicise or expose private information"),
    "collective-liability": ("向无还款义务的亲属施压", "pressing relatives who are not liable"),
    "borrow-to-repay": ("诱导借新还旧或变卖资产", "pressure to borrow elsewhere or sell assets"),
    "pretext": ("以虚假事由诱导回复或隐瞒身份", "a false pretext or a hidden identity"),
    "unlawful-amount": ("合同外的费用或罚金", "a fee or penalty the contract does not allow"),
    "overshadowing": ("劝阻行使异议权利", "telling the consumer to ignore dispute rights"),
    "private-payment": (
        "要求私下付款或转入私人渠道",
        "a request to pay privately or move to a private chat",
    ),
}

_DIGITS = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")
_EN_WORD = re.compile(r"[a-z0]+(?:'[a-z]+)?|[$£€¥%]")
# Sentence ends: Chinese and Western stops, semicolons, line breaks; a full stop only
# when followed by a space or the end (so "$5.00" and "3.5%" stay whole).
_SENTENCE_END = re.compile(r"[。！？!?；;\n]+|\.(?=\s|$)")
_CLAUSE_END = re.compile(r"[，,：:、]")


class ModelArtefactError(RuntimeError):
    """The model artefact is missing, malformed or of an unknown format."""


class ModelIntegrityError(ModelArtefactError):
    """The artefact's SHA-256 does not match its manifest: it was altered or corrupted."""


# --------------------------------------------------------------------------- features


def normalise(text: str) -> str:
    """NFKC, case-folded, digit runs as ``0``, whitespace runs as one space."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _DIGITS.sub("0", text)
    return _SPACE.sub(" ", text).strip()


@lru_cache(maxsize=65_536)
def _word_grams(word: str, lo: int, hi: int) -> tuple[str, ...]:
    """Character ``lo``- to ``hi``-grams of `` word `` (padded with a space each side)."""
    padded = f" {word} "
    return tuple(
        "c" + padded[i : i + n] for n in range(lo, hi + 1) for i in range(len(padded) - n + 1)
    )


def analyse(text: str, lang: str, params: Mapping[str, Any], role: str = "debtor") -> list[str]:
    """The string features of ``text`` sent to ``role`` (before hashing)."""
    norm = normalise(text)
    feats: list[str] = []
    if lang == "zh":
        lo, hi = params["zh_char_ngram"]
        chars = norm.replace(" ", "")
        for n in range(lo, hi + 1):
            feats.extend("c" + chars[i : i + n] for i in range(len(chars) - n + 1))
        word_like = feats
    else:
        words = _EN_WORD.findall(norm)
        wlo, whi = params["en_word_ngram"]
        for n in range(wlo, whi + 1):
            feats.extend("w" + " ".join(words[i : i + n]) for i in range(len(words) - n + 1))
        word_like = list(feats)
        clo, chi = params["en_char_ngram"]
        for word in words:
            feats.extend(_word_grams(word, clo, chi))
    if params.get("role_interaction") and role not in DEBT_ROLES:
        feats = [*feats, "r:not-debt-role", *("n" + f for f in word_like)]
    return feats


def featurise(
    text: str, lang: str, params: Mapping[str, Any], role: str = "debtor"
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Hashed feature columns (ascending) and their values: the count of the features
    hashed to each column, damped as ``1 + log(count)``, the row scaled to unit length."""
    n_features = int(params["n_features"])
    counted = Counter(analyse(text, lang, params, role))
    if not counted:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    hashed = np.fromiter(
        (zlib.crc32(f.encode("utf-8")) % n_features for f in counted),
        dtype=np.int64,
        count=len(counted),
    )
    cols, where = np.unique(hashed, return_inverse=True)
    counts = np.bincount(where, weights=np.fromiter(counted.values(), dtype=np.float64))
    vals = 1.0 + np.log(counts)
    vals /= float(np.sqrt(np.dot(vals, vals)))
    return cols, vals


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class _LangModel:
    categories: tuple[str, ...]
    weights: npt.NDArray[np.float32]  # (n_features, n_categories)
    intercept: npt.NDArray[np.float64]  # (n_categories,)
    thresholds: npt.NDArray[np.float64]  # (n_categories,); above 1.0 means never


class ContentModel:
    """The loaded classifiers, one set per language. Thread-safe (read-only)."""

    def __init__(
        self,
        config: Mapping[str, Any],
        langs: Mapping[str, _LangModel],
        *,
        sha256: str,
        size_bytes: int,
        path: Path | None = None,
    ):
        self.config = dict(config)
        self.params: dict[str, Any] = dict(config["params"])
        self._langs = dict(langs)
        self.sha256 = sha256  # of the weights file, as checked against the manifest
        self.size_bytes = size_bytes
        self.path = path

    @property
    def langs(self) -> tuple[str, ...]:
        return tuple(self._langs)

    def categories(self, lang: str) -> tuple[str, ...]:
        return self._lang(lang).categories

    def thresholds(self, lang: str) -> dict[str, float]:
        m = self._lang(lang)
        return {c: float(t) for c, t in zip(m.categories, m.thresholds, strict=True)}

    def _lang(self, lang: str) -> _LangModel:
        try:
            return self._langs[lang]
        except KeyError:
            raise ValueError(f"the model has no {lang!r} classifier") from None

    def _scores(self, texts: Sequence[str], lang: str, role: str) -> npt.NDArray[np.float64]:
        m = self._lang(lang)
        out = np.empty((len(texts), len(m.categories)), dtype=np.float64)
        for row, text in enumerate(texts):
            cols, vals = featurise(text, lang, self.params, role)
            z = m.intercept + vals @ m.weights[cols].astype(np.float64)
            out[row] = 1.0 / (1.0 + np.exp(-z))
        return out

    def predict(self, text: str, lang: str, recipient_role: str = "debtor") -> dict[str, float]:
        """The probability of each of the model's categories for the whole message (a
        category switched off for lack of training examples scores near 0)."""
        probs = self._scores([text], lang, recipient_role)[0]
        return {c: float(p) for c, p in zip(self._lang(lang).categories, probs, strict=True)}

    def predict_many(
        self, texts: Sequence[str], lang: str, recipient_role: str = "debtor"
    ) -> npt.NDArray[np.float64]:
        """Probabilities, one row per text, columns in :meth:`categories` order."""
        return self._scores(texts, lang, recipient_role)


# --------------------------------------------------------------------------- loading

_CACHE: dict[str, ContentModel] = {}
_LOCK = threading.Lock()


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_model(path: str | Path | None = None) -> ContentModel:
    """The model in directory ``path`` (default: the shipped one), loaded once and cached.

    Raises :class:`ModelIntegrityError` when the weights do not match the manifest's
    SHA-256, :class:`ModelArtefactError` when the artefact is missing or malformed."""
    directory = Path(path) if path is not None else ARTEFACT_DIR
    key = str(directory.resolve())
    with _LOCK:
        model = _CACHE.get(key)
        if model is None:
            model = _read(directory)
            _CACHE[key] = model
        return model


def clear_cache() -> None:
    with _LOCK:
        _CACHE.clear()


def _read(directory: Path) -> ContentModel:
    manifest_path = directory / MANIFEST_NAME
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelArtefactError(
            f"no content model at {directory}: {MANIFEST_NAME} is missing "
            "(train one with `python -m fairdun.content.train`)"
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelArtefactError(f"{manifest_path} is not valid JSON: {exc}") from None
    except OSError as exc:
        raise ModelArtefactError(f"{manifest_path} cannot be read: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelArtefactError(f"{manifest_path} is not a {FORMAT} manifest")
    weights_path = directory / str(manifest.get("artefact", WEIGHTS_NAME))
    try:
        blob = weights_path.read_bytes()
    except FileNotFoundError:
        raise ModelArtefactError(f"the model weights {weights_path} are missing") from None
    except OSError as exc:
        raise ModelArtefactError(
            f"the model weights {weights_path} cannot be read: {exc}"
        ) from None
    digest = hashlib.sha256(blob).hexdigest()
    if digest != manifest.get("sha256"):
        raise ModelIntegrityError(
            f"refusing the content model at {directory}: {weights_path.name} has SHA-256 "
            f"{digest}, but its manifest records {manifest.get('sha256')}; the artefact "
            "was altered or corrupted (retrain it or restore the shipped file)"
        )
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        config = json.loads(bytes(arrays["config"]).decode("utf-8"))
        if config.get("format") != FORMAT:
            raise ModelArtefactError(f"{weights_path} is not a {FORMAT} artefact")
        n_features = int(config["params"]["n_features"])
        langs: dict[str, _LangModel] = {}
        for lang, cats in config["categories"].items():
            shape = (len(cats), n_features)
            indptr, indices = arrays[f"{lang}.indptr"], arrays[f"{lang}.indices"]
            data = arrays[f"{lang}.data"].astype(np.float32)
            dense = np.zeros(shape, dtype=np.float32)
            for row in range(shape[0]):
                lo, hi = int(indptr[row]), int(indptr[row + 1])
                dense[row, indices[lo:hi]] = data[lo:hi]
            langs[lang] = _LangModel(
                categories=tuple(cats),
                weights=np.ascontiguousarray(dense.T),
                intercept=arrays[f"{lang}.intercept"].astype(np.float64),
                thresholds=arrays[f"{lang}.thresholds"].astype(np.float64),
            )
    except ModelArtefactError:
        raise
    except (
        KeyError,
        ValueError,
        TypeError,
        IndexError,
        AttributeError,
        EOFError,
        OSError,
        zipfile.BadZipFile,
    ) as exc:
        raise ModelArtefactError(f"{weights_path} is malformed: {exc}") from None
    return ContentModel(config, langs, sha256=digest, size_bytes=len(blob), path=directory)


# --------------------------------------------------------------------------- findings


def fact_allows_model(category: str, facts: Facts) -> bool:
    """Whether the facts leave ``category`` to the model (see the module docstring)."""
    if category == "false-legal":
        return not (facts.legal_action_intended is True and facts.time_barred is not True)
    if category == "unlawful-amount":
        return not facts.allowed_fees
    return True


def segments(text: str) -> list[tuple[int, int]]:
    """Offsets of the sentences of ``text`` and, for sentences of several clauses, of each
    clause; whitespace trimmed, empty pieces dropped."""
    out: list[tuple[int, int]] = []

    def trimmed(lo: int, hi: int) -> tuple[int, int] | None:
        while lo < hi and text[lo].isspace():
            lo += 1
        while hi > lo and text[hi - 1].isspace():
            hi -= 1
        return (lo, hi) if hi > lo else None

    pos = 0
    bounds = [(m.start(), m.end()) for m in _SENTENCE_END.finditer(text)]
    for stop, after in [*bounds, (len(text), len(text))]:
        sentence = trimmed(pos, after)
        pos = after
        if sentence is None or not any(ch.isalnum() for ch in text[sentence[0] : stop]):
            continue
        out.append(sentence)
        lo = sentence[0]
        clauses: list[tuple[int, int]] = []
        for m in _CLAUSE_END.finditer(text, sentence[0], sentence[1]):
            piece = trimmed(lo, m.end())
            lo = m.end()
            if piece is not None:
                clauses.append(piece)
        if clauses:
            last = trimmed(lo, sentence[1])
            if last is not None:
                clauses.append(last)
            out.extend(c for c in clauses if any(ch.isalnum() for ch in text[c[0] : c[1]]))
    return out or [(0, len(text))]


def _explanations(category: str, p: float) -> tuple[str, str]:
    zh_name, en_name = CATEGORY_NAMES.get(category, (category, category))
    zh = (
        f"统计模型判断这段话很可能属于“{zh_name}”（概率 {p:.2f}）；没有规则命中，请人工复核或改写。"
    )
    en = (
        f"A statistical model judged this passage likely to be {en_name} (probability "
        f"{p:.2f}); no rule matched it, so review or rewrite it."
    )
    return zh, en


def model_findings(
    text: str, ctx: Context, rule_findings: Sequence[Finding], model: ContentModel
) -> list[Finding]:
    """The model's findings for categories the rules did not find, above threshold."""
    if ctx.lang not in model.langs:
        return []
    cats = model.categories(ctx.lang)
    thresholds = model.thresholds(ctx.lang)
    found = {f.category for f in rule_findings}
    probs = model.predict_many([text], ctx.lang, ctx.recipient_role)[0]
    firing = [
        (j, c)
        for j, c in enumerate(cats)
        if c in CATEGORIES
        and c not in found
        and probs[j] > thresholds[c]
        and fact_allows_model(c, ctx.facts)
    ]
    if not firing:
        return []
    pieces = segments(text)
    piece_probs = model.predict_many(
        [text[lo:hi] for lo, hi in pieces], ctx.lang, ctx.recipient_role
    )
    out: list[Finding] = []
    for j, category in firing:
        best = int(np.argmax(piece_probs[:, j]))  # first of the highest
        start, end = pieces[best]
        p = float(probs[j])
        zh, en = _explanations(category, p)
        out.append(
            Finding(
                category=category,
                span=text[start:end],
                start=start,
                end=end,
                rule=f"model.{category}",
                explanation=zh if ctx.lang == "zh" else en,
                explanation_en=en,
                layer="model",
                score=round(p, 4),
            )
        )
    return out

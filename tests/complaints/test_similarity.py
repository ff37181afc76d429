"""Near-duplicate narratives: the similarity measure and the threshold (pure)."""

from __future__ import annotations

import itertools

from fairdun.complaints import similarity
from tests.complaints.texts import EDITED, GENUINE, template


def estimate(a: str, b: str) -> float:
    return similarity.similarity(
        similarity.fingerprint(a).signature, similarity.fingerprint(b).signature
    )


def test_one_template_with_other_details_scores_high() -> None:
    texts = [template(0), template(1), template(2), EDITED]
    for a, b in itertools.combinations(texts, 2):
        assert similarity.jaccard(a, b) >= 0.7
        assert estimate(a, b) >= similarity.THRESHOLD


def test_different_people_in_their_own_words_score_low() -> None:
    for a, b in itertools.combinations(GENUINE, 2):
        assert similarity.jaccard(a, b) < 0.25
        assert estimate(a, b) < similarity.THRESHOLD
    for g in GENUINE:
        assert estimate(template(0), g) < similarity.THRESHOLD


def test_the_estimate_follows_the_exact_similarity() -> None:
    pairs = [(template(0), template(1)), (template(0), EDITED), (GENUINE[0], GENUINE[1])]
    for a, b in pairs:
        assert abs(estimate(a, b) - similarity.jaccard(a, b)) < 0.15


def test_personal_details_digits_and_punctuation_do_not_count() -> None:
    a = "催收员每天给我打电话，号码13812345678，欠款5000元，2026年3月5日开始。我要投诉他们！"
    b = "催收员每天给我打电话 号码 13998765432 欠款 800 元 2025 年 12 月 1 日开始 我要投诉他们"
    assert similarity.normalise(a) == similarity.normalise(b)


def test_a_very_short_narrative_is_not_grouped() -> None:
    assert not similarity.fingerprint("天天打电话骚扰").usable
    assert similarity.fingerprint(template(0)).usable


def test_near_duplicates_share_a_band_and_the_signature_is_stable() -> None:
    a, b = similarity.fingerprint(template(0)), similarity.fingerprint(template(1))
    assert set(a.bands) & set(b.bands)
    assert similarity.fingerprint(template(0)) == a
    assert len(a.signature) == similarity.PERMUTATIONS * 4

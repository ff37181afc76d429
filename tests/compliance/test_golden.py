"""Every golden case of every shipped pack, and a check that the cases cover every rule."""

from __future__ import annotations

import pytest

from fairdun.compliance import golden, packs
from fairdun.compliance.engine import MISSING_FACT

PACK_IDS = packs.builtin_pack_ids()
CASES = [
    pytest.param(pack_id, case, id=f"{pack_id}: {case.name}")
    for pack_id in PACK_IDS
    for case in golden.load_cases(golden.golden_path(pack_id))[1]
]


def test_both_packs_ship_with_golden_cases() -> None:
    assert PACK_IDS == ["cn", "us-regf"]
    for pack_id in PACK_IDS:
        file_pack, cases = golden.load_cases(golden.golden_path(pack_id))
        assert file_pack == pack_id
        assert len(cases) >= 20


@pytest.mark.parametrize(("pack_id", "case"), CASES)
def test_golden_case(pack_id: str, case: golden.GoldenCase) -> None:
    assert golden.run_case(case, packs.load(pack_id)) == []


@pytest.mark.parametrize("pack_id", PACK_IDS)
def test_every_rule_has_a_case_that_denies_and_the_engine_fails_closed(pack_id: str) -> None:
    pack = packs.load(pack_id)
    _, cases = golden.load_cases(golden.golden_path(pack_id))
    denied_by = set().union(*(case.rules for case in cases))
    assert {rule.id for rule in pack.rules} | {MISSING_FACT} <= denied_by
    assert any(case.allowed for case in cases)


def test_a_wrong_expectation_is_reported() -> None:
    pack = packs.load("us-regf")
    case = golden.load_cases(golden.golden_path("us-regf"))[1][1]
    assert case.rules == {"us-regf.time-window"}
    wrong = golden.GoldenCase(
        name=case.name,
        history=case.history,
        proposed=case.proposed,
        facts=case.facts,
        now=case.now,
        allowed=True,
        rules=frozenset(),
        earliest_lawful_at=None,
        check_earliest=True,
        line=case.line,
    )
    differences = golden.run_case(wrong, pack)
    assert len(differences) == 3
    assert "expected allowed=True" in differences[0]

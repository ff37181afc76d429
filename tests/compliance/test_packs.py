"""Loading packs and overlays: strict schema, file and line in every error, stricter-only."""

from __future__ import annotations

from pathlib import Path

import pytest

from fairdun.compliance import packs
from fairdun.compliance.rules import RollingCallCapParams, Stricter, directions

US = packs.PACKS_DIR / "us-regf.yaml"

MINIMAL = """\
id: acme
version: "1"
jurisdiction: test
title: {en: Test pack, zh-Hans: 测试}
rules:
  - id: acme.time-window
    kind: time-window
    title: {en: Window, zh-Hans: 时段}
    channels: [call]
    params:
      start: "08:00"
      end: "21:00"
      agreement_exception: false
    citations:
      - {source: test, section: "1", grade: V}
"""


def _problems(text: str, tmp_path: Path, name: str = "pack.yaml") -> list[packs.Problem]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(packs.PackError) as caught:
        packs.load_file(path)
    return list(caught.value.problems)


def test_the_minimal_pack_loads(tmp_path: Path) -> None:
    path = tmp_path / "pack.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    pack = packs.load(path)
    assert pack.id == "acme"
    assert pack.effective_version == "1"
    assert [r.id for r in pack.rules] == ["acme.time-window"]


def test_shipped_packs_have_the_rule_ids_of_the_issue() -> None:
    assert [r.id for r in packs.load("us-regf").rules] == [
        "us-regf.time-window",
        "us-regf.call-7in7",
        "us-regf.call-after-conversation",
        "us-regf.third-party",
        "us-regf.location-repeat",
        "us-regf.cease",
        "us-regf.attorney",
        "us-regf.medium-opt-out",
        "us-regf.dispute-pause",
    ]
    assert [r.id for r in packs.load("cn").rules] == [
        "cn.time-window",
        "cn.voice-conversations-daily",
        "cn.dial-attempts-daily",
        "cn.debtor-only",
        "cn.contact-person-not-lost",
        "cn.contact-person-refused",
        "cn.visit-staff",
    ]
    for pack_id in ("us-regf", "cn"):
        for rule in packs.load(pack_id).rules:
            assert rule.citations and all(c.grade in "VSM" for c in rule.citations)
            assert rule.title_en and rule.title_zh


def test_an_unknown_key_is_named_with_its_line(tmp_path: Path) -> None:
    text = MINIMAL.replace("    channels: [call]\n", "    channels: [call]\n    severity: high\n")
    [problem] = _problems(text, tmp_path)
    assert (problem.line, problem.where, problem.message) == (
        10,
        "rules[0].severity",
        "unknown key",
    )
    assert str(problem).startswith(f"{tmp_path / 'pack.yaml'}:10:5: rules[0].severity")


def test_a_wrong_type_in_params_names_the_rule_field_and_line(tmp_path: Path) -> None:
    text = MINIMAL.replace('      end: "21:00"\n', "      end: 21:00\n")
    [problem] = _problems(text, tmp_path)
    # Unquoted 21:00 is the YAML 1.1 integer 1260; the schema refuses it at its line.
    assert problem.line == 12
    assert problem.where == "rule acme.time-window: rules[0].params.end"
    assert "valid string" in problem.message
    assert "1260" in problem.message


def test_a_missing_field_points_at_the_mapping(tmp_path: Path) -> None:
    text = MINIMAL.replace("      agreement_exception: false\n", "")
    [problem] = _problems(text, tmp_path)
    assert problem.where.endswith("params.agreement_exception")
    assert problem.message == "required key missing"
    assert problem.line == 10


def test_yaml_syntax_and_duplicate_keys_are_refused_with_lines(tmp_path: Path) -> None:
    [syntax] = _problems(MINIMAL.replace("channels: [call]", "channels: [call"), tmp_path)
    assert syntax.message.startswith("not valid YAML")
    assert syntax.line is not None and syntax.line >= 9
    [duplicate] = _problems(
        MINIMAL.replace('version: "1"\n', 'version: "1"\nid: other\n'), tmp_path
    )
    assert (duplicate.line, duplicate.message) == (3, "duplicate key")


def test_semantic_errors_name_the_rule(tmp_path: Path) -> None:
    text = MINIMAL.replace("id: acme.time-window", "id: other.time-window").replace(
        "kind: time-window", "kind: time-machine"
    )
    problems = _problems(text, tmp_path)
    messages = {(p.line, p.where, p.message.split(";")[0]) for p in problems}
    assert (6, "rule other.time-window", "rule ids must start with the pack id 'acme'.") in messages
    assert (7, "rule other.time-window", "unknown rule kind 'time-machine'") in messages


def test_start_must_be_before_end(tmp_path: Path) -> None:
    [problem] = _problems(MINIMAL.replace('start: "08:00"', 'start: "22:00"'), tmp_path)
    assert "start 22:00 must be before end 21:00" in problem.message


def test_every_parameter_declares_which_way_is_stricter() -> None:
    assert directions(RollingCallCapParams) == {
        "max_calls": Stricter.LOWER,
        "window_days": Stricter.HIGHER,
        "excluded_outcomes": Stricter.SUBSET,
        "excluded_roles": Stricter.SUBSET,
        "consent_days": Stricter.LOWER,
    }


OVERLAY = """\
overlay: acme-bank
version: "3"
pack: us-regf
pack_version: "2026.1"
rules:
  us-regf.call-7in7:
    params:
      max_calls: {max_calls}
  us-regf.time-window:
    params:
      end: "{end}"
"""


def _overlay(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "overlay.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_stricter_overlay_is_layered_and_named_in_the_version(tmp_path: Path) -> None:
    path = _overlay(tmp_path, OVERLAY.format(max_calls=5, end="20:00"))
    pack = packs.load("us-regf", [path])
    assert pack.effective_version == "2026.1+acme-bank.3"
    params = pack.rule("us-regf.call-7in7").params
    assert isinstance(params, RollingCallCapParams)
    assert params.max_calls == 5
    assert params.window_days == 7


def test_a_looser_override_is_refused_naming_rule_parameter_and_line(tmp_path: Path) -> None:
    path = _overlay(tmp_path, OVERLAY.format(max_calls=9, end="21:30"))
    with pytest.raises(packs.PackError) as caught:
        packs.load("us-regf", [path])
    problems = {p.where: p for p in caught.value.problems}
    assert set(problems) == {
        "rule us-regf.call-7in7: params.max_calls",
        "rule us-regf.time-window: params.end",
    }
    cap = problems["rule us-regf.call-7in7: params.max_calls"]
    assert cap.line == 8
    assert (
        cap.message
        == "9 is looser than the pack's 7 (lower: an override may only lower it); refused"
    )
    assert problems["rule us-regf.time-window: params.end"].line == 11


def test_overlays_refuse_unknown_rules_parameters_dropped_channels_and_other_packs(
    tmp_path: Path,
) -> None:
    text = """\
overlay: acme-bank
version: "1"
pack: us-regf
pack_version: "2025.9"
rules:
  us-regf.no-such-rule:
    params: {x: 1}
  us-regf.call-7in7:
    params: {max_call: 5}
  us-regf.third-party:
    channels: [call]
  us-regf.third-party-2: {}
"""
    with pytest.raises(packs.PackError) as caught:
        packs.load("us-regf", [_overlay(tmp_path, text)])
    messages = [p.message for p in caught.value.problems]
    assert any("overlay is for version '2025.9'" in m for m in messages)
    assert any("no rule 'us-regf.no-such-rule' in pack us-regf" in m for m in messages)
    assert any(m.startswith("unknown parameter 'max_call'") for m in messages)
    assert any(
        m.startswith("drops channel(s) email, im, letter, push, sms, visit") for m in messages
    )


def test_an_overlay_may_add_channels_and_tighten_lists(tmp_path: Path) -> None:
    text = """\
overlay: acme-bank
version: "1"
pack: us-regf
rules:
  us-regf.call-7in7:
    channels: [call, sms]
    params:
      excluded_outcomes: []
  us-regf.third-party:
    params:
      allowed_roles: [debtor, attorney]
"""
    pack = packs.load("us-regf", [_overlay(tmp_path, text)])
    assert pack.rule("us-regf.call-7in7").channels == ("call", "sms")
    loosened = text.replace(
        "allowed_roles: [debtor, attorney]", "allowed_roles: [debtor, employer]"
    )
    with pytest.raises(packs.PackError, match="allowed_roles"):
        packs.load("us-regf", [_overlay(tmp_path, loosened)])


def test_an_unknown_pack_reference_lists_the_shipped_ones() -> None:
    with pytest.raises(packs.PackError, match="cn, us-regf"):
        packs.load("uk")

"""The checker's front door: bad input is a clear error naming what is wrong, never a
crash and never a silent pass; the CLI and the API give the same JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from fairdun.cli import app as cli_app
from fairdun.content.checker import check, facts_from, make_context, validate_text
from fairdun.content.types import ContentInputError
from tests.factories import make_institution, make_token

THREAT = "再不还钱，就把你欠钱的事发给你全部通讯录和你单位领导。"
POLITE = "王先生您好，您尾号8899的借款本期应还1,234.56元，请于12月15日前通过官方App还款。"
runner = CliRunner()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "empty"),
        ("   \n\t", "empty"),
        ("好" * 10_001, "10,001 characters; the limit is 10,000"),
        ("abc\x00def", "binary: control character U+0000 at position 3"),
        (b"\xff\xfe\x00a", "not valid UTF-8"),
        ("caf\ufffd", "wrong encoding"),
        ("\ud800x", "unpaired surrogates"),
    ],
)
def test_bad_text_is_refused_naming_the_problem(raw: str | bytes, message: str) -> None:
    with pytest.raises(ContentInputError, match=re.escape(message)):
        validate_text(raw)
    with pytest.raises(ContentInputError, match=re.escape(message)):
        check(raw, make_context())


def test_limits_are_exact() -> None:
    assert validate_text("好" * 10_000) == "好" * 10_000
    assert validate_text("line one\nline two\ttab") == "line one\nline two\ttab"
    assert validate_text("您好".encode()) == "您好"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lang": "fr"}, "unknown language 'fr'"),
        ({"recipient_role": "boss"}, "unknown recipient role 'boss'"),
        ({"channel": "fax"}, "unknown channel 'fax'"),
        ({"jurisdiction": "uk"}, "unknown jurisdiction 'uk'"),
        ({"facts": {"lawsuit": True}}, "unknown fact 'lawsuit'"),
        ({"facts": {"time_barred": "yes"}}, "facts.time_barred must be a bool"),
        ({"facts": {"allowed_fees": "罚息"}}, "allowed_fees must be a list"),
    ],
)
def test_bad_context_is_refused_naming_it(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ContentInputError, match=message):
        make_context(**kwargs)  # type: ignore[arg-type]


def test_language_is_detected_and_facts_parse() -> None:
    assert make_context(text="Please call us").lang == "en"
    assert make_context(text="请回电").lang == "zh"
    facts = facts_from({"allowed_fees": ["罚息"], "legal_action_intended": None})
    assert facts.allowed_fees == ("罚息",) and facts.legal_action_intended is None


def test_findings_point_at_their_spans() -> None:
    text = THREAT
    findings = check(text, make_context(text=text))
    assert {"third-party-disclosure"} <= {f.category for f in findings}
    for f in findings:
        assert text[f.start : f.end] == f.span
        assert f.rule and f.explanation
    assert check(POLITE, make_context(text=POLITE)) == []


def test_cli_single_message_text_and_json() -> None:
    found = runner.invoke(cli_app, ["content", "check", "--format", "json", THREAT])
    assert found.exit_code == 1, found.output
    body = json.loads(found.stdout)
    assert body["findings"][0].keys() == {"category", "span", "start", "end", "rule", "explanation"}
    clean = runner.invoke(cli_app, ["content", "check", POLITE])
    assert clean.exit_code == 0 and "no findings" in clean.stdout
    bad = runner.invoke(cli_app, ["content", "check", "--recipient-role", "boss", POLITE])
    assert bad.exit_code == 2 and "unknown recipient role 'boss'" in bad.stderr


def test_cli_jsonl_writes_one_line_per_message(tmp_path: Path) -> None:
    source = tmp_path / "messages.jsonl"
    lines = [
        {"id": "a", "text": THREAT, "lang": "zh", "recipient_role": "debtor"},
        {"id": "b", "text": POLITE, "lang": "zh", "recipient_role": "debtor"},
        {
            "id": 3,
            "text": "Hi, this is Jane for Mark; please ask him to call 555-0100.",
            "lang": "en",
            "recipient_role": "third_party",
            "jurisdiction": "us",
        },
    ]
    source.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(
        cli_app,
        ["content", "check", "--input", str(source), "--output", str(out)],
    )
    assert result.exit_code == 1, result.output
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", "b", 3]
    assert rows[0]["findings"] and rows[1]["findings"] == [] and rows[2]["findings"] == []


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "x", "text": ""}', "x.jsonl:2 (id 'x'): the text is empty"),
        ("not json", "x.jsonl:2: not JSON"),
        ('{"id": "a", "text": "hi"}', "x.jsonl:2: id 'a' appears twice"),
        ('{"id": "y", "text": "hi", "colour": 1}', "x.jsonl:2: unknown field 'colour'"),
        ('{"id": "y", "text": "hi", "lang": "fr"}', "unknown language 'fr'"),
        ('{"text": "hi"}', "'id' is missing"),
    ],
)
def test_cli_jsonl_bad_line_writes_nothing(tmp_path: Path, line: str, message: str) -> None:
    source = tmp_path / "x.jsonl"
    source.write_text('{"id": "a", "text": "' + THREAT + '"}\n' + line + "\n")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(
        cli_app, ["content", "check", "--input", str(source), "--output", str(out)]
    )
    assert result.exit_code == 2
    assert message in result.stderr
    assert not out.exists()


def test_api_returns_the_cli_json_and_refuses_bad_input(client: TestClient, db: Session) -> None:
    lender = make_institution(db)
    _token, raw = make_token(db, institution=lender)
    db.commit()
    headers = {"Authorization": f"Bearer {raw}"}
    response = client.post(
        "/api/v1/content/check", json={"id": "m1", "text": THREAT}, headers=headers
    )
    assert response.status_code == 200, response.text
    cli = json.loads(
        runner.invoke(cli_app, ["content", "check", "--format", "json", THREAT]).stdout
    )
    assert response.json() == {"id": "m1", **cli}
    too_long = client.post("/api/v1/content/check", json={"text": "a" * 10_001}, headers=headers)
    assert too_long.status_code == 422
    assert "10,001 characters" in too_long.text
    assert client.post("/api/v1/content/check", json={"text": "x"}).status_code == 401

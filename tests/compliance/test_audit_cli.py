"""`fairdun audit check` and `fairdun policy`: exit codes, bad-input reports, output formats."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from typer.testing import CliRunner

from fairdun.cli import app
from fairdun.compliance import packs

runner = CliRunner()
HEADER = "event_id,occurred_at,kind,collector_id,debt_id,person_id,role,channel,outcome,timezone\n"
CLEAN = HEADER + (
    "e1,2026-02-02T10:00:00-05:00,contact,c1,d1,p1,debtor,call,conversation,America/New_York\n"
    "e2,2026-02-09T10:00:00-05:00,contact,c1,d1,p1,debtor,call,no_answer,America/New_York\n"
)
DIRTY = HEADER + (
    "e1,2026-02-02T10:00:00-05:00,contact,c1,d1,p1,debtor,call,conversation,America/New_York\n"
    "e2,2026-02-03T10:00:00-05:00,contact,c1,d1,p1,debtor,call,no_answer,America/New_York\n"
    "e3,2026-02-03T22:00:00-05:00,contact,c1,d2,p2,third_party,sms,delivered,America/New_York\n"
)


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def write(tmp_path: Path, text: str, name: str = "log.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_clean_log_exits_0(tmp_path: Path) -> None:
    code, out, _ = invoke("audit", "check", str(write(tmp_path, CLEAN)), "--pack", "us-regf")
    assert code == 0, out
    assert "2 events replayed through us-regf 2026.1: 0 violations in 0 events" in out


def test_violations_exit_1_and_are_listed(tmp_path: Path) -> None:
    code, out, _ = invoke("audit", "check", str(write(tmp_path, DIRTY)), "--pack", "us-regf")
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith(
        "e2\t2026-02-03T10:00:00-05:00\tdebt d1\tus-regf.call-after-conversation\t"
    )
    assert [line.split("\t")[3] for line in lines[1:3]] == [
        "us-regf.time-window",
        "us-regf.third-party",
    ]
    assert lines[3] == "3 events replayed through us-regf 2026.1: 3 violations in 2 events"


def test_json_output_has_the_documented_shape(tmp_path: Path) -> None:
    code, out, err = invoke(
        "audit", "check", str(write(tmp_path, DIRTY)), "--pack", "us-regf", "--format", "json"
    )
    assert code == 1
    report = json.loads(out)
    assert {k: report[k] for k in ("pack", "pack_version", "events")} == {
        "pack": "us-regf",
        "pack_version": "2026.1",
        "events": 3,
    }
    assert [(v["event_id"], v["rule"]) for v in report["violations"]] == [
        ("e2", "us-regf.call-after-conversation"),
        ("e3", "us-regf.time-window"),
        ("e3", "us-regf.third-party"),
    ]
    assert {"event_id", "rule", "message", "message_zh"} <= set(report["violations"][0])
    assert "3 events, 3 violations" in err


def test_json_output_of_a_clean_log_is_valid(tmp_path: Path) -> None:
    code, out, _ = invoke(
        "audit", "check", str(write(tmp_path, CLEAN)), "--pack", "us-regf", "--format", "json"
    )
    assert code == 0
    assert json.loads(out) == {
        "pack": "us-regf",
        "pack_version": "2026.1",
        "violations": [],
        "events": 2,
    }


def test_csv_output_and_output_file(tmp_path: Path) -> None:
    target = tmp_path / "violations.csv"
    code, out, _ = invoke(
        "audit", "check", str(write(tmp_path, DIRTY)), "--pack", "us-regf",
        "--format", "csv", "--output", str(target),
    )  # fmt: skip
    assert code == 1
    assert out == ""
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert [(r["event_id"], r["rule"]) for r in rows] == [
        ("e2", "us-regf.call-after-conversation"),
        ("e3", "us-regf.time-window"),
        ("e3", "us-regf.third-party"),
    ]


def test_jsonl_input_gives_the_same_verdicts(tmp_path: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(DIRTY)))
    lines = "\n".join(json.dumps({k: v for k, v in row.items() if v}) for row in rows)
    code, out, _ = invoke(
        "audit", "check", str(write(tmp_path, lines + "\n", "log.jsonl")), "--pack", "us-regf",
        "--format", "json",
    )  # fmt: skip
    assert code == 1
    assert len(json.loads(out)["violations"]) == 3


def test_the_html_report_is_one_escaped_page_without_scripts(tmp_path: Path) -> None:
    log = DIRTY.replace("e3,", "<b>e3</b>,")
    code, out, _ = invoke(
        "audit", "check", str(write(tmp_path, log)), "--pack", "us-regf", "--format", "html"
    )
    assert code == 1
    assert out.startswith("<!DOCTYPE html>")
    assert "<script" not in out
    assert "&lt;b&gt;e3&lt;/b&gt;" in out and "<b>e3</b>" not in out
    assert "Summary" in out and "Violations by rule" in out and "Timeline per debt" in out
    assert "Debt d1" in out and "Debt d2" in out
    assert "12 CFR 1006.14, 1006.14(b)(2)(i)(B) (V)" in out


def test_bad_rows_exit_2_with_file_row_column_and_reason(tmp_path: Path) -> None:
    log = HEADER + (
        "e1,2026-02-02T10:00:00-05:00,contact,c1,d1,p1,debtor,call,no_answer,America/New_York\n"
        "e2,2026-02-02 11:00,contact,c1,d1,p1,debtor,call,no_answer,America/New_York\n"
        "e3,2026-02-02T12:00:00-05:00,contact,c1,d1,p1,friend,call,no_answer,America/New_York\n"
        "e4,2026-02-02T09:00:00-05:00,contact,c1,d1,p1,debtor,call,no_answer,America/New_York\n"
        "e5,2026-02-02T13:00:00-05:00,cease_request,c1,,p1,debtor,,,America/New_York\n"
        "e6,2026-02-02T14:00:00-05:00,contact,c1,d1\n"
    )
    path = write(tmp_path, log)
    code, out, err = invoke("audit", "check", str(path), "--pack", "us-regf", "--format", "json")
    assert code == 2
    assert out == ""  # no partial report
    assert f"error: {path}: row 3, column occurred_at: timestamp without a UTC offset" in err
    assert f"error: {path}: row 4, column role: unknown value 'friend'" in err
    assert (
        f"error: {path}: row 5, column occurred_at: out of time order: "
        "2026-02-02T09:00:00-05:00 is earlier than row 2" in err
    )
    assert f"error: {path}: row 6, column debt_id: a cease_request event needs debt_id" in err
    assert f"error: {path}: row 7: 5 fields; the header has 10" in err


def test_a_bad_header_or_json_line_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, "event_id,occurred_at,kind,colour\n")
    code, _, err = invoke("audit", "check", str(path), "--pack", "cn")
    assert code == 2
    assert f"{path}: row 1, column colour: unknown column 'colour'" in err
    path = write(tmp_path, '{"event_id": "e1"\n', "log.jsonl")
    code, _, err = invoke("audit", "check", str(path), "--pack", "cn")
    assert code == 2
    assert f"{path}: row 1: not valid JSON" in err
    path = write(tmp_path, "x", "log.txt")
    code, _, err = invoke("audit", "check", str(path), "--pack", "cn")
    assert code == 2
    assert "--input-format" in err


def test_a_bad_pack_or_looser_overlay_exits_2(tmp_path: Path) -> None:
    overlay = write(
        tmp_path,
        'overlay: x\nversion: "1"\npack: cn\nrules:\n'
        "  cn.visit-staff:\n    params: {min_staff: 1}\n",
        "overlay.yaml",
    )
    code, _, err = invoke(
        "audit", "check", str(write(tmp_path, CLEAN)), "--pack", "cn", "--overlay", str(overlay)
    )
    assert code == 2
    assert f"{overlay}:6:" in err
    assert "rule cn.visit-staff: params.min_staff: 1 is looser than the pack's 2" in err


def test_policy_validate_runs_the_golden_cases() -> None:
    code, out, _ = invoke("policy", "validate", str(packs.PACKS_DIR / "cn.yaml"))
    assert code == 0
    assert "pack cn 2026.1 (CN (mainland)): 7 rules OK" in out
    assert "golden cases pass" in out


def test_policy_validate_reports_a_failing_golden_case(tmp_path: Path) -> None:
    text = (packs.GOLDEN_DIR / "cn.yaml").read_text(encoding="utf-8")
    broken = text.replace(
        "expect: {allowed: true, earliest_lawful_at: null}", "expect: {allowed: false}", 1
    )
    assert broken != text
    golden = write(tmp_path, broken, "golden.yaml")
    code, _, err = invoke(
        "policy", "validate", str(packs.PACKS_DIR / "cn.yaml"), "--golden", str(golden)
    )
    assert code == 1
    assert "golden case failed" in err
    assert "a call at 21:59 local is allowed: expected allowed=False" in err


def test_policy_validate_names_file_and_line_of_a_bad_pack(tmp_path: Path) -> None:
    text = (packs.PACKS_DIR / "cn.yaml").read_text(encoding="utf-8")
    path = write(tmp_path, text.replace("min_staff: 2", "min_staff: two"), "cn.yaml")
    code, _, err = invoke("policy", "validate", str(path))
    assert code == 1
    line = text.splitlines().index("      min_staff: 2") + 1
    assert f"{path}:{line}:7: rule cn.visit-staff: rules[6].params.min_staff" in err


def test_policy_show_prints_rules_parameters_and_sources() -> None:
    code, out, _ = invoke("policy", "show", "us-regf")
    assert code == 0
    assert "us-regf.call-7in7  [call-cap-rolling]" in out
    assert "max_calls = 7   (stricter: lower)" in out
    assert "source: 12 CFR 1006.14, 1006.14(b)(2)(i)(A) (grade V)" in out

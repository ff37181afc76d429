"""tools/estimate_transitions.py: exact counts on a tiny file, and the parameters in
fairdun.demo.portfolio proven to come from the real data set."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from fairdun.demo import portfolio

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools" / "estimate_transitions.py"
DATA = REPO.parent / "shared" / "data" / "uci-taiwan-credit-default" / "UCI_Credit_Card.csv"


def _load_tool() -> ModuleType:
    # tools/ is a folder of scripts, not a package: load the file itself.
    spec = importlib.util.spec_from_file_location("estimate_transitions", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


tool = _load_tool()

HEADER = "ID,X1,X6,X7,X8,X9,X10,X11,Y"


def _write(tmp_path: Path, rows: list[str], header: str = HEADER) -> Path:
    path = tmp_path / "tiny.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def _zero() -> dict[str, dict[str, int]]:
    return {a: dict.fromkeys(tool.STATES, 0) for a in tool.STATES}


# Columns are X6 (Sep) .. X11 (Apr): the paths below read right to left.
# client 1, Apr..Sep: -2 -1 0 1 2 3   -> C C C M1 M2 M3 (nothing folded)
# client 2, Apr..Sep:  0 0 2 2 0 -1   -> C C M1 M2 C C (the jump 0 -> 2 folded)
# client 3, Apr..Sep:  4 5 7 2 1 0    -> M4+ M4+ M4+ M2 M1 C
TINY = [
    "1,1000,3,2,1,0,-1,-2,1",
    "2,1000,-1,0,2,2,0,0,0",
    "3,1000,0,1,2,7,5,4,1",
]


def test_counts_every_transition_of_every_client(tmp_path: Path) -> None:
    matrix = tool.estimate(_write(tmp_path, TINY))

    expected = _zero()
    for a, b in [("C", "C"), ("C", "C"), ("C", "M1"), ("M1", "M2"), ("M2", "M3")]:
        expected[a][b] += 1
    for a, b in [("C", "C"), ("C", "M1"), ("M1", "M2"), ("M2", "C"), ("C", "C")]:
        expected[a][b] += 1
    for a, b in [("M4+", "M4+"), ("M4+", "M4+"), ("M4+", "M2"), ("M2", "M1"), ("M1", "C")]:
        expected[a][b] += 1
    assert matrix.counts == expected
    assert matrix.clients == 3
    assert matrix.transitions == 15
    assert matrix.folded_clients == 1


def test_records_the_skipped_jumps_before_folding(tmp_path: Path) -> None:
    matrix = tool.estimate(_write(tmp_path, TINY))

    # Client 2 is recorded C -> M2 (Jun), M2 -> M2 (Jul): the fold reads them C -> M1 -> M2.
    assert matrix.skipped() == {("C", "M2"): 1}
    assert matrix.raw_counts["C"]["M2"] == 1
    assert matrix.raw_counts["M2"]["M2"] == 1
    assert matrix.counts["C"]["M2"] == 0
    assert matrix.ones_by_month == {"Apr": 0, "May": 0, "Jun": 0, "Jul": 1, "Aug": 1, "Sep": 0}


def test_probabilities_are_exact_shares_and_rows_sum_to_one(tmp_path: Path) -> None:
    stuck_in_m3 = "4,1000,3,3,3,3,3,3,1"
    probabilities = tool.estimate(_write(tmp_path, [*TINY, stuck_in_m3])).probabilities()

    # From C: 4 to C, 2 to M1. From M1: 2 to M2, 1 to C. From M2: one each to M3, C, M1.
    assert probabilities["C"] == {"C": 0.6667, "M1": 0.3333, "M2": 0.0, "M3": 0.0, "M4+": 0.0}
    assert probabilities["M1"] == {"C": 0.3333, "M1": 0.0, "M2": 0.6667, "M3": 0.0, "M4+": 0.0}
    # Three thirds: the largest-remainder rounding gives the spare unit to the first state.
    assert probabilities["M2"] == {"C": 0.3334, "M1": 0.3333, "M2": 0.0, "M3": 0.3333, "M4+": 0.0}
    assert probabilities["M3"] == {"C": 0.0, "M1": 0.0, "M2": 0.0, "M3": 1.0, "M4+": 0.0}
    assert probabilities["M4+"] == {"C": 0.0, "M1": 0.0, "M2": 0.3333, "M3": 0.0, "M4+": 0.6667}
    for row in tool.STATES:
        assert sum(round(p * 10_000) for p in probabilities[row].values()) == 10_000


def test_a_state_never_left_has_no_row(tmp_path: Path) -> None:
    # M3 is never left in TINY, so its row cannot be estimated.
    with pytest.raises(tool.DataError, match="in M3 before the last month"):
        tool.estimate(_write(tmp_path, TINY)).probabilities()


def test_reads_the_pay_column_names_and_the_second_header_row(tmp_path: Path) -> None:
    header = "ID,LIMIT_BAL,PAY_0,PAY_2,PAY_3,PAY_4,PAY_5,PAY_6,default"
    second = "ID,LIMIT_BAL,PAY_0,PAY_2,PAY_3,PAY_4,PAY_5,PAY_6,default"
    matrix = tool.estimate(_write(tmp_path, [second, *TINY], header=header))

    assert matrix.counts == tool.estimate(_write(tmp_path, TINY)).counts


def test_refuses_an_unknown_code_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(tool.DataError, match="line 2"):
        tool.estimate(_write(tmp_path, ["1,1000,0,0,0,0,0,12,0"]))


def test_refuses_a_file_without_the_status_columns(tmp_path: Path) -> None:
    with pytest.raises(tool.DataError, match="column"):
        tool.estimate(_write(tmp_path, ["1,2"], header="ID,X1"))


def test_command_prints_the_matrix_and_a_python_block(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [*TINY, "4,1000,3,3,2,1,0,0,0"]  # Apr..Sep 0 0 1 2 3 3: one client leaves M3
    assert tool.main([str(_write(tmp_path, rows))]) == 0

    out = capsys.readouterr().out
    assert "C->M2 1" in out
    assert "TRANSITIONS: dict[str, dict[str, float]] = {" in out
    block = out[out.index("TRANSITION_COUNTS") :]
    namespace: dict[str, object] = {}
    exec(block, namespace)  # noqa: S102 - the block is printed to be pasted as Python
    matrix = tool.estimate(_write(tmp_path, rows))
    assert namespace["TRANSITIONS"] == matrix.probabilities()
    assert namespace["TRANSITION_COUNTS"] == matrix.counts


def test_command_reports_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert tool.main([str(tmp_path / "absent.csv")]) == 2
    assert "error" in capsys.readouterr().err


@pytest.mark.skipif(
    not DATA.exists(),
    reason=f"the Taiwan credit card data set is not at {DATA} (it lives outside the repo)",
)
def test_parameters_in_code_are_the_ones_estimated_from_the_data() -> None:
    matrix = tool.estimate(DATA)

    assert matrix.clients == 30_000
    assert matrix.transitions == 150_000
    assert matrix.counts == portfolio.TRANSITION_COUNTS
    assert matrix.probabilities() == portfolio.TRANSITIONS
    assert matrix.skipped() == {("C", "M2"): 6209}

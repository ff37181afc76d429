"""Personal data in what a reporter wrote is masked (pure: no database)."""

from __future__ import annotations

import pytest

from fairdun.complaints.masking import mask, mask_text


@pytest.mark.parametrize(
    ("text", "hidden", "kind"),
    [
        ("我的手机是13812345678，请回电", "13812345678", "phone"),
        ("号码 +86 139-1234-5678 一直打", "139-1234-5678", "phone"),
        ("打到我家座机010-12345678", "010-12345678", "phone"),
        ("身份证11010519491231002X被他们拿走了", "11010519491231002X", "id_number"),
        ("卡号6222 0212 3456 7890 123", "6222 0212 3456 7890 123", "bank_card"),
        ("卡号6222021234567890", "6222021234567890", "bank_card"),
        ("邮箱wang.xm@example.com", "wang.xm@example.com", "email"),
        ("住在北京市朝阳区建国路88号3栋2单元501室", "建国路88号", "address"),
        ("他们去了阳光花园小区5号楼", "阳光花园", "address"),
        ("一个姓赵的男人", "赵", "name"),
        ("我叫刘洋，在超市上班", "刘洋", "name"),
        ("找王先生和欧阳女士", "王先生", "name"),
        ("找王先生和欧阳女士", "欧阳", "name"),
        ("催收员王建国每天打电话", "王建国", "name"),
        ("Mr. John Smith called me", "John Smith", "name"),
    ],
)
def test_personal_data_is_hidden(text: str, hidden: str, kind: str) -> None:
    result = mask(text)
    assert hidden not in result.text
    assert kind in result.kinds


def test_what_matters_to_the_case_is_kept() -> None:
    text = (
        "他自称是张警官，每天打电话超过20次，晚上11点还在打，"
        "说要让我坐牢，骂我老赖、王八蛋，金额5000元。"
    )
    out = mask_text(text)
    assert "张" not in out
    for kept in ("警官", "20次", "11点", "坐牢", "老赖", "王八蛋", "5000元"):
        assert kept in out


def test_text_without_personal_data_is_unchanged() -> None:
    text = "这位先生每天打电话，一周打了几十次。"
    assert mask_text(text) == text
    assert mask(text).kinds == frozenset()


def test_nothing_in_nothing_out() -> None:
    assert mask_text(None) == ""
    assert mask_text("") == ""

"""Personal data is never stored in plaintext: read the raw tables and look for it."""

from __future__ import annotations

from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from fairdun.identity import service as identity
from fairdun.identity.models import Role, User
from fairdun.identity.principal import SYSTEM
from fairdun.kit import crypto
from fairdun.kit.db import encrypted_columns
from tests.factories import make_institution, make_user

NAME = "张秀英"
EMAIL = "zhang.xiuying@example.cn"
PHONE = "+86 138 0013 8000"


def _all_raw_text(db: Session) -> str:
    """Every cell of every table, as the database returns it without the ORM."""
    chunks = []
    for table in inspect(db.get_bind()).get_table_names():
        for row in db.execute(text(f'SELECT * FROM "{table}"')):  # noqa: S608 - names from the schema
            chunks.extend(str(v) for v in row)
    return "\n".join(chunks)


def test_no_plaintext_personal_data_in_any_table(db: Session) -> None:
    bank = make_institution(db)
    user = make_user(db, role=Role.BORROWER, institution=bank, display_name=NAME, email=EMAIL)
    user.phone = PHONE
    db.commit()
    raw = _all_raw_text(db)
    for secret in (NAME, EMAIL, PHONE, "zhang.xiuying", "13800138000", "0013 8000"):
        assert secret not in raw, f"{secret!r} found in plaintext in the database"
    assert "fd1:t1:" in raw  # the values are there, encrypted under the named key


def test_every_encrypted_column_holds_only_ciphertext(db: Session) -> None:
    bank = make_institution(db)
    u = make_user(db, role=Role.COLLECTOR, institution=bank, display_name=NAME, email=EMAIL)
    u.phone = PHONE
    db.commit()
    columns = encrypted_columns()
    assert {("users", "display_name"), ("users", "email"), ("users", "phone")} <= {
        (t, c) for t, c, _ in columns
    }
    for table, column, _ctx in columns:
        for (value,) in db.execute(text(f'SELECT "{column}" FROM "{table}"')):  # noqa: S608
            if value is not None:
                assert str(value).startswith("fd1:"), f"{table}.{column} holds {value!r}"


def test_the_orm_reads_back_the_plaintext(db: Session) -> None:
    bank = make_institution(db)
    user_id = make_user(
        db, role=Role.COLLECTOR, institution=bank, display_name=NAME, email=EMAIL
    ).id
    db.commit()
    db.expunge_all()
    user = db.get(User, user_id)
    assert user is not None
    assert (user.display_name, user.email) == (NAME, EMAIL)


def test_email_is_found_by_blind_index_not_by_plaintext(db: Session) -> None:
    bank = make_institution(db)
    make_user(db, role=Role.COLLECTOR, institution=bank, email=EMAIL)
    db.commit()
    found = identity.find_users_by_email(db, SYSTEM, "  Zhang.Xiuying@EXAMPLE.cn ")
    assert [u.email for u in found] == [EMAIL]
    index = crypto.keyring().blind_index(EMAIL, "users.email")
    assert len(index) == 64 and EMAIL not in index

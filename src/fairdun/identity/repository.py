"""All SQL of identity. Institution-scoped queries take ``scope`` (None means every institution)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairdun.identity.models import ApiToken, LoginAttempt, LoginSession, User


def user_by_username(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def user_by_id(session: Session, user_id: int, scope: int | None) -> User | None:
    stmt = select(User).where(User.id == user_id)
    if scope is not None:
        stmt = stmt.where(User.institution_id == scope)
    return session.scalar(stmt)


def users(session: Session, scope: int | None) -> list[User]:
    stmt = select(User).order_by(User.id)
    if scope is not None:
        stmt = stmt.where(User.institution_id == scope)
    return list(session.scalars(stmt).all())


def users_by_email_index(session: Session, index: str, scope: int | None) -> list[User]:
    stmt = select(User).where(User.email_index == index)
    if scope is not None:
        stmt = stmt.where(User.institution_id == scope)
    return list(session.scalars(stmt).all())


def session_by_token_hash(session: Session, token_hash: str) -> LoginSession | None:
    return session.scalar(select(LoginSession).where(LoginSession.token_hash == token_hash))


def token_by_hash(session: Session, token_hash: str) -> ApiToken | None:
    return session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))


def token_by_id(session: Session, token_id: int, scope: int | None) -> ApiToken | None:
    stmt = select(ApiToken).where(ApiToken.id == token_id)
    if scope is not None:
        stmt = stmt.where(ApiToken.institution_id == scope)
    return session.scalar(stmt)


def tokens(session: Session, scope: int | None) -> list[ApiToken]:
    stmt = select(ApiToken).order_by(ApiToken.id)
    if scope is not None:
        stmt = stmt.where(ApiToken.institution_id == scope)
    return list(session.scalars(stmt).all())


def recent_failures(
    session: Session, *, username_key: str, address_key: str, since: datetime
) -> tuple[int, int]:
    by_user = session.scalar(
        select(func.count()).where(
            LoginAttempt.username_key == username_key, LoginAttempt.attempted_at >= since
        )
    )
    by_address = session.scalar(
        select(func.count()).where(
            LoginAttempt.address_key == address_key, LoginAttempt.attempted_at >= since
        )
    )
    return int(by_user or 0), int(by_address or 0)


def oldest_failure_since(
    session: Session, *, username_key: str, address_key: str, since: datetime
) -> datetime | None:
    return session.scalar(
        select(func.min(LoginAttempt.attempted_at)).where(
            (LoginAttempt.username_key == username_key) | (LoginAttempt.address_key == address_key),
            LoginAttempt.attempted_at >= since,
        )
    )

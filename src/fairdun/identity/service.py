"""Identity use cases: log in, sessions, users, API tokens. Never commits."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fairdun.audit import service as audit
from fairdun.identity import passwords, repository
from fairdun.identity.models import ApiToken, LoginAttempt, LoginSession, Role, User
from fairdun.identity.principal import Principal
from fairdun.identity.schemas import ApiTokenCreate, UserCreate
from fairdun.institutions import repository as institutions_repo
from fairdun.institutions.models import InstitutionKind
from fairdun.kit import crypto
from fairdun.kit.errors import Conflict, Forbidden, Invalid, NotFound, Throttled, Unauthenticated

TOKEN_PREFIX = "fdt"  # noqa: S105 - a label, not a secret
WRONG_CREDENTIALS = "wrong username or password"


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta
    absolute: timedelta
    max_failures: int
    window: timedelta


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def principal_for_user(user: User) -> Principal:
    return Principal(
        role=Role(user.role),
        institution_id=user.institution_id,
        user_id=user.id,
        name=user.username,
    )


# --- log in -----------------------------------------------------------------


def authenticate(
    session: Session,
    policy: SessionPolicy,
    *,
    username: str,
    password: str,
    address: str,
    now: datetime,
) -> User:
    """Check credentials with throttling; the error never says which part was wrong."""
    ring = crypto.keyring()
    username_key = ring.blind_index(username, "login.username")
    address_key = ring.blind_index(address, "login.address")
    since = now - policy.window
    by_user, by_address = repository.recent_failures(
        session, username_key=username_key, address_key=address_key, since=since
    )
    if by_user >= policy.max_failures or by_address >= policy.max_failures * 4:
        oldest = repository.oldest_failure_since(
            session, username_key=username_key, address_key=address_key, since=since
        )
        retry = int(((oldest or now) + policy.window - now).total_seconds()) + 1
        raise Throttled("too many failed log-in attempts; try again later", max(retry, 1))

    user = repository.user_by_username(session, username)
    ok = passwords.verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        session.add(
            LoginAttempt(username_key=username_key, address_key=address_key, attempted_at=now)
        )
        audit.record(
            session,
            actor="anonymous",
            action="user.login_failed",
            target=f"user:{user.id}" if user else "",
            institution_id=user.institution_id if user else None,
            details={"reason": "credentials" if user is None or not ok else "inactive"},
            at=now,
        )
        raise Unauthenticated(WRONG_CREDENTIALS)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    user.last_login_at = now
    audit.record(
        session,
        actor=f"user:{user.id}",
        action="user.logged_in",
        target=f"user:{user.id}",
        institution_id=user.institution_id,
        at=now,
    )
    return user


def start_session(session: Session, user: User, policy: SessionPolicy, now: datetime) -> str:
    raw = secrets.token_urlsafe(32)
    session.add(
        LoginSession(
            token_hash=sha256_hex(raw),
            csrf_secret=secrets.token_hex(32),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + policy.absolute,
        )
    )
    session.flush()
    return raw


def resolve_session(
    session: Session, raw_token: str, policy: SessionPolicy, now: datetime
) -> tuple[User, LoginSession] | None:
    """The live session behind a cookie, or None when it is unknown, ended or expired."""
    login = repository.session_by_token_hash(session, sha256_hex(raw_token))
    if login is None or login.ended_at is not None:
        return None
    if now >= login.expires_at or now - login.last_seen_at >= policy.idle:
        return None
    user = session.get(User, login.user_id)
    if user is None or not user.is_active:
        return None
    # Only touch the row once a minute, so page views do not each write.
    if now - login.last_seen_at > timedelta(minutes=1):
        login.last_seen_at = now
    return user, login


def end_session(session: Session, login_id: int, now: datetime) -> None:
    login = session.get(LoginSession, login_id)
    if login is None or login.ended_at is not None:
        return
    login.ended_at = now
    audit.record(
        session,
        actor=f"user:{login.user_id}",
        action="user.logged_out",
        target=f"user:{login.user_id}",
        at=now,
    )


# --- users ------------------------------------------------------------------


def _check_role_fits_institution(session: Session, role: Role, institution_id: int | None) -> None:
    if role.cross_institution:
        if institution_id is not None and role is Role.PLATFORM_ADMIN:
            raise Invalid("institution_id", "a platform administrator belongs to no institution")
        if role is Role.REGULATOR and institution_id is not None:
            inst = institutions_repo.by_id(session, institution_id, None)
            if inst is None or inst.kind != InstitutionKind.REGULATOR:
                raise Invalid(
                    "institution_id", "a regulator user belongs to a regulator institution"
                )
        return
    if institution_id is None:
        raise Invalid("institution_id", f"role {role.value} needs an institution")
    inst = institutions_repo.by_id(session, institution_id, None)
    if inst is None:
        raise Invalid("institution_id", "no such institution")
    is_agency = inst.kind == InstitutionKind.COLLECTION_AGENCY
    if role is Role.AGENCY_COLLECTOR and not is_agency:
        raise Invalid("role", "agency_collector users belong to a collection agency")
    if (
        role in (Role.COLLECTOR, Role.RISK_ANALYST, Role.BORROWER)
        and not InstitutionKind(inst.kind).is_lender
    ):
        raise Invalid("role", f"{role.value} users belong to a lender")


def create_user(session: Session, actor: Principal, data: UserCreate) -> User:
    if actor.role not in (Role.PLATFORM_ADMIN, Role.INSTITUTION_ADMIN):
        raise Forbidden("only administrators create users")
    institution_id = data.institution_id
    if actor.role is Role.INSTITUTION_ADMIN:
        # An institution admin creates users in their own institution only, whatever the body says.
        if institution_id is not None and institution_id != actor.institution_id:
            raise NotFound("no such institution")
        institution_id = actor.institution_id
        if data.role.cross_institution:
            raise Forbidden(f"an institution administrator cannot create {data.role.value} users")
    problem = passwords.password_problem(data.password)
    if problem:
        raise Invalid("password", problem)
    _check_role_fits_institution(session, data.role, institution_id)
    if repository.user_by_username(session, data.username) is not None:
        raise Conflict(f"username {data.username!r} is taken")
    ring = crypto.keyring()
    user = User(
        username=data.username,
        display_name=data.display_name,
        email=str(data.email) if data.email else None,
        email_index=ring.blind_index(str(data.email), "users.email") if data.email else None,
        phone=data.phone,
        role=data.role,
        institution_id=institution_id,
        password_hash=passwords.hash_password(data.password),
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(f"username {data.username!r} is taken") from None
    audit.record(
        session,
        actor=actor.actor,
        action="user.created",
        target=f"user:{user.id}",
        institution_id=institution_id,
        details={"role": data.role.value, "username": data.username},
    )
    return user


def get_user(session: Session, actor: Principal, user_id: int) -> User:
    user = repository.user_by_id(session, user_id, actor.scope)
    if user is None:
        raise NotFound("no such user")
    return user


def list_users(session: Session, actor: Principal) -> list[User]:
    return repository.users(session, actor.scope)


def find_users_by_email(session: Session, actor: Principal, email: str) -> list[User]:
    index = crypto.keyring().blind_index(email, "users.email")
    return repository.users_by_email_index(session, index, actor.scope)


# --- API tokens ---------------------------------------------------------------


def issue_api_token(
    session: Session, actor: Principal, data: ApiTokenCreate
) -> tuple[ApiToken, str]:
    if actor.role not in (Role.PLATFORM_ADMIN, Role.INSTITUTION_ADMIN):
        raise Forbidden("only administrators issue API tokens")
    if data.role.cross_institution:
        raise Invalid("role", "an API token is scoped to one institution and an institution role")
    institution_id = data.institution_id if actor.scope is None else actor.scope
    if actor.scope is not None and data.institution_id not in (None, actor.scope):
        raise NotFound("no such institution")
    if institution_id is None:
        raise Invalid("institution_id", "an API token is scoped to one institution")
    _check_role_fits_institution(session, data.role, institution_id)
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    raw = f"{TOKEN_PREFIX}_{prefix}_{secret}"
    # The secret has 256 bits of entropy, so a fast hash is enough (no brute force possible).
    token = ApiToken(
        name=data.name,
        prefix=prefix,
        token_hash=sha256_hex(raw),
        institution_id=institution_id,
        role=data.role,
        created_by=actor.actor,
    )
    session.add(token)
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="token.issued",
        target=f"token:{token.id}",
        institution_id=institution_id,
        details={"role": data.role.value, "name": data.name},
    )
    return token, raw


def resolve_api_token(session: Session, raw: str, now: datetime) -> ApiToken | None:
    token = repository.token_by_hash(session, sha256_hex(raw))
    if token is None or token.revoked_at is not None:
        return None
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        token.last_used_at = now
    return token


def principal_for_token(token: ApiToken) -> Principal:
    return Principal(
        role=Role(token.role),
        institution_id=token.institution_id,
        token_id=token.id,
        name=token.name,
    )


def revoke_api_token(session: Session, actor: Principal, token_id: int, now: datetime) -> ApiToken:
    token = repository.token_by_id(session, token_id, actor.scope)
    if token is None:
        raise NotFound("no such token")
    if actor.role not in (Role.PLATFORM_ADMIN, Role.INSTITUTION_ADMIN):
        raise Forbidden("only administrators revoke API tokens")
    if token.revoked_at is None:
        token.revoked_at = now
        audit.record(
            session,
            actor=actor.actor,
            action="token.revoked",
            target=f"token:{token.id}",
            institution_id=token.institution_id,
        )
    return token


def list_api_tokens(session: Session, actor: Principal) -> list[ApiToken]:
    if actor.role not in (Role.PLATFORM_ADMIN, Role.INSTITUTION_ADMIN, Role.REGULATOR):
        raise Forbidden("only administrators see API tokens")
    return repository.tokens(session, actor.scope)

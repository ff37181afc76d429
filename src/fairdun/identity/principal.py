"""Who a request acts as, and the tenancy scope that follows from it."""

from __future__ import annotations

from dataclasses import dataclass

from fairdun.identity.models import Role


@dataclass(frozen=True)
class Principal:
    role: Role
    institution_id: int | None
    user_id: int | None = None
    token_id: int | None = None
    name: str = ""

    @property
    def actor(self) -> str:
        if self.user_id is not None:
            return f"user:{self.user_id}"
        if self.token_id is not None:
            return f"token:{self.token_id}"
        return "system"

    @property
    def scope(self) -> int | None:
        """The institution every read and write is filtered by; None for cross-institution roles."""
        if self.role.cross_institution:
            return None
        if self.institution_id is None:
            # An institution role without an institution sees nothing rather than everything.
            return -1
        return self.institution_id

    def can_see(self, institution_id: int | None) -> bool:
        return self.scope is None or (institution_id is not None and institution_id == self.scope)


SYSTEM = Principal(role=Role.PLATFORM_ADMIN, institution_id=None, name="system")

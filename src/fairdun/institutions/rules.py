"""Pure rules of the registry: who may collect."""

from __future__ import annotations

from dataclasses import dataclass

from fairdun.institutions.models import InstitutionKind, LicenceStatus


@dataclass(frozen=True)
class CollectionCheck:
    allowed: bool
    reason: str
    code: str = "ok"


def may_collect(
    kind: InstitutionKind,
    status: LicenceStatus,
    *,
    lender_status: LicenceStatus | None = None,
    engagement_active: bool | None = None,
) -> CollectionCheck:
    """A lender collects its own debts with an active licence; an agency also needs an
    active engagement with a lender whose own licence is active."""
    if kind is InstitutionKind.REGULATOR:
        return CollectionCheck(False, "a regulator does not collect", "regulator_does_not_collect")
    if status is not LicenceStatus.ACTIVE:
        return CollectionCheck(False, f"licence is {status.value}", f"licence_{status.value}")
    if kind is InstitutionKind.COLLECTION_AGENCY:
        if engagement_active is None or lender_status is None:
            return CollectionCheck(
                False, "an agency collects only for a lender it is engaged by", "no_engagement"
            )
        if not engagement_active:
            return CollectionCheck(
                False,
                "the agency's engagement with this lender is not active",
                "engagement_inactive",
            )
        if lender_status is not LicenceStatus.ACTIVE:
            return CollectionCheck(
                False,
                f"the lender's licence is {lender_status.value}",
                f"lender_licence_{lender_status.value}",
            )
    return CollectionCheck(True, "licence active")

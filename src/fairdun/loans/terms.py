"""Pure value types of the ledger, shared by the schedule, the ledger replay and APR.

Money is an ``int`` count of minor units (分 for CNY). Rates are ``Decimal`` fractions
(``Decimal("0.18")`` is 18% a year). Dates are ``datetime.date``; no clock is read here.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum


class TermsError(ValueError):
    """A loan or product term is unusable; ``field`` names it."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


class RepaymentMethod(StrEnum):
    EQUAL_INSTALMENT = "equal_instalment"  # 等额本息
    EQUAL_PRINCIPAL = "equal_principal"  # 等额本金
    INTEREST_ONLY = "interest_only"  # 先息后本
    BULLET = "bullet"  # 到期一次还本付息


class Component(StrEnum):
    """What a payment can pay, in the order a waterfall names them."""

    PENALTY = "penalty"
    FEES = "fees"
    INTEREST = "interest"
    PRINCIPAL = "principal"


DEFAULT_WATERFALL: tuple[Component, ...] = (
    Component.PENALTY,
    Component.FEES,
    Component.INTEREST,
    Component.PRINCIPAL,
)


@dataclass(frozen=True)
class Bucket:
    """A delinquency bucket: days past due from ``min_days`` to ``max_days`` inclusive
    (``max_days`` None: no upper end)."""

    code: str
    min_days: int
    max_days: int | None

    def contains(self, days: int) -> bool:
        return days >= self.min_days and (self.max_days is None or days <= self.max_days)


DEFAULT_BUCKETS: tuple[Bucket, ...] = (
    Bucket("C", 0, 0),
    Bucket("M1", 1, 30),
    Bucket("M2", 31, 60),
    Bucket("M3", 61, 90),
    Bucket("M4", 91, 120),
    Bucket("M5", 121, 150),
    Bucket("M6", 151, 180),
    Bucket("M6+", 181, None),
)


def validate_buckets(buckets: Sequence[Bucket]) -> tuple[Bucket, ...]:
    """Buckets must start at 0, not overlap, leave no gap, and end open."""
    if not buckets:
        raise TermsError("buckets", "at least one bucket is needed")
    ordered = sorted(buckets, key=lambda b: b.min_days)
    codes = [b.code for b in ordered]
    if len(set(codes)) != len(codes):
        raise TermsError("buckets", "bucket codes must be unique")
    if ordered[0].min_days != 0:
        raise TermsError(
            "buckets", f"the first bucket must start at 0 days, not {ordered[0].min_days}"
        )
    for left, right in itertools.pairwise(ordered):
        if left.max_days is None:
            raise TermsError(
                "buckets", f"bucket {left.code} has no upper end but {right.code} follows"
            )
        if left.max_days < left.min_days:
            raise TermsError("buckets", f"bucket {left.code} ends before it starts")
        if right.min_days <= left.max_days:
            raise TermsError("buckets", f"buckets {left.code} and {right.code} overlap")
        if right.min_days != left.max_days + 1:
            raise TermsError("buckets", f"gap between buckets {left.code} and {right.code}")
    if ordered[-1].max_days is not None:
        raise TermsError("buckets", f"the last bucket {ordered[-1].code} must have no upper end")
    return tuple(ordered)


def bucket_for(days_past_due: int, buckets: Sequence[Bucket] = DEFAULT_BUCKETS) -> str:
    for bucket in buckets:
        if bucket.contains(days_past_due):
            return bucket.code
    raise TermsError("days_past_due", f"{days_past_due} is in no bucket")


def bucket_changes(buckets: Sequence[Bucket]) -> tuple[str, tuple[tuple[int, str], ...]]:
    """Where the bucket changes as days past due climb one a day from 0: the bucket of 0
    days, and (days past due, bucket entered) at each bound where it changes, ascending.
    Between two bounds the bucket is constant, so these are all the changes there are."""
    bounds = sorted(
        {b.min_days for b in buckets} | {b.max_days + 1 for b in buckets if b.max_days is not None}
    )
    first = current = bucket_for(0, buckets)
    changes: list[tuple[int, str]] = []
    for bound in bounds:
        if bound < 1:
            continue
        code = bucket_for(bound, buckets)
        if code != current:
            changes.append((bound, code))
            current = code
    return first, tuple(changes)


@dataclass(frozen=True)
class ProductRules:
    """What a product sets for all its loans: allocation, tolerance, buckets, penalty."""

    waterfall: tuple[Component, ...] = DEFAULT_WATERFALL
    # An instalment unpaid by at most this much does not count as past due (minor units).
    tolerance: int = 100
    buckets: tuple[Bucket, ...] = DEFAULT_BUCKETS
    # Penalty interest (罚息) per day on overdue principal, and its cap as a share of the
    # loan's principal over the life of the loan.
    penalty_daily_rate: Decimal = Decimal("0.0005")
    penalty_cap_ratio: Decimal = Decimal("0.10")

    def __post_init__(self) -> None:
        if sorted(self.waterfall) != sorted(Component) or len(self.waterfall) != len(Component):
            raise TermsError(
                "waterfall", "must name penalty, fees, interest and principal once each"
            )
        if self.tolerance < 0:
            raise TermsError("tolerance", "must not be negative")
        validate_buckets(self.buckets)
        if not (Decimal(0) <= self.penalty_daily_rate <= Decimal("0.01")):
            raise TermsError("penalty_daily_rate", "must be between 0 and 0.01 a day")
        if not (Decimal(0) <= self.penalty_cap_ratio <= Decimal(1)):
            raise TermsError("penalty_cap_ratio", "must be between 0 and 1")


MAX_TERM_MONTHS = 360
# 10,000,000,000.00 in minor units: far above any consumer loan, far below what a BIGINT
# holds once interest, fees and penalty are added.
MAX_PRINCIPAL = 10**12


@dataclass(frozen=True)
class LoanTerms:
    principal: int
    annual_rate: Decimal
    term_months: int
    start_date: date
    method: RepaymentMethod
    upfront_fee: int = 0  # paid at disbursement (deducted from what the borrower receives)
    periodic_fee: int = 0  # added to every instalment
    currency: str = "CNY"

    def __post_init__(self) -> None:
        if not isinstance(self.principal, int) or self.principal <= 0:
            raise TermsError("principal", "must be a positive whole number of minor units")
        if self.principal > MAX_PRINCIPAL:
            raise TermsError("principal", f"must be at most {MAX_PRINCIPAL} minor units")
        if not isinstance(self.annual_rate, Decimal):
            raise TermsError("annual_rate", "must be a Decimal fraction (0.18 for 18%)")
        if self.annual_rate < 0:
            raise TermsError("annual_rate", "must not be negative")
        if self.annual_rate > 1:
            raise TermsError("annual_rate", f"{self.annual_rate} is above 100% a year")
        if not isinstance(self.term_months, int) or not 1 <= self.term_months <= MAX_TERM_MONTHS:
            raise TermsError("term_months", f"must be between 1 and {MAX_TERM_MONTHS} months")
        if not isinstance(self.method, RepaymentMethod):
            raise TermsError("method", f"unknown repayment method {self.method!r}")
        # Fee bounds keep the annualised cost a number a person can read (and a column can
        # hold); fees anywhere near them are flagged by the legal caps long before.
        if self.upfront_fee < 0 or self.upfront_fee > self.principal // 2:
            raise TermsError("upfront_fee", "must be between 0 and half the principal")
        if self.periodic_fee < 0 or self.periodic_fee > self.principal:
            raise TermsError("periodic_fee", "must be between 0 and the principal")
        if len(self.currency) != 3 or not self.currency.isupper():
            raise TermsError("currency", "must be an ISO 4217 code such as CNY")


@dataclass(frozen=True)
class Instalment:
    number: int  # 1-based
    due_date: date
    principal: int
    interest: int
    fee: int = 0

    @property
    def total(self) -> int:
        return self.principal + self.interest + self.fee


@dataclass(frozen=True)
class Payment:
    """Money received. A reversed payment is left out of every replay (it never happened)."""

    id: int
    paid_date: date
    amount: int
    reversed: bool = False


@dataclass(frozen=True)
class Pause:
    """Delinquency paused (hardship, dispute) from ``start`` to ``end`` exclusive (None: open)."""

    start: date
    end: date | None = None
    reason: str = ""

    def covers(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day < self.end)


@dataclass(frozen=True)
class LedgerInput:
    terms: LoanTerms
    schedule: tuple[Instalment, ...]
    rules: ProductRules = field(default_factory=ProductRules)
    payments: tuple[Payment, ...] = ()
    pauses: tuple[Pause, ...] = ()
    charged_off_date: date | None = None

"""A deterministic demo portfolio whose delinquency rolls like real data.

Every loan starts current (``C``). At each due date up to ``as_of`` its next monthly
delinquency state is drawn from ``TRANSITIONS``, a matrix estimated from real credit card
repayment histories, and the state path is turned into the payments that produce it:

* ``C`` after ``C``: the instalment is paid on its due date (auto-debit, exact amount); now
  and then 1-5 days late, within the month. Never before (the ledger, fairdun.loans.ledger
  rule 2, would settle it all the same: early money goes to the current instalment first).
* a step to a better state, or staying in ``M1``..``M3``: one payment, on a day in the two
  weeks after the due date, of the instalments (with an estimate of the penalty interest,
  rounded up to a yuan) that leave the loan in the new state; staying in ``Mk`` is paying
  one instalment a month while ``k`` stay behind;
* a step to a worse state: nothing that month, sometimes a partial payment that cures
  nothing.

State ``Mk`` after due date ``t`` is the bucket 15 days after ``t``: the oldest unsettled
instalment fell due ``k - 1`` months before ``t``, so the loan is ``30(k-1)+15`` or so days
past due, inside the ``Mk`` bucket of ``DEFAULT_BUCKETS``; ``M4+`` is four months or more
(buckets M4 to M6+). After the last due date the loan keeps rolling monthly until it is paid
off or charged off; there, and for a bullet loan, a drawn state that no payment can produce
gives way to the nearest one that can (ties to the better). A loan
``CHARGE_OFF_AFTER_MONTHS`` months in a row in ``M4+`` is charged off with
``CHARGE_OFF_PROBABILITY`` each month. Disputes, hardship pauses and placements with the
collection agency are drawn on top with the shares below; a hardship pause is recorded, not
acted out (the ledger stops counting days past due while it lasts).

Pure: no clock, no file, no global random state. The same arguments give the same loans.
Every personal detail is fake (see ``DemoBorrower``).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import TypeVar

from fairdun.loans.schedule import add_months, build_schedule
from fairdun.loans.terms import Instalment, LoanTerms, Pause, Payment, RepaymentMethod

STATES: tuple[str, ...] = ("C", "M1", "M2", "M3", "M4+")

# Estimated on 2026-11-29 by tools/estimate_transitions.py
# from uci-taiwan-credit-default/UCI_Credit_Card.csv ("Default of credit card clients",
# Yeh & Lien 2009, UCI, CC BY 4.0): repayment status X11..X6 = Apr..Sep 2005 of 30,000
# clients, 150,000 month-to-month transitions, codes -2/-1/0 -> C, 1, 2, 3, >=4 -> M4+.
# The data records 6,209 jumps from C straight to M2, which no loan can make in a month;
# each client's path was folded to the greatest path that worsens by at most one state a
# month (s[t] = min(x[t], s[t-1] + 1)), changing 5,948 clients. Rows are the folded counts
# row-normalised and rounded to 4 decimals by largest remainder: every row sums to 1.
# Reproduce (and paste the printed block here):
#   .venv/bin/python tools/estimate_transitions.py \
#       ../shared/data/uci-taiwan-credit-default/UCI_Credit_Card.csv
# tests/tools/test_estimate_transitions.py checks these numbers against the data.
TRANSITION_COUNTS: dict[str, dict[str, int]] = {
    "C": {"C": 123723, "M1": 8069, "M2": 0, "M3": 0, "M4+": 0},
    "M1": {"C": 2019, "M1": 864, "M2": 2369, "M3": 0, "M4+": 0},
    "M2": {"C": 2180, "M1": 886, "M2": 7479, "M3": 804, "M4+": 0},
    "M3": {"C": 108, "M1": 79, "M2": 311, "M3": 159, "M4+": 234},
    "M4+": {"C": 23, "M1": 33, "M2": 161, "M3": 34, "M4+": 465},
}
TRANSITIONS: dict[str, dict[str, float]] = {
    "C": {"C": 0.9388, "M1": 0.0612, "M2": 0.0, "M3": 0.0, "M4+": 0.0},
    "M1": {"C": 0.3844, "M1": 0.1645, "M2": 0.4511, "M3": 0.0, "M4+": 0.0},
    "M2": {"C": 0.1921, "M1": 0.0781, "M2": 0.659, "M3": 0.0708, "M4+": 0.0},
    "M3": {"C": 0.1212, "M1": 0.0887, "M2": 0.349, "M3": 0.1785, "M4+": 0.2626},
    "M4+": {"C": 0.0321, "M1": 0.0461, "M2": 0.2249, "M3": 0.0475, "M4+": 0.6494},
}

# Behaviour around the matrix: chosen for the demo, not estimated.
DISPUTED_SHARE = 0.03
HARDSHIP_PAUSE_SHARE = 0.02
HARDSHIP_PAUSE_DAYS = (30, 90)
AGENCY_SHARE_PAST_90_DAYS = 0.10  # of loans that ever reached M4+ (more than 90 days)
CHARGE_OFF_AFTER_MONTHS = 3  # consecutive months in M4+ (about 180 days past due)
CHARGE_OFF_PROBABILITY = 0.5  # each month from then on
LATE_WITHIN_MONTH_SHARE = 0.08  # current borrowers paying 1-5 days late
LATE_PAYMENT_DAYS = 14  # a catch-up payment falls within this many days after a due date
PARTIAL_PAYMENT_SHARE = 0.2  # months without a settling payment that see a partial one
PARTIAL_PAYMENT_RANGE = (0.1, 0.5)  # of the oldest unsettled instalment
# Catch-up payments include penalty interest at the platform's default product rules
# (ProductRules: 0.05% a day on overdue principal, at most 10% of the principal), rounded
# up to a whole yuan so they cure what they are meant to cure; the ledger replay decides.
PENALTY_DAILY_RATE = Decimal("0.0005")
PENALTY_CAP_RATIO = Decimal("0.10")

HORIZON_DAYS = 1095  # start dates spread over the 36 months before as_of


@dataclass(frozen=True)
class Product:
    code: str
    name: str
    weight: int
    methods: tuple[tuple[RepaymentMethod, int], ...]
    terms: tuple[int, ...]
    principal_yuan: tuple[int, int]
    annual_rate: tuple[Decimal, Decimal]
    upfront_fee_share: float  # loans with a service fee deducted at disbursement
    periodic_fee_share: float  # loans with a monthly fee (分期手续费) on every instalment


PRODUCTS: tuple[Product, ...] = (
    Product(
        "cash",
        "个人消费贷",
        35,
        ((RepaymentMethod.EQUAL_INSTALMENT, 85), (RepaymentMethod.EQUAL_PRINCIPAL, 15)),
        (12, 24, 36),
        (10_000, 200_000),
        (Decimal("0.072"), Decimal("0.18")),
        0.10,
        0.0,
    ),
    Product(
        "instalment",
        "消费分期",
        44,
        ((RepaymentMethod.EQUAL_INSTALMENT, 80), (RepaymentMethod.EQUAL_PRINCIPAL, 20)),
        (3, 6, 12, 24),
        (1_000, 50_000),
        (Decimal("0.10"), Decimal("0.24")),
        0.05,
        0.05,
    ),
    Product(
        "interest-first",
        "先息后本",
        15,
        ((RepaymentMethod.INTEREST_ONLY, 1),),
        (3, 6, 12),
        (5_000, 100_000),
        (Decimal("0.12"), Decimal("0.24")),
        0.10,
        0.0,
    ),
    Product(
        "short-term",
        "短期周转",
        6,
        ((RepaymentMethod.BULLET, 1),),
        (3, 6),
        (1_000, 20_000),
        (Decimal("0.12"), Decimal("0.36")),
        0.20,
        0.0,
    ),
)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
GIVEN_NAME_CHARACTERS = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬鹏辉建国志浩宇欣怡佳琪"
)
CITIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("北京市", ("朝阳区", "海淀区", "丰台区")),
    ("上海市", ("浦东新区", "徐汇区", "闵行区")),
    ("广州市", ("天河区", "越秀区", "番禺区")),
    ("深圳市", ("南山区", "福田区", "龙岗区")),
    ("杭州市", ("西湖区", "拱墅区", "余杭区")),
    ("成都市", ("武侯区", "锦江区", "双流区")),
    ("武汉市", ("洪山区", "江汉区", "武昌区")),
    ("南京市", ("鼓楼区", "玄武区", "江宁区")),
    ("西安市", ("雁塔区", "碑林区", "未央区")),
    ("重庆市", ("渝北区", "江北区", "沙坪坝区")),
)
# No province has code 99 (real codes run 11-82), so every number is visibly fictional;
# the birth date and the GB 11643 check character are valid so validators accept it.
FAKE_REGION_PREFIX = "99"
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


@dataclass(frozen=True)
class DemoBorrower:
    """A fake borrower. The ID number's region (99xxxx) exists nowhere; the mobile number
    starts 100, which no operator uses; the e-mail is at example.com (RFC 2606); the address
    is on a 示范路 (demo road)."""

    external_id: str
    name: str
    id_number: str
    phone: str
    email: str
    city: str
    address: str


@dataclass(frozen=True)
class DemoLoan:
    external_id: str
    lender: str  # institution key, as in fairdun.demo.seed.INSTITUTIONS
    borrower: DemoBorrower
    product_code: str
    terms: LoanTerms
    payments: tuple[Payment, ...]
    pauses: tuple[Pause, ...]
    disputed: bool
    charged_off_date: date | None
    placed_with_agency: bool
    # The monthly state after each due date (and each month after the last one) up to
    # as_of; the path starts from an implicit C at the start date.
    states: tuple[str, ...]


_T = TypeVar("_T")


def id_check_character(first17: str) -> str:
    """GB 11643-1999 (ISO 7064 MOD 11-2) check character of the first 17 digits."""
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def generate(
    n_loans: int = 5000,
    *,
    seed: int = 20261129,
    lenders: Sequence[str] = ("bank", "cfc"),
    as_of: date,
) -> Iterator[DemoLoan]:
    """``n_loans`` demo loans as of ``as_of``. Loan ``i`` depends only on ``seed`` and ``i``,
    so a smaller portfolio is a prefix of a larger one."""
    if n_loans < 0:
        raise ValueError("n_loans must not be negative")
    if not lenders:
        raise ValueError("at least one lender is needed")
    return _loans(n_loans, seed, tuple(lenders), as_of)


def _loans(n_loans: int, seed: int, lenders: tuple[str, ...], as_of: date) -> Iterator[DemoLoan]:
    for index in range(n_loans):
        # One generator per loan, seeded from a string (hashed with SHA-512 by random,
        # independent of PYTHONHASHSEED), so loans do not depend on each other.
        rng = random.Random(f"fairdun-demo/{seed}/{index}")  # noqa: S311 - not for secrets
        yield _loan(rng, index, lenders, as_of)


def _weighted(rng: random.Random, options: Sequence[tuple[_T, int]]) -> _T:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


def _loan(rng: random.Random, index: int, lenders: tuple[str, ...], as_of: date) -> DemoLoan:
    lender = rng.choice(lenders)
    product = _weighted(rng, [(p, p.weight) for p in PRODUCTS])
    terms = _terms(rng, product, as_of)
    borrower = _borrower(rng, index, terms.start_date)
    roll = _roll(rng, terms, build_schedule(terms), as_of)
    ever_90 = "M4+" in roll.states
    pauses: tuple[Pause, ...] = ()
    if rng.random() < HARDSHIP_PAUSE_SHARE:
        pauses = (_hardship_pause(rng, terms.start_date, roll, as_of),)
    disputed = rng.random() < DISPUTED_SHARE
    placed = ever_90 and rng.random() < AGENCY_SHARE_PAST_90_DAYS
    return DemoLoan(
        external_id=f"{lender.upper()}-L{index + 1:07d}",
        lender=lender,
        borrower=borrower,
        product_code=product.code,
        terms=terms,
        payments=roll.payments,
        pauses=pauses,
        disputed=disputed,
        charged_off_date=roll.charged_off_date,
        placed_with_agency=placed,
        states=roll.states,
    )


def _terms(rng: random.Random, product: Product, as_of: date) -> LoanTerms:
    low, high = product.principal_yuan
    # Log-uniform: small loans are far more common than large ones.
    yuan = math.exp(rng.uniform(math.log(low), math.log(high)))
    principal = max(low, min(high, round(yuan / 100) * 100)) * 100
    rate_low, rate_high = (int(r * 10_000) for r in product.annual_rate)
    annual_rate = Decimal(rng.randint(rate_low, rate_high)) / 10_000
    upfront_fee = 0
    if rng.random() < product.upfront_fee_share:
        upfront_fee = principal * rng.randint(1, 5) // 100
    periodic_fee = 0
    if rng.random() < product.periodic_fee_share:
        periodic_fee = principal * rng.randint(20, 75) // 10_000
    return LoanTerms(
        principal=principal,
        annual_rate=annual_rate,
        term_months=rng.choice(product.terms),
        start_date=as_of - timedelta(days=rng.randint(1, HORIZON_DAYS)),
        method=_weighted(rng, product.methods),
        upfront_fee=upfront_fee,
        periodic_fee=periodic_fee,
    )


def _borrower(rng: random.Random, index: int, start: date) -> DemoBorrower:
    given = "".join(rng.choices(GIVEN_NAME_CHARACTERS, k=rng.choice((1, 2, 2))))
    birth = start - timedelta(days=rng.randint(20 * 365, 60 * 365))
    region = FAKE_REGION_PREFIX + f"{rng.randrange(10_000):04d}"
    first17 = f"{region}{birth:%Y%m%d}{rng.randrange(1000):03d}"
    city, districts = rng.choice(CITIES)
    district = rng.choice(districts)
    address = (
        f"{city}{district}示范路{rng.randint(1, 999)}号"
        f"{rng.randint(1, 30)}栋{rng.randint(1, 33)}{rng.randint(1, 4):02d}室"
    )
    number = index + 1
    return DemoBorrower(
        external_id=f"CUST-{number:07d}",
        name=rng.choice(SURNAMES) + given,
        id_number=first17 + id_check_character(first17),
        phone=f"+86 100 {number // 10_000:04d} {number % 10_000:04d}",
        email=f"demo.borrower{number:07d}@example.com",
        city=city,
        address=address,
    )


@dataclass(frozen=True)
class _Roll:
    payments: tuple[Payment, ...]
    states: tuple[str, ...]
    state_dates: tuple[date, ...]
    charged_off_date: date | None


def _month_index(start: date, day: date) -> int:
    return (day.year - start.year) * 12 + day.month - start.month


def _draw(rng: random.Random, state: int) -> int:
    row = TRANSITIONS[STATES[state]]
    return rng.choices(range(len(STATES)), weights=[row[s] for s in STATES])[0]


def _roll(
    rng: random.Random,
    terms: LoanTerms,
    schedule: tuple[Instalment, ...],
    as_of: date,
) -> _Roll:
    start = terms.start_date
    months = [_month_index(start, i.due_date) for i in schedule]
    n = len(schedule)
    penalty_cap = int(terms.principal * PENALTY_CAP_RATIO)
    payments: list[Payment] = []
    states: list[str] = []
    state_dates: list[date] = []
    paid = 0  # instalments settled, oldest first
    partly = 0  # partial payments made on the oldest unsettled instalment
    state = 0
    months_in_m4 = 0
    charged_off: date | None = None

    def pay(day: date, amount: int) -> None:
        payments.append(Payment(id=len(payments) + 1, paid_date=day, amount=amount))

    def day_in_month(due: date) -> date:
        # Never before the due date: each month's payment is made in that month. (Paid early,
        # the money would still reach this instalment once older ones are settled: rule 2.)
        last = min(as_of, due + timedelta(days=LATE_PAYMENT_DAYS))
        return due + timedelta(days=rng.randint(0, (last - due).days))

    for position in itertools.count():
        if position < n:
            t, due = months[position], schedule[position].due_date
        else:
            t = months[-1] + position - n + 1
            due = add_months(start, t)
        if due > as_of or paid == n:
            break
        due_count = min(position + 1, n)
        target = _draw(rng, state)
        # Every way the borrower can stand after this month is "settled up to instalment
        # q". Before maturity on a monthly schedule each drawn state is exactly one of them;
        # after maturity (or for a bullet loan) the nearest is taken, ties to the better.
        options = (
            (0 if q == due_count else min(4, t - months[q] + 1), q)
            for q in range(paid, due_count + 1)
        )
        new_state, upto = min(options, key=lambda o: (abs(o[0] - target), o[0], o[1]))
        if upto > paid:
            on_time = state == 0 and new_state == 0
            if on_time and rng.random() >= LATE_WITHIN_MONTH_SHARE:
                day = due
            elif on_time:
                day = min(as_of, due + timedelta(days=rng.randint(1, 5)))
            else:
                day = day_in_month(due)
            settling = schedule[paid:upto]
            # Penalty estimated high (full principal, one day more) so the payment surely
            # settles what it is meant to; the ledger keeps any excess for the borrower.
            estimate = sum(
                math.ceil(i.principal * PENALTY_DAILY_RATE * ((day - i.due_date).days + 1))
                for i in settling
                if day > i.due_date
            )
            needed = sum(i.total for i in settling) + min(estimate, penalty_cap) - partly
            # Who pays on the due date pays the exact amount due; anyone else a round yuan.
            pay(day, needed if day == due and partly == 0 else math.ceil(needed / 100) * 100)
            paid, partly = upto, 0
        elif rng.random() < PARTIAL_PAYMENT_SHARE:
            oldest = schedule[paid].total
            amount = int(oldest * rng.uniform(*PARTIAL_PAYMENT_RANGE)) // 100 * 100
            # Never enough to settle the oldest instalment: a partial payment cures nothing.
            if amount > 0 and partly + amount < oldest // 2:
                pay(day_in_month(due), amount)
                partly += amount
        state = new_state
        states.append(STATES[state])
        state_dates.append(due)
        months_in_m4 = months_in_m4 + 1 if state == 4 else 0
        if months_in_m4 >= CHARGE_OFF_AFTER_MONTHS and rng.random() < CHARGE_OFF_PROBABILITY:
            charged_off = min(as_of, due + timedelta(days=15))
            break
    return _Roll(tuple(payments), tuple(states), tuple(state_dates), charged_off)


def _hardship_pause(rng: random.Random, start: date, roll: _Roll, as_of: date) -> Pause:
    """A hardship pause, asked for soon after the loan first fell behind (or at any time)."""
    behind = [d for s, d in zip(roll.states, roll.state_dates, strict=True) if s != "C"]
    if behind:
        begin = min(as_of, behind[0] + timedelta(days=rng.randint(3, 20)))
    else:
        begin = start + timedelta(days=rng.randint(1, max(1, (as_of - start).days)))
    days = rng.randint(*HARDSHIP_PAUSE_DAYS)
    return Pause(start=begin, end=begin + timedelta(days=days), reason="hardship")

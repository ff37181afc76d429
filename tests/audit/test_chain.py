"""The pure hash-chain arithmetic: any altered, removed or reordered record is named by id."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fairdun.audit.chain import GENESIS, Entry, canonical_details, compute_hash, verify

T0 = datetime(2026, 11, 29, 9, 30, 0, 123456, tzinfo=UTC)

FIELDS = ("actor", "action", "target", "details", "institution_id", "decided_by", "created_at")


@dataclasses.dataclass(frozen=True)
class Spec:
    created_at: datetime
    actor: str
    action: str
    target: str
    institution_id: int | None
    details: str
    decided_by: str | None


def build(specs: list[Spec], first_id: int = 1) -> list[Entry]:
    entries: list[Entry] = []
    prev = GENESIS
    for offset, spec in enumerate(specs):
        values = dataclasses.asdict(spec)
        digest = compute_hash(**values, prev_hash=prev)
        entries.append(Entry(id=first_id + offset, prev_hash=prev, hash=digest, **values))
        prev = digest
    return entries


def sample_chain(n: int = 5) -> list[Entry]:
    return build(
        [
            Spec(
                created_at=T0 + timedelta(seconds=i),
                actor=f"user:{i}",
                action="institution.created" if i % 2 else "user.created",
                target=f"institution:{i}",
                institution_id=i if i % 3 else None,
                details=canonical_details({"n": i, "名称": "示范银行"}),
                decided_by="compliance:7" if i == 2 else None,
            )
            for i in range(n)
        ]
    )


def altered(entry: Entry, field: str) -> Entry:
    """The entry with one field changed to a different value (and the stored hash kept)."""
    value: Any = getattr(entry, field)
    new: Any
    if field == "created_at":
        new = value + timedelta(microseconds=1)
    elif field == "institution_id":
        new = 0 if value is None else value + 1
    elif field == "decided_by":
        new = "someone-else" if value is None else None
    elif field in ("prev_hash", "hash"):
        new = "f" * 64 if value != "f" * 64 else "e" * 64
    else:
        new = value + "x"
    assert new != value
    return dataclasses.replace(entry, **{field: new})


def test_empty_chain_is_intact() -> None:
    result = verify([])
    assert result.ok
    assert result.checked == 0
    assert result.broken_id is None
    assert result.problem is None


def test_chain_built_with_compute_hash_verifies() -> None:
    chain = sample_chain()
    result = verify(chain)
    assert result.ok
    assert result.checked == len(chain)


def test_chain_starts_at_genesis_and_links_each_record_to_the_previous() -> None:
    chain = sample_chain()
    assert chain[0].prev_hash == GENESIS == "0" * 64
    for before, after in itertools.pairwise(chain):
        assert after.prev_hash == before.hash


def test_verify_accepts_any_iterable_once() -> None:
    assert verify(iter(sample_chain())).ok


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("index", [0, 2, 4])
def test_altering_any_field_of_any_record_is_caught_at_that_record(field: str, index: int) -> None:
    chain = sample_chain()
    chain[index] = altered(chain[index], field)
    result = verify(chain)
    assert result.broken_id == chain[index].id
    assert result.checked == index
    assert result.problem is not None
    assert "altered" in result.problem


def test_altering_a_stored_hash_is_caught_at_that_record() -> None:
    chain = sample_chain()
    chain[1] = altered(chain[1], "hash")
    result = verify(chain)
    assert result.broken_id == chain[1].id
    assert result.problem is not None
    assert "altered" in result.problem


def test_rewriting_a_record_and_its_hash_breaks_the_next_link() -> None:
    chain = sample_chain()
    forged = dataclasses.replace(chain[2], details=canonical_details({"n": 999}))
    forged = dataclasses.replace(
        forged,
        hash=compute_hash(
            created_at=forged.created_at,
            actor=forged.actor,
            action=forged.action,
            target=forged.target,
            institution_id=forged.institution_id,
            details=forged.details,
            decided_by=forged.decided_by,
            prev_hash=forged.prev_hash,
        ),
    )
    chain[2] = forged
    result = verify(chain)
    assert result.broken_id == chain[3].id
    assert result.problem is not None
    assert "link" in result.problem


@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_removing_a_record_is_caught_as_a_broken_link_at_the_next_record(index: int) -> None:
    chain = sample_chain()
    next_id = chain[index + 1].id
    del chain[index]
    result = verify(chain)
    assert result.broken_id == next_id
    assert result.checked == index
    assert result.problem is not None
    assert "link" in result.problem


@pytest.mark.parametrize(("i", "j"), [(0, 1), (1, 3), (3, 4), (0, 4)])
def test_swapping_two_records_is_caught_at_the_first_moved_record(i: int, j: int) -> None:
    chain = sample_chain()
    chain[i], chain[j] = chain[j], chain[i]
    result = verify(chain)
    assert result.broken_id == chain[i].id
    assert result.checked == i
    assert result.problem is not None
    assert "link" in result.problem


def test_first_record_must_link_to_genesis() -> None:
    chain = sample_chain()
    chain[0] = altered(chain[0], "prev_hash")
    result = verify(chain)
    assert result.broken_id == chain[0].id
    assert result.problem is not None
    assert "link" in result.problem


def test_only_the_first_broken_record_is_named() -> None:
    chain = sample_chain()
    chain[1] = altered(chain[1], "actor")
    chain[3] = altered(chain[3], "action")
    assert verify(chain).broken_id == chain[1].id


def test_ids_are_reported_as_stored_not_as_positions() -> None:
    chain = build([Spec(T0, "a", "b", "c", None, "{}", None)] * 3, first_id=41)
    chain[2] = altered(chain[2], "target")
    assert verify(chain).broken_id == 43


def test_hash_is_independent_of_the_time_zone_of_the_same_instant() -> None:
    beijing = T0.astimezone(timezone(timedelta(hours=8)))
    common: dict[str, Any] = {
        "actor": "a",
        "action": "b",
        "target": "c",
        "institution_id": 1,
        "details": "{}",
        "decided_by": None,
        "prev_hash": GENESIS,
    }
    assert compute_hash(created_at=T0, **common) == compute_hash(created_at=beijing, **common)


def test_hash_is_lowercase_hex_sha256() -> None:
    digest = sample_chain(1)[0].hash
    assert len(digest) == 64
    assert digest == digest.lower()
    assert int(digest, 16) >= 0


def test_canonical_details_sorts_keys_and_keeps_chinese() -> None:
    assert canonical_details({"b": 1, "a": "示范"}) == '{"a":"示范","b":1}'
    assert canonical_details({"b": 1, "a": 2}) == canonical_details({"a": 2, "b": 1})


def test_canonical_details_encodes_non_json_values_as_text() -> None:
    assert canonical_details({"at": T0}) == '{"at":"2026-11-29 09:30:00.123456+00:00"}'


def test_none_and_empty_values_hash_differently() -> None:
    base: dict[str, Any] = {
        "created_at": T0,
        "actor": "a",
        "action": "b",
        "target": "",
        "details": "{}",
        "prev_hash": GENESIS,
    }
    assert compute_hash(**base, institution_id=None, decided_by=None) != compute_hash(
        **base, institution_id=0, decided_by=None
    )
    assert compute_hash(**base, institution_id=None, decided_by=None) != compute_hash(
        **base, institution_id=None, decided_by=""
    )


# --- properties ------------------------------------------------------------------------

texts = st.text(max_size=12)
specs = st.builds(
    Spec,
    created_at=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    actor=texts,
    action=texts,
    target=texts,
    institution_id=st.none() | st.integers(1, 10**9),
    details=st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5)).map(
        canonical_details
    ),
    decided_by=st.none() | texts,
)
chains = st.lists(specs, min_size=1, max_size=8).map(build)


@given(chain=chains)
def test_any_honest_chain_verifies(chain: list[Entry]) -> None:
    result = verify(chain)
    assert result.ok
    assert result.checked == len(chain)


@given(chain=chains, data=st.data())
def test_any_single_field_tamper_is_caught_at_that_record(
    chain: list[Entry], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(chain) - 1), label="index")
    field = data.draw(st.sampled_from((*FIELDS, "prev_hash", "hash")), label="field")
    chain[index] = altered(chain[index], field)
    result = verify(chain)
    assert result.broken_id == chain[index].id
    assert result.checked == index


@given(chain=chains.filter(lambda c: len(c) >= 2), data=st.data())
def test_any_removal_except_the_last_is_caught_at_the_next_record(
    chain: list[Entry], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(chain) - 2), label="index")
    next_id = chain[index + 1].id
    del chain[index]
    assert verify(chain).broken_id == next_id


@given(chain=chains.filter(lambda c: len(c) >= 2), data=st.data())
def test_any_swap_is_caught_at_the_first_moved_record(
    chain: list[Entry], data: st.DataObject
) -> None:
    i = data.draw(st.integers(0, len(chain) - 2), label="i")
    j = data.draw(st.integers(i + 1, len(chain) - 1), label="j")
    chain[i], chain[j] = chain[j], chain[i]
    result = verify(chain)
    assert result.broken_id == chain[i].id
    assert result.checked == i

"""Pure rules of contact parties: lawful sources, number normalisation, which point serves
which channel, which outcomes a channel can have, and the one message a contact person
may ever be given. No session, no clock, no I/O."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from fairdun.compliance.events import Channel, Outcome
from fairdun.contacts.models import PointKind, PointSource

# Sources that are refused at the door, with the reason shown to whoever tried. There is no
# bulk import anywhere in the product; these exist only so that the refusal says why.
REFUSED_SOURCES: dict[str, str] = {
    "device_address_book": (
        "a device address book (通讯录) is not a lawful source: the borrower's contacts never "
        "agreed to be collection contacts, and a lender may not demand the address book "
        "(PIPL arts. 5, 6, 13; CAC 2021 necessary-information rules for lending apps)"
    ),
    "call_log": (
        "call logs (通话记录) are not a lawful source: scraping them collects third parties' "
        "data without any basis (PIPL arts. 5, 6, 13)"
    ),
    "purchased_list": (
        "a purchased list is not a lawful source: personal information bought from others "
        "has no basis for collection contact (PIPL arts. 10, 13)"
    ),
    "scraped": (
        "scraped data is not a lawful source: collecting numbers by crawling has no basis "
        "(PIPL arts. 5, 10, 13)"
    ),
    "social_graph": (
        "a social graph (friends, followers, chat groups) is not a lawful source: those people "
        "are unrelated third parties (PIPL arts. 5, 13; 软暴力 opinions on 爆通讯录)"
    ),
}


def check_source(value: str) -> PointSource:
    """The source as a :class:`PointSource`, or ValueError saying why it is refused."""
    reason = REFUSED_SOURCES.get(value)
    if reason is not None:
        raise ValueError(reason)
    try:
        return PointSource(value)
    except ValueError:
        allowed = ", ".join(s.value for s in PointSource)
        raise ValueError(f"unknown source {value!r}; a lawful source is one of {allowed}") from None


_PHONE_NOISE = re.compile(r"[\s\-().]")
_E164 = re.compile(r"^\+[1-9][0-9]{5,14}$")


def normalise_phone(value: str, default_country: str = "86") -> str:
    """E.164 (``+8613900000000``), or ValueError. A national number without ``+`` or
    ``00`` is taken to be in the default country (mainland China for the cn pack), so the
    same number always gets the same blind index and shield hash."""
    text = _PHONE_NOISE.sub("", value.strip())
    if text.startswith("00"):
        text = "+" + text[2:]
    elif not text.startswith("+"):
        text = "+" + default_country + text.lstrip("0")
    if not _E164.match(text):
        raise ValueError(f"not a phone number: {value!r}")
    return text


def normalise(kind: PointKind, value: str, default_country: str = "86") -> str:
    if kind == PointKind.PHONE:
        return normalise_phone(value, default_country)
    text = value.strip()
    if not text:
        raise ValueError("empty")
    if kind == PointKind.EMAIL:
        if not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", text):
            raise ValueError(f"not an e-mail address: {value!r}")
        return text.lower()
    return text


def check_timezone(name: str) -> str:
    """An IANA zone name, or ValueError. Empty means 'unknown' and is allowed here: the
    gate then denies every contact that needs local time."""
    if name == "":
        return name
    try:
        ZoneInfo(name)
    except (ValueError, OSError, KeyError):
        raise ValueError(f"{name!r} is not a known IANA time zone") from None
    return name


# Which kind of point a channel reaches; push and in-app messages need no point of ours and
# are not offered by the gate yet.
POINT_FOR_CHANNEL: dict[Channel, PointKind] = {
    Channel.CALL: PointKind.PHONE,
    Channel.SMS: PointKind.PHONE,
    Channel.EMAIL: PointKind.EMAIL,
    Channel.LETTER: PointKind.ADDRESS,
    Channel.VISIT: PointKind.ADDRESS,
}

# The outcomes a channel can have.
CALL_OUTCOMES = frozenset(
    {
        Outcome.NOT_CONNECTED,
        Outcome.NO_ANSWER,
        Outcome.VOICEMAIL,
        Outcome.CONVERSATION,
        Outcome.WRONG_PARTY,
    }
)
MESSAGE_OUTCOMES = frozenset({Outcome.DELIVERED, Outcome.FAILED})
VISIT_OUTCOMES = frozenset({Outcome.NO_ANSWER, Outcome.CONVERSATION, Outcome.WRONG_PARTY})


def outcomes_for(channel: Channel) -> frozenset[Outcome]:
    if channel is Channel.CALL:
        return CALL_OUTCOMES
    if channel is Channel.VISIT:
        return VISIT_OUTCOMES
    return MESSAGE_OUTCOMES


def unreported_outcome(channel: Channel) -> Outcome:
    """A reservation that expired without an outcome counts as placed: for a call or visit,
    an attempt nobody answered; for a message, one that was sent."""
    if channel in (Channel.CALL, Channel.VISIT):
        return Outcome.NO_ANSWER
    return Outcome.DELIVERED


def worst_outcome(channel: Channel) -> Outcome:
    """While a reservation is open its outcome is unknown; the gate assumes the outcome that
    restricts later contacts most (a conversation, or a delivered message), so whatever
    outcome is then recorded, no decision made meanwhile was too lenient."""
    if channel in (Channel.CALL, Channel.VISIT, Channel.IM):
        return Outcome.CONVERSATION
    return Outcome.DELIVERED


# The only text a contact person is ever given: a request to call back, without the lender,
# the debt, an amount or the word overdue (GB/T 45251-2025; CBA 2026 guideline).
CALL_BACK_TEMPLATE = "call-back"
CALL_BACK_ZH = "您好，我们想联系{name}，麻烦您方便时转告其回电。谢谢！"
CALL_BACK_EN = (
    "Hello, we are trying to reach {name}. Could you kindly ask them to call us back? Thank you."
)


def call_back_message(debtor_name: str, locale: str) -> str:
    """The call-back request naming only the person sought (surname plus 先生/女士 is up to
    the collector; we give the family name only)."""
    family = debtor_name.strip()[:1] if debtor_name.strip() else ""
    if locale == "en":
        return CALL_BACK_EN.format(name=f"Mx {family}" if family else "the person we seek")
    return CALL_BACK_ZH.format(name=f"{family}先生/女士" if family else "您的亲友")


def mask(value: str, kind: PointKind = PointKind.PHONE) -> str:
    """Enough to tell points apart on a screen, not enough to dial."""
    if kind == PointKind.PHONE:
        return value[:3] + "*" * max(len(value) - 7, 0) + value[-4:]
    if kind == PointKind.EMAIL and "@" in value:
        local, domain = value.split("@", 1)
        return local[:1] + "***@" + domain
    return value[:4] + "…"

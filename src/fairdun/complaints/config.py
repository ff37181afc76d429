"""Settings of the reporting platform, with their defaults.

Read from the app's settings when they carry them (``complaint_evidence_dir``,
``complaint_hold``, ``complaint_reports_per_hour``); a test or the CLI can pass its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any


class HoldPolicy(StrEnum):
    """How long a report of abusive collection, linked to the reporter's own loan, pauses
    the collection of that loan (a policy choice, not a verified legal rule)."""

    OFF = "off"  # never
    UNTIL_TRIAGED = "until_triaged"  # until the regulator reviewed it (who may keep it)
    UNTIL_CLOSED = "until_closed"  # until the case is closed


@dataclass(frozen=True)
class ComplaintConfig:
    # Outside the web root (static files are served from the package, never from var/).
    evidence_dir: Path = Path("var/evidence")
    hold: HoldPolicy = HoldPolicy.UNTIL_TRIAGED
    # Per address: generous, because many people share one public address (mobile
    # carriers' NAT), strict enough that a script cannot flood the regulator.
    reports_per_hour: int = 10
    reports_per_day: int = 30

    @classmethod
    def from_settings(cls, settings: Any) -> ComplaintConfig:
        directory = getattr(settings, "complaint_evidence_dir", None)
        hold = getattr(settings, "complaint_hold", None)
        per_hour = getattr(settings, "complaint_reports_per_hour", None)
        return cls(
            evidence_dir=Path(directory) if directory else cls.evidence_dir,
            hold=HoldPolicy(hold) if hold else cls.hold,
            reports_per_hour=int(per_hour) if per_hour else cls.reports_per_hour,
        )

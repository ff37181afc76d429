"""Stored enum values and error codes that templates translate with ``_(value)``.

Listed here with the ``N_`` marker so that ``pybabel extract`` puts them in the catalogs.
"""

from __future__ import annotations


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    return message


LABELS = [
    # roles
    N_("platform_admin"),
    N_("regulator"),
    N_("institution_admin"),
    N_("compliance_officer"),
    N_("collector"),
    N_("risk_analyst"),
    N_("agency_collector"),
    N_("borrower"),
    # institution kinds
    N_("bank"),
    N_("consumer_finance_company"),
    N_("microcredit_company"),
    N_("online_lending_platform"),
    N_("collection_agency"),
    # licence statuses
    N_("active"),
    N_("suspended"),
    N_("revoked"),
    # error codes
    N_("bad_request"),
    N_("unauthenticated"),
    N_("forbidden"),
    N_("not_found"),
    N_("method_not_allowed"),
    N_("conflict"),
    N_("validation_error"),
    N_("no_active_model"),
    N_("too_many_attempts"),
    N_("internal_error"),
    N_("csrf_failed"),
    N_("login_required"),
    N_("collection_blocked"),
    N_("unavailable"),
    # why an institution may not collect (institutions.rules.CollectionCheck.code)
    N_("regulator_does_not_collect"),
    N_("licence_suspended"),
    N_("licence_revoked"),
    N_("no_engagement"),
    N_("engagement_inactive"),
    N_("lender_licence_suspended"),
    N_("lender_licence_revoked"),
    # fixed reasons the system writes into licence history
    N_("registered"),
    # loan statuses, repayment methods, pause reasons
    N_("current"),
    N_("delinquent"),
    N_("paid_off"),
    N_("charged_off"),
    N_("equal_instalment"),
    N_("equal_principal"),
    N_("interest_only"),
    N_("bullet"),
    N_("hardship"),
    N_("dispute"),
    N_("other"),
]

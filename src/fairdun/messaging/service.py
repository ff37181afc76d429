"""Creating, checking and activating message templates.

Activation renders the template with sample values and runs the content checker with the
template's recipient, channel and jurisdiction; any finding refuses the activation. Both
outcomes are audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairdun.audit import service as audit
from fairdun.content.checker import check, make_context
from fairdun.content.types import ContentInputError, ContentUnavailable, Facts, Finding
from fairdun.identity.models import Role
from fairdun.identity.principal import Principal
from fairdun.institutions import repository as institutions_repo
from fairdun.kit.errors import Conflict, Forbidden, Invalid, NotFound, Unavailable
from fairdun.messaging.models import MessageTemplate, TemplateStatus
from fairdun.messaging.render import RenderError, render_sample
from fairdun.messaging.schemas import TemplateCreate

WRITERS = (Role.PLATFORM_ADMIN, Role.INSTITUTION_ADMIN, Role.COMPLIANCE_OFFICER)
# Activation is a compliance decision: the institution's compliance officer or admin.
ACTIVATORS = (Role.PLATFORM_ADMIN, Role.INSTITUTION_ADMIN, Role.COMPLIANCE_OFFICER)


@dataclass(frozen=True)
class CheckResult:
    template: MessageTemplate
    rendered: str
    findings: tuple[Finding, ...]
    activated: bool


def _institution(session: Session, actor: Principal, requested: int | None) -> int:
    if actor.scope is not None:
        if requested not in (None, actor.scope):
            raise NotFound("no such institution")
        return actor.scope
    if requested is None:
        raise Invalid("institution_id", "name the institution this template belongs to")
    if institutions_repo.by_id(session, requested, None) is None:
        raise Invalid("institution_id", "no such institution")
    return requested


def visible(session: Session, actor: Principal) -> list[MessageTemplate]:
    query = select(MessageTemplate).order_by(MessageTemplate.key, MessageTemplate.version)
    if actor.scope is not None:
        query = query.where(MessageTemplate.institution_id == actor.scope)
    return list(session.scalars(query))


def get(session: Session, actor: Principal, template_id: int) -> MessageTemplate:
    template = session.get(MessageTemplate, template_id)
    if template is None or not actor.can_see(template.institution_id):
        raise NotFound("no such template")
    return template


def create(
    session: Session, actor: Principal, data: TemplateCreate, now: datetime
) -> MessageTemplate:
    """A new draft: version 1 of a new key, or the next version of an existing one."""
    if actor.role not in WRITERS:
        raise Forbidden("your role may not write message templates")
    institution_id = _institution(session, actor, data.institution_id)
    try:
        make_context(
            lang=data.lang,
            recipient_role=data.recipient_role,
            channel=data.channel,
            jurisdiction=data.jurisdiction,
        )
    except ContentInputError as exc:
        raise Invalid("template", str(exc)) from None
    try:
        render_sample(f"{data.subject}\n{data.body}", data.lang, "")
    except RenderError as exc:
        raise Invalid("body", str(exc)) from None
    latest = session.scalar(
        select(func.max(MessageTemplate.version)).where(
            MessageTemplate.institution_id == institution_id, MessageTemplate.key == data.key
        )
    )
    template = MessageTemplate(
        institution_id=institution_id,
        key=data.key,
        version=(latest or 0) + 1,
        channel=data.channel,
        lang=data.lang,
        jurisdiction=data.jurisdiction,
        recipient_role=data.recipient_role,
        first_contact=data.first_contact,
        subject=data.subject,
        body=data.body,
        status=TemplateStatus.DRAFT.value,
        created_by=actor.actor,
        created_at=now,
    )
    session.add(template)
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="template.created",
        target=f"template:{template.id}",
        institution_id=institution_id,
        details={"key": template.key, "version": template.version},
        at=now,
    )
    return template


def findings_of(session: Session, template: MessageTemplate) -> tuple[str, list[Finding]]:
    """The sample rendering and the content checker's findings in it."""
    institution = institutions_repo.by_id(session, template.institution_id, None)
    name = institution.name if institution is not None else ""
    text = render_sample(
        f"{template.subject}\n{template.body}" if template.subject else template.body,
        template.lang,
        name,
    )
    ctx = make_context(
        lang=template.lang,
        recipient_role=template.recipient_role,
        channel=template.channel,
        jurisdiction=template.jurisdiction,
        facts=Facts(institution_name=name, first_contact=template.first_contact),
    )
    try:
        return text, check(text, ctx)
    except ContentInputError as exc:
        raise Invalid("body", str(exc)) from None
    except ContentUnavailable as exc:
        raise Unavailable(str(exc)) from None  # fail closed: nothing is activated


def activate(session: Session, actor: Principal, template_id: int, now: datetime) -> CheckResult:
    """Activate the template if the content checker finds nothing; otherwise leave every
    template as it was and return the findings. Either way the decision is audited."""
    template = get(session, actor, template_id)  # another institution's: 404 before 403
    if actor.role not in ACTIVATORS:
        raise Forbidden("your role may not activate message templates")
    if template.status != TemplateStatus.DRAFT.value:
        raise Conflict(f"the template is {template.status}; only a draft can be activated")
    text, findings = findings_of(session, template)
    activated = not findings
    if activated:
        for other in session.scalars(
            select(MessageTemplate).where(
                MessageTemplate.institution_id == template.institution_id,
                MessageTemplate.key == template.key,
                MessageTemplate.status == TemplateStatus.ACTIVE.value,
            )
        ):
            other.status = TemplateStatus.RETIRED.value
        template.status = TemplateStatus.ACTIVE.value
        template.activated_by = actor.actor
        template.activated_at = now
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="template.activated" if activated else "template.activation_refused",
        target=f"template:{template.id}",
        institution_id=template.institution_id,
        details={
            "key": template.key,
            "version": template.version,
            "findings": [[f.category, f.rule] for f in findings],
        },
        at=now,
    )
    return CheckResult(template, text, tuple(findings), activated)

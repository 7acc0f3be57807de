"""An organisation never loses its last way in (SES-7): an admin cannot take away their
own access (lock, delete, device reset), and nobody can take away the access of the
organisation's last admin who can still log in. `partnerportal admin restore` is the
way back when an organisation has no usable admin all the same (PIN lock, lost device)."""

from __future__ import annotations

from db import accounts, instances
from db.engine import Step
from workflows.definition import FlowDefinition
from workflows.mail_limits import MailLimits
from workflows.service import FlowService, TransitionConflict
from core.i18n import lazy_gettext

OWN_ACCESS = (
    lazy_gettext("Sie können Ihren eigenen Zugang nicht sperren, löschen oder zurücksetzen. "
    "Bitten Sie einen anderen Admin Ihrer Organisation darum.")
)
LAST_ADMIN = (
    lazy_gettext("Diese Person ist der letzte aktive Admin Ihrer Organisation. Ihr Zugang kann nicht gesperrt, "
    "gelöscht oder zurückgesetzt werden, solange kein anderer Admin Zugang hat.")
)


class AdminActionRefused(Exception):
    def __init__(self, message: str):
        self.message = str(message)  # a lazy text, translated now in the request's language
        super().__init__(self.message)


def takes_access_away(definition: FlowDefinition, state: str, event: str) -> bool:
    """Whether `event` can move a person who may log in now to a state where they may not."""
    may_log_in = definition.states_with("may_log_in")
    return state in may_log_in and any(
        state in t.sources and t.target not in may_log_in for t in definition.transitions if t.event == event
    )


async def check(service: FlowService, admin_account_id: int, organisation_id: int, instance_id: int, event: str) -> list[Step]:
    """Raises AdminActionRefused if the action would lock the organisation out; else the
    steps that repeat the last-admin check inside the transition's transaction."""
    record = await instances.load(service.db, instance_id, organisation_id)
    if record is None or not record.account_id or not takes_access_away(service.flow_of(record).definition, record.state, event):
        return []
    if record.account_id == admin_account_id:
        raise AdminActionRefused(OWN_ACCESS)
    if await accounts.role_of(service.db, record.account_id) != accounts.ADMIN_ROLE:
        return []
    login_states = service.registry.onboarding_states_with("may_log_in")
    if not await accounts.other_usable_admin_exists(service.db, organisation_id, record.account_id, login_states):
        raise AdminActionRefused(LAST_ADMIN)
    return accounts.keep_an_admin_steps(organisation_id, record.account_id, login_states)


async def send_as_admin(
    service: FlowService, admin_account_id: int, organisation_id: int, instance_id: int, event: str, actor: str, client_ip: str,
    mail_limits: MailLimits | None = None,
) -> None:
    """Runs an admin's row action unless `check` refuses it. Two admins removing each
    other at the same moment cannot both succeed: the check runs again in the transaction."""
    guard = await check(service, admin_account_id, organisation_id, instance_id, event)
    try:
        await service.send(
            instance_id, event, actor=actor, client_ip=client_ip,
            organisation_id=organisation_id, extra_steps=guard, mail_limits=mail_limits,
        )
    except TransitionConflict:
        if guard:  # lost to a parallel removal: say why, rather than "changed meanwhile"
            await check(service, admin_account_id, organisation_id, instance_id, event)
        raise

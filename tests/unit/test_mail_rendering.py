"""A mail with a link is rendered once per kind and values and the link put in its place
(mail/rendering.py): the result is the mail rendered for that link alone, in every
language, also for links with characters HTML must escape."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from core.i18n import KNOWN_LANGUAGES
from mail import rendering
from mail.rendering import LINK_KINDS, MailValues, local_time, render_mail

CREATED = datetime(2026, 2, 5, 9, 0, tzinfo=timezone.utc)
LINKS = [
    "https://portal.example.org/einladung/" + "A1b2-C3d4_" * 14,
    "https://portal.example.org/einladung/kurz",
    "https://portal.example.org/pfad?a=1&b=<2>/einladung/\"x\"",
]


def alone(kind: str, values: MailValues):
    """The mail rendered from its own values, link included, without the shared rendering."""
    from core import i18n

    with i18n.language(values.language):
        return rendering._render(kind, values, local_time(values.expires_at), local_time(values.event_at))


@pytest.mark.parametrize("language", KNOWN_LANGUAGES)
@pytest.mark.parametrize("kind", sorted(LINK_KINDS))
def test_a_mail_with_its_link_put_in_is_the_mail_rendered_for_that_link(kind, language):
    rendering._rendered_with_stand_in.cache_clear()
    for index, link in enumerate(LINKS):
        values = MailValues(
            portal_name="Partnerportal", organisation_name="Pflegedienst Sonne & Söhne", role="staff", link=link,
            validity_hours=720, expires_at=CREATED + timedelta(hours=720, seconds=index), event_at=CREATED,
            language=language,
        )
        mail = render_mail(kind, values)
        assert mail == alone(kind, values)
        assert link in mail.text
    # The times differ by seconds, the displayed minute is the same: rendered once.
    assert rendering._rendered_with_stand_in.cache_info().misses == 1

"""Who acted, as the admin reads it in a person's history (issue 11, defect 4)."""

from __future__ import annotations

import pytest

from web.actors import actor_label


@pytest.mark.parametrize(("actor", "label"), [
    ("account:7", "durch die eingeladene Person"),
    ("account:8", "durch eine Administratorin / einen Administrator"),
    ("app", "in der Zwei-Faktor-App"),
    ("system:timer", "automatisch (Frist)"),
    ("system:attempt-limit", "automatisch (zu viele Fehlversuche)"),
    ("system", "automatisch"),
    ("cli:admin-create", "durch den Betrieb des Portals"),
    ("cli:flows-migrate", "durch den Betrieb des Portals"),
])
def test_each_actor_gets_words(actor, label):
    assert actor_label(actor, 7) == label

"""Labels and confirmations of the flow file per language (issue 14): `label: {de: ...,
en: ...}` with German required, plain strings still accepted, shown in the reader's
language, and `flows check`'s report of a missing translation."""

from __future__ import annotations

import pytest
import yaml

from core import i18n
from tests.support.flow_copies import SHIPPED, dump, shipped_data
from workflows.definition import FlowDefinitionError, missing_translations, parse


def test_the_shipped_flow_has_every_label_and_confirmation_in_english():
    definition = parse(SHIPPED.read_text(encoding="utf-8"))
    assert missing_translations(definition, ["de", "en", "de-x-ls"]) == []
    assert definition.states["invited"].label == "Eingeladen"
    with i18n.language("en"):
        assert str(definition.states["invited"].label) == "Invited"
        revoke = next(t for t in definition.transitions if t.event == "revoke")
        assert f"{revoke.confirm}".startswith("Do you really want to revoke")
    with i18n.language("de-x-ls"):  # Leichte Sprache shows German where the flow has no text of its own
        assert str(definition.states["invited"].label) == "Eingeladen"


def test_a_plain_german_label_is_still_accepted_and_reported_as_untranslated():
    data = shipped_data()
    data["states"]["invited"]["label"] = "Eingeladen"
    definition = parse(dump(data))
    with i18n.language("en"):
        assert str(definition.states["invited"].label) == "Eingeladen"
    problems = [str(p) for p in missing_translations(definition, ["de", "en", "de-x-ls"])]
    assert problems == [f"{definition.source}: states.invited.label.en: has no translation (PARTNERPORTAL_LANGUAGES offers it)"]
    assert missing_translations(definition, ["de", "de-x-ls"]) == []


@pytest.mark.parametrize(
    ("label", "key", "why"),
    [({"en": "Invited"}, "states.invited.label.de", "German is required"),
     ({"de": "Eingeladen", "fr": "Invité"}, "states.invited.label.fr", "no known language"),
     ({"de": "Eingeladen", "en": ""}, "states.invited.label.en", "non-empty"),
     (["Eingeladen"], "states.invited.label", "one text per language")],
)
def test_a_malformed_label_names_its_key(label, key, why):
    data = shipped_data()
    data["states"]["invited"]["label"] = label
    with pytest.raises(FlowDefinitionError) as error:
        parse(dump(data))
    assert error.value.key == key and why in error.value.message


def test_translations_do_not_change_what_the_flow_compares_as():
    """Translations are no behaviour: definitions differing only in them are equal."""
    data = shipped_data()
    data["states"]["invited"]["label"] = {"de": "Eingeladen", "en": "Invitation sent"}
    changed = parse(dump(data))
    shipped = parse(SHIPPED.read_text(encoding="utf-8"))
    from dataclasses import replace

    assert replace(changed, text="", source="") == replace(shipped, text="", source="")
    data["states"]["invited"]["label"] = {"de": "Eingeladen worden", "en": "Invited"}
    assert replace(parse(dump(data)), text="", source="") != replace(shipped, text="", source="")


def test_flow_copies_keep_their_translations_through_yaml():
    assert yaml.safe_load(dump(shipped_data()))["states"]["invited"]["label"] == {"de": "Eingeladen", "en": "Invited"}

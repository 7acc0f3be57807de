"""The portal's name inside German sentences: "zum Partnerportal", "zur Gesundheitsplattform",
"beim Mein AOK Gesundheitspartnerservice". The name's grammatical gender is a setting
(PARTNERPORTAL_PORTAL_NAME_GENDER); "none" uses the name without an article ("zu AOK Online").

The contracted forms are German grammar: in another language (English) each of them is
the bare name, and the translation carries its own preposition ("invited you to
%(zum_portal)s"). They are chosen when shown, in the language current then, because the
web app makes them template globals once at start-up."""

from __future__ import annotations

from dataclasses import dataclass

# Dative after zu, bei, von; accusative after für. Contracted where German contracts.
_FORMS = {
    "neuter": {"zu": "zum", "bei": "beim", "von": "vom", "fuer": "für das"},
    "masculine": {"zu": "zum", "bei": "beim", "von": "vom", "fuer": "für den"},
    "feminine": {"zu": "zur", "bei": "bei der", "von": "von der", "fuer": "für die"},
    "none": {"zu": "zu", "bei": "bei", "von": "von", "fuer": "für"},
}


class NameInSentence(str):
    """The German form ("zum Partnerportal") as a string; shown in a language that is
    not German (str(), %-formatting, str.format, Jinja's escaping) it is the bare name."""

    name: str

    def __new__(cls, german: str, name: str) -> "NameInSentence":
        text = super().__new__(cls, german)
        text.name = name
        return text

    def __str__(self) -> str:
        from core.i18n import current_language

        return str.__str__(self) if current_language().startswith("de") else self.name

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __html__(self) -> str:
        from markupsafe import escape

        return str(escape(str(self)))


@dataclass(frozen=True)
class PortalName:
    name: str
    gender: str = "neuter"

    def _with(self, preposition: str) -> NameInSentence:
        return NameInSentence(f"{_FORMS[self.gender][preposition]} {self.name}", self.name)

    def forms(self) -> dict[str, str]:
        """Names for templates and subjects: {zum_portal} etc."""
        return {
            "portal": self.name,
            "zum_portal": self._with("zu"),
            "beim_portal": self._with("bei"),
            "vom_portal": self._with("von"),
            "fuer_portal": self._with("fuer"),
        }

"""The portal's name inside German sentences: "zum Partnerportal", "zur Gesundheitsplattform",
"beim Mein AOK Gesundheitspartnerservice". The name's grammatical gender is a setting
(PARTNERPORTAL_PORTAL_NAME_GENDER); "none" uses the name without an article ("zu AOK Online")."""

from __future__ import annotations

from dataclasses import dataclass

# Dative after zu, bei, von; accusative after für. Contracted where German contracts.
_FORMS = {
    "neuter": {"zu": "zum", "bei": "beim", "von": "vom", "fuer": "für das"},
    "masculine": {"zu": "zum", "bei": "beim", "von": "vom", "fuer": "für den"},
    "feminine": {"zu": "zur", "bei": "bei der", "von": "von der", "fuer": "für die"},
    "none": {"zu": "zu", "bei": "bei", "von": "von", "fuer": "für"},
}


@dataclass(frozen=True)
class PortalName:
    name: str
    gender: str = "neuter"

    def _with(self, preposition: str) -> str:
        return f"{_FORMS[self.gender][preposition]} {self.name}"

    def forms(self) -> dict[str, str]:
        """Names for templates and subjects: {zum_portal} etc."""
        return {
            "portal": self.name,
            "zum_portal": self._with("zu"),
            "beim_portal": self._with("bei"),
            "vom_portal": self._with("von"),
            "fuer_portal": self._with("fuer"),
        }

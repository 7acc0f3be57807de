"""Documents a person must accept (privacy policy, terms of use): versioned text files
in web/documents/, editable by the operator. Raise `version` when the text changes:
everyone is asked again at their next login (PRIV-3)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DOCUMENTS_DIR = Path(__file__).parent / "documents"
# key: file name; order: as shown on the consent page.
REQUIRED = ("datenschutz", "nutzungsbedingungen")


@dataclass(frozen=True)
class Document:
    key: str
    title: str
    version: str
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def paragraphs(self) -> list[str]:
        return [p.strip() for p in self.text.split("\n\n") if p.strip()]


def parse(key: str, raw: str) -> Document:
    header, separator, body = raw.partition("\n---\n")
    if not separator:
        raise ValueError(f"web/documents/{key}.txt: the header must end with a line '---'")
    fields = dict(line.split(":", 1) for line in header.strip().splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    for required in ("title", "version"):
        if not fields.get(required):
            raise ValueError(f"web/documents/{key}.txt: '{required}:' is missing in the header")
    return Document(key=key, title=fields["title"], version=fields["version"], text=body.strip())


@cache
def load(key: str, directory: Path = DOCUMENTS_DIR) -> Document:
    if key not in REQUIRED:
        raise KeyError(key)
    return parse(key, (directory / f"{key}.txt").read_text(encoding="utf-8"))


def required_documents(directory: Path = DOCUMENTS_DIR) -> list[Document]:
    return [load(key, directory) for key in REQUIRED]

"""A rule check for texts in Leichte Sprache: what a program can check honestly of the
rules of Netzwerk Leichte Sprache / DIN SPEC 33429. It cannot judge whether a word is
common or a term explained; people do that. It finds what is plainly against the rules:
abbreviations, long sentences, the passive auxiliary, numbers written as words."""

from __future__ import annotations

import re
from html.parser import HTMLParser

MAX_WORDS = 15
# Abbreviations readers stumble over; each has a plain wording ("zum Beispiel", "oder").
ABBREVIATIONS = re.compile(
    r"\b(z\.\s?B\.|bzw\.|usw\.|ggf\.|d\.\s?h\.|u\.\s?a\.|etc\.|evtl\.|inkl\.|ca\.|vgl\.|u\.\s?U\.|o\.\s?Ä\.)", re.I)
# "wird/werden/wurde/wurden/worden" build the passive (and the future tense, which reads as hard).
PASSIVE = re.compile(r"\b(wird|werden|wurde|wurden|worden)\b", re.I)
# Numbers are digits ("6 Ziffern"); "Zwei-Faktor-App" is a name and stays.
NUMBER_WORDS = re.compile(r"\b(zwei|drei|vier|fünf|sechs|sieben|acht|neun|zehn|elf|zwölf)\b(?!-)", re.I)
WORD = re.compile(r"[\w@/.:+-]*\w[\w@/.:+-]*")
SENTENCE_END = re.compile(r"(?<=[.!?:])\s+")

# Elements that start a new line on screen.
BLOCKS = frozenset({"p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "dt", "dd", "label", "legend", "button",
                    "br", "div", "td", "th", "summary", "option", "ul", "ol", "form", "fieldset", "a"})


class _MainText(HTMLParser):
    """The text inside <main>, one line per block element; <code> (a request id) left out."""

    def __init__(self):
        super().__init__()
        self.depth = 0
        self.skip = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "main":
            self.depth += 1
        if tag in ("code", "script", "style", "textarea"):
            self.skip += 1
        if tag in BLOCKS and tag != "a":
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag == "main":
            self.depth -= 1
        if tag in ("code", "script", "style", "textarea"):
            self.skip -= 1
        if tag in BLOCKS and tag != "a":
            self.parts.append("\n")

    def handle_data(self, data):
        if self.depth > 0 and not self.skip:
            self.parts.append(data)


def main_text(html: str) -> str:
    parser = _MainText()
    parser.feed(html)
    return "".join(parser.parts).replace("\u00ad", "")


def sentences(text: str) -> list[str]:
    """Each line (a line break is a sentence's end in Leichte Sprache), split at . ! ? and :."""
    found = []
    for line in text.splitlines():
        for piece in SENTENCE_END.split(line.strip()):
            if piece.strip():
                found.append(" ".join(piece.split()))
    return found


def problems(text: str) -> list[str]:
    """What breaks the rules, one finding per sentence and rule (abbreviations per line:
    the sentence split would cut "z. B." in two)."""
    found = []
    for line in text.splitlines():
        for match in ABBREVIATIONS.finditer(line):
            found.append(f"abbreviation {match.group(0)!r}: {' '.join(line.split())!r}")
    for sentence in sentences(text):
        words = WORD.findall(sentence)
        if len(words) > MAX_WORDS:
            found.append(f"{len(words)} words (more than {MAX_WORDS}): {sentence!r}")
        if match := PASSIVE.search(sentence):
            found.append(f"passive or future auxiliary {match.group(0)!r}: {sentence!r}")
        if match := NUMBER_WORDS.search(sentence):
            found.append(f"number as a word {match.group(0)!r}: {sentence!r}")
    return found

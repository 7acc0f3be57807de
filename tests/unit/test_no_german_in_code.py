"""No German sentences in Python outside the catalogs and the flow file (issue 14):
every string literal of the packages with German letters or common German words is
either marked for gettext (`_`, `ngettext`, `pgettext`, `lazy_gettext`, ...), a
docstring, or on the allow-list below with the reason it is no user-facing text.
A new German literal fails this test: mark it, or add it here with a reason."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "db", "jobs", "mail", "partnerportal", "web", "workflows")
GETTEXT = {"_", "gettext", "ngettext", "pgettext", "npgettext", "lazy_gettext"}
GERMAN = re.compile(
    r"[äöüßÄÖÜ]|\b(der|die|das|Der|Die|Das|den|dem|des|und|nicht|Sie|Ihr|Ihre|Ihren|Ihrem|Ihrer|Bitte|bitte|ist|"
    r"ein|eine|einen|mit|für|wurde|kein|keine|oder|Uhr|zu|nur|noch|sind|kann|muss|werden|auf|bei|von|im|zum|zur|"
    r"aus|sich|gibt|Diese|Dieser|Dieses|diese|wählen|Zugang|Einladung|Gerät|Anmeldung)\b"
)

# (file, start of the literal): why it is no user-facing text to translate.
ALLOWED = {
    ("core/portal_name.py", ""): "German grammar data: the portal name's article forms for German sentences",
    ("web/hyphenation.py", "[A-Za-z"): "a regular expression matching German words for hyphenation",
    ("partnerportal/demo.py", ""): "the demo's sample data (a German insurer's brand texts and Postfach messages)",
    ("partnerportal/cli.py", "keine Angabe"): "the stored salutation value for operators' command-line invitations",
    ("partnerportal/cli.py", "zwischen 1 und 64"): "CLI help text for operators (issue 14: CLI output may stay German/English)",
    ("web/forms.py", "keine Angabe"): "the stored salutation value (SALUTATIONS), shown through SALUTATION_LABELS",
    ("web/controllers/users.py", "keine Angabe"): "compares with the stored salutation value",
    ("web/controllers/funnel.py", "von"): "a query parameter name of the funnel's URL (?von=...)",
    ("web/mail_failures.py", "Mailserver"): "matches the start of a record the outbox stored (jobs/outbox.py)",
    ("jobs/outbox.py", ""): "reasons recorded in the outbox row for operators (last_error); admins see "
                            "web/mail_failures.py's translated explanation",
    ("jobs/mail_preparation.py", ""): "as jobs/outbox.py: why a mail was not sent, recorded in the outbox row",
    ("jobs/smtp.py", ""): "as jobs/outbox.py: SMTP failures recorded in the outbox row (web/mail_failures.py explains them)",
    ("web/browsers.py", " auf "): "browser description joined in German; shown to the person themself in the app "
                                  "(to translate with web/browsers.py's names next)",
    ("workflows/roles.py", ""): "English descriptions of roles quoting German screen names",
    ("workflows/flow_diff.py", ""): "the studio's version diff, still German only (product owners' tool; next step)",
}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _marked(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in GETTEXT:
                found |= {id(n) for n in ast.walk(node) if isinstance(n, ast.Constant)}
    return found


def _logged(tree: ast.AST) -> set[int]:
    """Literals in log calls (log.info(...), logging.warning(...)): operators' English lines."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
            "debug", "info", "warning", "error", "exception", "critical"
        ):
            found |= {id(n) for n in ast.walk(node) if isinstance(n, ast.Constant)}
    return found


def german_literals() -> list[tuple[str, int, str]]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            skip = _docstrings(tree) | _marked(tree) | _logged(tree)
            relative = path.relative_to(ROOT).as_posix()
            for node in ast.walk(tree):
                if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
                        and GERMAN.search(node.value) and not _allowed(relative, node.value)):
                    found.append((relative, node.lineno, node.value[:80]))
    return found


def _allowed(path: str, value: str) -> bool:
    return any(path == file and value.startswith(start) for file, start in ALLOWED)


def test_no_german_literal_outside_gettext_and_the_allow_list():
    assert german_literals() == []


def test_the_scan_finds_a_german_sentence_where_there_is_one(tmp_path):
    tree = ast.parse('def f():\n    return "Bitte geben Sie Ihren Namen ein."\n')
    literals = [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and GERMAN.search(n.value)]
    assert literals and not (_marked(tree) | _docstrings(tree)) & {id(n) for n in literals}
    marked = ast.parse('def f():\n    return _("Bitte geben Sie Ihren Namen ein.")\n')
    assert {id(n) for n in ast.walk(marked) if isinstance(n, ast.Constant)} <= _marked(marked)


def test_every_allow_list_entry_is_still_needed():
    """An entry nothing matches any more goes, so the list stays a list of reasons."""
    used = set()
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            relative = path.relative_to(ROOT).as_posix()
            tree = ast.parse(path.read_text(encoding="utf-8"))
            skip = _docstrings(tree) | _marked(tree) | _logged(tree)
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip and GERMAN.search(node.value):
                    used |= {(f, s) for f, s in ALLOWED if relative == f and node.value.startswith(s)}
    assert set(ALLOWED) - used == set()

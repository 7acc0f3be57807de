"""The Leichte Sprache rule check finds what it claims to find, so its empty answer on the
portal's pages means something."""

import re

from tests.support.leichte_sprache import main_text, problems, sentences


def test_a_line_break_ends_a_sentence():
    assert sentences("Sie haben Zeit.\nDer Link gilt: 720 Stunden") == ["Sie haben Zeit.", "Der Link gilt:", "720 Stunden"]


def test_finds_abbreviations_long_sentences_passive_and_number_words():
    found = problems(
        "Der Code wird per E-Mail verschickt.\n"
        "Geben Sie z. B. Ihren Namen bzw. Ihre Adresse ein.\n"
        "Sie haben zwei Tage Zeit.\n"
        "Dies ist ein Satz mit sehr vielen Wörtern, die ein Mensch nur schwer auf einmal lesen kann.\n"
    )
    assert [f.split(":")[0] for f in found] == [
        "abbreviation 'z. B.'", "abbreviation 'bzw.'",
        "passive or future auxiliary 'wird'", "number as a word 'zwei'", "17 words (more than 15)",
    ]


def test_accepts_plain_sentences_and_the_name_zwei_faktor_app():
    assert problems("Öffnen Sie die Zwei-Faktor-App.\nDer Code hat 8 Ziffern.\nZum Beispiel so: 2748 0323") == []


def test_reads_only_the_main_content():
    html = "<header>Ihre Sitzung wird bald beendet.</header><main><p>Hallo.</p><code>wird</code></main><footer>bzw.</footer>"
    assert main_text(html).split() == ["Hallo."]


def leichte_sprache_catalog():
    from babel.messages.pofile import read_po

    from core.i18n import CATALOG_DIRS, DOMAIN, LEICHTE_SPRACHE, LOCALE_DIR

    with (LOCALE_DIR / CATALOG_DIRS[LEICHTE_SPRACHE] / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as handle:
        return read_po(handle)


def translated(catalog):
    """(msgid, msgstr) for each translated form; the German msgid stands where a text has none."""
    for message in catalog:
        if not message.id or message.fuzzy:
            continue
        ids = message.id if isinstance(message.id, (tuple, list)) else (message.id,)
        strings = message.string if isinstance(message.string, (tuple, list)) else (message.string,)
        for msgid, msgstr in zip((ids[0], ids[-1]), strings):
            if msgstr:
                yield msgid, msgstr


def test_the_leichte_sprache_catalog_follows_the_rules():
    found = {msgstr: problems(re.sub(r"<[^>]+>", "", msgstr)) for _, msgstr in translated(leichte_sprache_catalog())}
    assert {text: p for text, p in found.items() if p} == {}
    assert len(found) > 100  # the wizard, the app's activation steps and their messages


def test_the_leichte_sprache_catalog_keeps_placeholders_and_markup():
    placeholder = re.compile(r"%\(\w+\)[sd]|\{\w+\}|<a href=\"%\(\w+\)s\">|<strong[^>]*>")
    for msgid, msgstr in translated(leichte_sprache_catalog()):
        assert sorted(placeholder.findall(msgstr)) == sorted(placeholder.findall(msgid)), msgid

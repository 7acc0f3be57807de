"""The Leichte Sprache rule check finds what it claims to find, so its empty answer on the
portal's pages means something."""

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

"""The editor's problem list (every problem, its line and key) and the German diff of
the preview, without a database."""

from __future__ import annotations

from tests.support.flow_copies import shipped_text
from workflows.definition import parse
from workflows.draft_check import check_text
from workflows.flow_diff import describe


def _line(text: str, content: str) -> int:
    return text.split("\n").index(content) + 1


def test_every_problem_is_listed_with_its_line_and_key():
    text = shipped_text(version=3, expiry="336 Stunden").replace("    label:\n      de: Neu\n      en: New\n", "").replace("    to: expired\n", "    to: expird\n")

    result = check_text(text)

    assert [(p.line, p.key) for p in result.problems] == [
        (_line(text, "  new:"), "states.new.label"),
        (_line(text, "    to: expird"), "transitions[6].to"),
        (_line(text, "    after: 336 Stunden"), "timers[0].after"),
    ]
    assert result.definition is None and not result.ok


def test_a_missing_role_is_a_problem_that_names_the_role():
    result = check_text(shipped_text(version=3, drop="    role: activated"))

    assert len(result.problems) == 1
    problem = result.problems[0]
    assert (problem.key, problem.line) == ("transitions", _line(shipped_text(), "transitions:"))
    assert "'activated'" in problem.message


def test_broken_yaml_is_one_problem_on_its_line():
    result = check_text("flow: onboarding\nstates: [\n")
    assert [(p.line, p.key) for p in result.problems] == [(3, "file")]


def test_a_valid_text_has_no_problems_and_gives_its_definition():
    result = check_text(shipped_text(version=3))
    assert result.ok and result.definition.version == 3


def test_the_diff_names_timers_labels_transitions_and_mails_in_german():
    old = parse(shipped_text())
    new = parse(
        shipped_text(version=3, expiry="336h")
        .replace("      de: Abgelaufen\n      en: Expired\n", "      de: Verfallen\n      en: Expired\n")
        .replace("      - end_registration_sessions\n      - send_mail: invitation_expired\n", "      - end_registration_sessions\n")
    )

    texts = [(c.kind, c.text) for c in describe(old, new)]

    assert texts == [
        ("changed", "Status „Abgelaufen“: Bezeichnung „Abgelaufen“ → „Verfallen“"),
        ("removed", "Übergang „Ablaufen“ (Eingeladen, beantragt → Abgelaufen): sendet die E-Mail „invitation_expired“ nicht mehr"),
        ("changed", "Frist der Einladung: 720 h → 336 h"),
    ]
    assert describe(old, old) == []


def test_every_problem_id_has_a_german_text_with_the_same_parameters():
    import string

    from web.flow_check_texts import TEXTS
    from workflows.definition_messages import MESSAGES

    assert set(TEXTS) == set(MESSAGES)
    for code, english in MESSAGES.items():
        fields = {name for _, name, _, _ in string.Formatter().parse(english) if name}
        assert {name for _, name, _, _ in string.Formatter().parse(str(TEXTS[code])) if name} <= fields, code


def test_the_editor_says_each_problem_in_german_with_its_line_and_key():
    from web.flow_check_texts import problem_text

    text = shipped_text(version=3, expiry="336 Stunden").replace("    to: expired\n", "    to: expird\n")
    problems = {p.key: (p.line, problem_text(p), p.message) for p in check_text(text).problems}

    line, in_german, in_english = problems["timers[0].after"]
    assert line == _line(text, "    after: 336 Stunden")
    assert in_german == "'336 Stunden' ist keine Dauer wie 720h, 3d oder 10m."
    assert in_english == "'336 Stunden' is not a duration such as 720h, 3d or 10m"  # `flows check` stays English
    assert problems["transitions[6].to"][1].startswith("Unbekannter Status 'expird'. Bekannt sind: ")

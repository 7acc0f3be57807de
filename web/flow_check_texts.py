"""The texts of the flow checks' problems for the editor's list in the studio, by the
ids of workflows/definition_messages.py: German source texts through gettext, so the
list is in the reader's language (`flows check` on the command line stays English)."""

from __future__ import annotations

from core.i18n import lazy_gettext

TEXTS = {
    "file_unreadable": lazy_gettext("kann nicht gelesen werden ({reason})."),
    "yaml_invalid": lazy_gettext("ist kein gültiges YAML ({detail})."),
    "file_changed": lazy_gettext("Die Datei hat sich geändert, ihre Version ist aber noch {version}. Erhöhen Sie die Version, "
                    "damit laufende Einladungen ihren Ablauf behalten."),
    "defined_twice": lazy_gettext("{value} ist zweimal definiert."),
    "role_missing_state": lazy_gettext("Kein Status hat die Rolle {role}. Ergänzen Sie roles: [{name}] bei einem Status."),
    "role_missing_event": lazy_gettext("Kein Übergang hat die Rolle {role}. Ergänzen Sie role: {name} bei einem Übergang."),
    "role_missing_timer": lazy_gettext("Keine Frist hat den Zweck {role}. Ergänzen Sie purpose: {name} bei einer Frist."),
    "not_mapping": lazy_gettext("muss eine Zuordnung sein (Schlüssel: Wert)."),
    "text_not_localized": lazy_gettext("muss ein Text sein oder ein Text je Sprache, etwa {{de: Eingeladen, en: Invited}}."),
    "unknown_language": lazy_gettext("ist keine bekannte Sprache. Bekannt sind: {known}."),
    "empty_text": lazy_gettext("darf nicht leer sein."),
    "translation_missing": lazy_gettext("hat keine Übersetzung (PARTNERPORTAL_LANGUAGES bietet die Sprache an)."),
    "german_missing": lazy_gettext("fehlt: Der deutsche Text ist Pflicht (er ist die Quelle jeder Übersetzung)."),
    "unknown_key": lazy_gettext("ist kein bekannter Schlüssel. Erlaubt sind: {allowed}."),
    "bad_name": lazy_gettext("muss ein kleingeschriebenes Wort sein wie invited, nicht {value}."),
    "reserved_name": lazy_gettext("{value} ist der Ablauf-Maschine vorbehalten. Wählen Sie einen anderen Namen."),
    "missing": lazy_gettext("fehlt."),
    "bad_version": lazy_gettext("muss eine ganze Zahl ab 1 sein."),
    "no_states": lazy_gettext("muss mindestens einen Status enthalten."),
    "label_missing": lazy_gettext("fehlt: Jeder Status braucht die Bezeichnung, die Administratoren sehen."),
    "one_of": lazy_gettext("muss einer dieser Werte sein: {allowed}."),
    "no_initial": lazy_gettext("Kein Anfangsstatus: Markieren Sie einen Status mit „initial: true“."),
    "two_initial": lazy_gettext("Nur ein Anfangsstatus ist erlaubt (schon {other})."),
    "no_final": lazy_gettext("Kein Endstatus: Markieren Sie mindestens einen Status mit „final: true“."),
    "actions_not_list": lazy_gettext("muss eine Liste sein wie [{{send_mail: invitation}}]."),
    "bad_action_item": lazy_gettext("muss ein Name sein oder ein Paar „Name: Argument“ wie send_mail: invitation."),
    "unknown_action": lazy_gettext("ist keine bekannte Aktion. Bekannt sind: {known}."),
    "unknown_mail": lazy_gettext("Unbekannte Mail {value}. Bekannt sind: {known}."),
    "bad_flag": lazy_gettext("Der Name des Merkmals muss ein Wort sein wie device_bound, nicht {value}."),
    "no_argument": lazy_gettext("nimmt kein Argument: Schreiben Sie sie als einfachen Listeneintrag."),
    "roles_not_list": lazy_gettext("muss eine Liste sein wie [may_log_in]."),
    "unknown_state_role": lazy_gettext("Unbekannte Rolle eines Status {value}. Bekannt sind: {known}."),
    "unknown_event_role": lazy_gettext("Unbekannte Rolle eines Übergangs {value}. Bekannt sind: {known}."),
    "unknown_purpose": lazy_gettext("Unbekannter Zweck {value}. Bekannt sind: {known}."),
    "unknown_state": lazy_gettext("Unbekannter Status {value}. Bekannt sind: {known}."),
    "transitions_not_list": lazy_gettext("muss eine Liste mit mindestens einem Übergang sein."),
    "event_is_state": lazy_gettext("{value} ist auch der Name eines Status. Nehmen Sie ein Verb."),
    "leaves_final": lazy_gettext("{value} ist ein Endstatus: Nichts darf ihn verlassen."),
    "unknown_guard": lazy_gettext("Unbekannte Bedingung {value}. Bekannt sind: {known}."),
    "internal_not_self": lazy_gettext("Nur ein Übergang von einem Status zu sich selbst kann intern sein."),
    "not_bool": lazy_gettext("muss true oder false sein."),
    "auto_with_trigger": lazy_gettext("Ein automatischer Übergang kommt vom System: kein trigger, nicht intern."),
    "auto_same_state": lazy_gettext("Ein automatischer Übergang muss in einen anderen Status führen."),
    "event_role_twice": lazy_gettext("Das Ereignis {event} hat schon die Rolle {role}."),
    "role_on_two_events": lazy_gettext("Die Rolle {role} gehört schon zum Ereignis {event}."),
    "auto_partly": lazy_gettext("Das Ereignis {event} ist an anderer Stelle automatisch: Markieren Sie jeden seiner Übergänge "
                   "mit „auto: true“."),
    "two_auto_events": lazy_gettext("Der Status {state} hat schon das automatische Ereignis {event}."),
    "auto_cycle": lazy_gettext("Automatische Übergänge führen von {state} zurück zu {state}."),
    "timers_not_list": lazy_gettext("muss eine Liste sein."),
    "timer_unknown_event": lazy_gettext("Unbekanntes Ereignis {value}: Eine Frist löst das Ereignis eines Übergangs aus."),
    "duration_expected": lazy_gettext("Erwartet wird eine Dauer wie 720h, 3d oder 10m."),
    "duration_invalid": lazy_gettext("{value} ist keine Dauer wie 720h, 3d oder 10m."),
    "duration_not_positive": lazy_gettext("{value} muss länger als null sein."),
    "active_misses_start": lazy_gettext("muss den Startstatus {state} enthalten."),
    "purpose_twice": lazy_gettext("Eine andere Frist hat schon den Zweck {purpose}."),
    "timer_event_twice": lazy_gettext("Jedes Ereignis darf nur eine Frist haben."),
    "unreachable": lazy_gettext("ist vom Anfangsstatus {state} aus nicht erreichbar."),
}


def problem_text(problem) -> str:
    """A draft_check.Problem (or anything with `code` and `params`) in the current language."""
    return str(TEXTS[problem.code]).format(**dict(problem.params))

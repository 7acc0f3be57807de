"""The German texts of the flow checks' problems (the editor's list in the studio), by
the ids of workflows/definition_messages.py. All in this one table, so that the coming
translation layer (gettext) wraps them in one place."""

from __future__ import annotations

GERMAN: dict[str, str] = {
    "file_unreadable": "kann nicht gelesen werden ({reason}).",
    "yaml_invalid": "ist kein gültiges YAML ({detail}).",
    "file_changed": "Die Datei hat sich geändert, ihre Version ist aber noch {version}. Erhöhen Sie die Version, "
                    "damit laufende Einladungen ihren Ablauf behalten.",
    "defined_twice": "{value} ist zweimal definiert.",
    "role_missing_state": "Kein Status hat die Rolle {role}. Ergänzen Sie roles: [{name}] bei einem Status.",
    "role_missing_event": "Kein Übergang hat die Rolle {role}. Ergänzen Sie role: {name} bei einem Übergang.",
    "role_missing_timer": "Keine Frist hat den Zweck {role}. Ergänzen Sie purpose: {name} bei einer Frist.",
    "not_mapping": "muss eine Zuordnung sein (Schlüssel: Wert).",
    "unknown_key": "ist kein bekannter Schlüssel. Erlaubt sind: {allowed}.",
    "bad_name": "muss ein kleingeschriebenes Wort sein wie invited, nicht {value}.",
    "reserved_name": "{value} ist der Ablauf-Maschine vorbehalten. Wählen Sie einen anderen Namen.",
    "missing": "fehlt.",
    "bad_version": "muss eine ganze Zahl ab 1 sein.",
    "no_states": "muss mindestens einen Status enthalten.",
    "label_missing": "fehlt: Jeder Status braucht die Bezeichnung, die Administratoren sehen.",
    "one_of": "muss einer dieser Werte sein: {allowed}.",
    "no_initial": "Kein Anfangsstatus: Markieren Sie einen Status mit „initial: true“.",
    "two_initial": "Nur ein Anfangsstatus ist erlaubt (schon {other}).",
    "no_final": "Kein Endstatus: Markieren Sie mindestens einen Status mit „final: true“.",
    "actions_not_list": "muss eine Liste sein wie [{{send_mail: invitation}}].",
    "bad_action_item": "muss ein Name sein oder ein Paar „Name: Argument“ wie send_mail: invitation.",
    "unknown_action": "ist keine bekannte Aktion. Bekannt sind: {known}.",
    "unknown_mail": "Unbekannte Mail {value}. Bekannt sind: {known}.",
    "bad_flag": "Der Name des Merkmals muss ein Wort sein wie device_bound, nicht {value}.",
    "no_argument": "nimmt kein Argument: Schreiben Sie sie als einfachen Listeneintrag.",
    "roles_not_list": "muss eine Liste sein wie [may_log_in].",
    "unknown_state_role": "Unbekannte Rolle eines Status {value}. Bekannt sind: {known}.",
    "unknown_event_role": "Unbekannte Rolle eines Übergangs {value}. Bekannt sind: {known}.",
    "unknown_purpose": "Unbekannter Zweck {value}. Bekannt sind: {known}.",
    "unknown_state": "Unbekannter Status {value}. Bekannt sind: {known}.",
    "transitions_not_list": "muss eine Liste mit mindestens einem Übergang sein.",
    "event_is_state": "{value} ist auch der Name eines Status. Nehmen Sie ein Verb.",
    "leaves_final": "{value} ist ein Endstatus: Nichts darf ihn verlassen.",
    "unknown_guard": "Unbekannte Bedingung {value}. Bekannt sind: {known}.",
    "internal_not_self": "Nur ein Übergang von einem Status zu sich selbst kann intern sein.",
    "not_bool": "muss true oder false sein.",
    "auto_with_trigger": "Ein automatischer Übergang kommt vom System: kein trigger, nicht intern.",
    "auto_same_state": "Ein automatischer Übergang muss in einen anderen Status führen.",
    "event_role_twice": "Das Ereignis {event} hat schon die Rolle {role}.",
    "role_on_two_events": "Die Rolle {role} gehört schon zum Ereignis {event}.",
    "auto_partly": "Das Ereignis {event} ist an anderer Stelle automatisch: Markieren Sie jeden seiner Übergänge "
                   "mit „auto: true“.",
    "two_auto_events": "Der Status {state} hat schon das automatische Ereignis {event}.",
    "auto_cycle": "Automatische Übergänge führen von {state} zurück zu {state}.",
    "timers_not_list": "muss eine Liste sein.",
    "timer_unknown_event": "Unbekanntes Ereignis {value}: Eine Frist löst das Ereignis eines Übergangs aus.",
    "duration_expected": "Erwartet wird eine Dauer wie 720h, 3d oder 10m.",
    "duration_invalid": "{value} ist keine Dauer wie 720h, 3d oder 10m.",
    "duration_not_positive": "{value} muss länger als null sein.",
    "active_misses_start": "muss den Startstatus {state} enthalten.",
    "purpose_twice": "Eine andere Frist hat schon den Zweck {purpose}.",
    "timer_event_twice": "Jedes Ereignis darf nur eine Frist haben.",
    "unreachable": "ist vom Anfangsstatus {state} aus nicht erreichbar.",
}


def german(problem) -> str:
    """A draft_check.Problem (or anything with `code` and `params`) in German."""
    params = dict(problem.params)
    return GERMAN[problem.code].format(**params)

"""The order of names in the Nutzerverwaltung ("Nachname A–Z"), as German lists sort them.

German dictionaries and phone books (DIN 5007-1) file "Ä" with "A", "ß" as "ss", and
ignore case and accents: "de Vries" stands between "Dahl" and "Eber", "Özdemir" between
"Otto" and "Pohl". A database's own collation cannot be relied on for that: SQLite
compares bytes (every lower-case or accented name after "Z"), and PostgreSQL sorts by
whatever collation the operator's server was set up with, often "C" as well.

So each account stores a sort key made from its names (`account.name_key`, migration
m0034), written with the names by every statement that writes them, and the name order
walks an index on that key. The key compares the same way bytewise on both engines (on
PostgreSQL the column has the collation "C"), so both show the same order everywhere.
"""

from __future__ import annotations

import unicodedata

# Below every letter, digit and the space: "Berg, Zoe" comes before "Bergmann, Anna", and
# "van, Zoe" before "van Dyk, Anna" (a shorter last name first, as in a dictionary).
SEPARATOR = "\x01"
# Folding can lengthen a name many times over (one Arabic ligature decomposes into 18
# characters); each folded name is cut to this, so a key, and the page cursor that
# carries it, has a bound. Names that agree this far sort by account.
FOLDED_MAX = 100
KEY_MAX = 2 * FOLDED_MAX + len(SEPARATOR)
# Letters that carry no accent Unicode can take off: written as German readers spell them.
_WITHOUT_DECOMPOSITION = str.maketrans({"ł": "l", "ø": "o", "đ": "d", "ð": "d", "þ": "th", "æ": "ae", "œ": "oe", "ı": "i"})


def _folded(text: str) -> str:
    # casefold turns "ß" into "ss"; NFKD splits "é" into "e" and its accent, which goes.
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(letters.translate(_WITHOUT_DECOMPOSITION).split())


def name_key(first_name: str, last_name: str) -> str:
    """The sort key of a person: last name, then first name, each folded."""
    return f"{_folded(last_name or '')[:FOLDED_MAX]}{SEPARATOR}{_folded(first_name or '')[:FOLDED_MAX]}"

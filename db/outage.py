"""Which errors mean "the database is not reachable right now" (REL-6), for both engines.

Classified by the drivers' error classes and the databases' own error codes, not by
message text: PostgreSQL's SQLSTATE classes 08 (connection exception) and 57P
(admin/crash shutdown, cannot connect now, e.g. during a restart) and 53300 (too many
connections); asyncpg's client-side errors for a connection that went away; socket
errors and timeouts; SQLite's busy, locked, cannot-open, I/O and full errors. Anything
else (a bug, a constraint violation, a syntax error) stays an internal error."""

from __future__ import annotations

import errno
import socket
import sqlite3


import asyncpg

# SQLite primary result codes (the low byte of the extended code).
_SQLITE_TRANSIENT = {
    5,  # SQLITE_BUSY
    6,  # SQLITE_LOCKED
    10,  # SQLITE_IOERR
    13,  # SQLITE_FULL
    14,  # SQLITE_CANTOPEN
    15,  # SQLITE_PROTOCOL
}
_POSTGRES_OUTAGE_STATES = ("08", "57P", "53300")
_NETWORK_ERRNOS = {
    errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE,
    errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ETIMEDOUT, errno.ENETDOWN,
}


class DatabaseUnavailable(Exception):
    """The database cannot be reached right now."""


class CannotConnect(DatabaseUnavailable):
    """The database could not be reached at start; the message is one line for the operator."""


def is_outage(exc: BaseException) -> bool:
    """True if exc (or what caused it) means the database is down or restarting."""
    seen = 0
    while exc is not None and seen < 5:
        if _is_outage_itself(exc):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def _is_outage_itself(exc: BaseException) -> bool:
    if isinstance(exc, DatabaseUnavailable):
        return True
    if isinstance(exc, asyncpg.PostgresError):
        return str(getattr(exc, "sqlstate", "") or "").startswith(_POSTGRES_OUTAGE_STATES)
    if isinstance(exc, (asyncpg.InterfaceError, asyncpg.InternalClientError)):
        # Client-side: "connection is closed", a protocol state lost mid-query, etc.
        return True
    if isinstance(exc, sqlite3.OperationalError):
        code = getattr(exc, "sqlite_errorcode", None)
        return code is not None and (code & 0xFF) in _SQLITE_TRANSIENT
    if isinstance(exc, (ConnectionError, TimeoutError, socket.gaierror)):
        return True
    return isinstance(exc, OSError) and exc.errno in _NETWORK_ERRNOS


def connect_failure(exc: BaseException, connect_timeout: float) -> str:
    """What failed when connecting, in a few words (no traceback, no password)."""
    if isinstance(exc, asyncpg.InvalidPasswordError):
        return "wrong password or user"
    if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):
        return f"access refused: {exc}"
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return "the database does not exist"
    if isinstance(exc, asyncpg.PostgresError):
        return f"the server refused: {exc}"
    if isinstance(exc, socket.gaierror):
        return "unknown host"
    if isinstance(exc, ConnectionRefusedError) or (isinstance(exc, OSError) and "Connect call failed" in str(exc)):
        return "connection refused (is the server running, are host and port right?)"
    if isinstance(exc, TimeoutError):
        return f"no answer within {connect_timeout:g} s"
    if isinstance(exc, sqlite3.Error):
        return f"cannot open the SQLite file: {exc}"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"

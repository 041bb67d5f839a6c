"""omsync's one error tree.

Every failure that reaches a user is an ``OmsyncError``; foreign exceptions (kazoo, pyarrow,
OSError, protobuf DecodeError) are translated into it where they are caught, so the CLI can print
one message plus a hint and exit with the documented code, and daemons can log it.

    OmsyncError                 exit 1   anything omsync reports on purpose
    ├── UsageError              exit 2   bad command line, bad config, bad schema file
    ├── FormatError             exit 3   bytes that do not parse: names file, byte offset, log_index
    │   ├── BadRecordError               a log record failed CRC / has zero or unknown type
    │   └── RowDecodeError               an encoded row does not match its schema
    ├── NotFoundError           exit 4   table, partition, file, znode that does not exist
    ├── ClusterError            exit 5   ZooKeeper / cluster state problems (unreachable, malformed)
    └── RpcError                exit 6   a call to another omsync/OpenMLDB process failed (omsync_tui.rpc)
        ├── RpcUnavailable               transient: refused, reset or closed connection, connect timeout
        ├── RpcTimeout                   transient: no answer within the call's timeout
        ├── RpcProtocolError             the peer's bytes are not baidu_std / HTTP as expected
        └── RpcRemoteError               the server answered with an error: ``code`` (brpc errno,
                                         e.g. 1001 ENOSERVICE, 2001 EINTERNAL), ``text``, ``http_status``

``kind`` names a class's place in the tree for other programs (``/api/v1`` error documents
carry it): ``error``, ``usage``, ``format``, ``not_found``, ``cluster``, ``rpc``.

The exit codes above are those of the commands that work on local things (``omsync inspect``,
the daemons' start-up). ``omsync task`` (and the ``exit_code`` of every ``/api/v1`` error) has
its own documented set, ``TaskExit``: there 4 means "synctool unreachable", so an error a
synctool reports maps through ``task_exit_code`` (a usage error is 2, anything else 1).

``hint`` says what to do about it; the CLI prints it after the message. ``RpcError.transient`` is
true where a retry with backoff may succeed. A transient failure after the request was sent does
not tell whether the server ran it: retry only calls that are idempotent or guarded (SendData's
start point and token are such a guard).
"""

from __future__ import annotations

from enum import IntEnum


class OmsyncError(Exception):
    """Base of every error omsync reports to a person."""

    exit_code = 1
    kind = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(OmsyncError):
    """The caller asked for something malformed (options, config, schema file)."""

    exit_code = 2
    kind = "usage"


class FormatError(OmsyncError):
    """Bytes on disk or on the wire that do not parse.

    ``path`` and ``offset`` locate the bytes (offset = byte offset of the record in the file);
    ``log_index`` is set when the failing record's LogEntry could be read far enough.
    """

    exit_code = 3
    kind = "format"

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        offset: int | None = None,
        log_index: int | None = None,
        hint: str | None = None,
    ) -> None:
        where = []
        if path is not None:
            where.append(str(path))
        if offset is not None:
            where.append(f"byte offset {offset}")
        if log_index is not None:
            where.append(f"log_index {log_index}")
        full = f"{', '.join(where)}: {message}" if where else message
        super().__init__(full, hint=hint)
        self.reason = message
        self.path = path
        self.offset = offset
        self.log_index = log_index


class BadRecordError(FormatError):
    """A physical log record is damaged (CRC mismatch, zero type, unknown type, bad fragment chain)."""


class RowDecodeError(FormatError):
    """An encoded row does not fit its schema (size, version, string addresses)."""


class NotFoundError(OmsyncError):
    """A table, partition, file or znode that was named does not exist."""

    exit_code = 4
    kind = "not_found"


class ClusterError(OmsyncError):
    """ZooKeeper or cluster metadata is unreachable or malformed."""

    exit_code = 5
    kind = "cluster"


class RpcError(OmsyncError):
    """A remote call (baidu_std or HTTP/JSON) failed; ``transient`` says whether retrying may help."""

    exit_code = 6
    kind = "rpc"
    transient = False


class RpcUnavailable(RpcError):
    """The peer cannot be reached or dropped the connection (refused, reset, closed, connect timeout)."""

    transient = True


class RpcTimeout(RpcError):
    """No answer arrived within the call's timeout; the server may still have run the call."""

    transient = True


class RpcProtocolError(RpcError):
    """The peer sent bytes that are not a valid frame / response of the protocol spoken."""


class RpcRemoteError(RpcError):
    """The server answered with an error.

    ``code`` is brpc's errno (``omsync_tui.rpc.framing`` names them: ENOSERVICE 1001, ENOMETHOD
    1002, EREQUEST 1003, ERPCAUTH 1004, EINTERNAL 2001, ELIMIT 2004, ...); ``text`` is the server's
    error text; ``http_status`` is set when the call went over HTTP.
    """

    def __init__(
        self, code: int, text: str, *, http_status: int | None = None, hint: str | None = None
    ) -> None:
        super().__init__(f"{text} (rpc error {code})", hint=hint)
        self.code = code
        self.text = text
        self.http_status = http_status


class TaskExit(IntEnum):
    """The exit codes ``omsync task`` documents (README, ``omsync task --help``); also the
    ``exit_code`` of every ``/api/v1`` error, which is what the CLI exits with for it."""

    OK = 0
    ERROR = 1
    USAGE = 2
    FAILED = 3  # some subtask FAILED
    UNREACHABLE = 4  # no synctool answered
    REFUSED = 5  # refused to avoid duplicate data, or a destructive action without --yes and no TTY
    TIMEOUT = 124  # ``task wait`` timed out


def task_exit_code(exc: OmsyncError) -> TaskExit:
    """What ``omsync task`` exits with for an error that is not about reaching the synctool (one
    the synctool reported, or one met on the client): a usage error is USAGE, anything else ERROR."""
    return TaskExit.USAGE if isinstance(exc, UsageError) else TaskExit.ERROR

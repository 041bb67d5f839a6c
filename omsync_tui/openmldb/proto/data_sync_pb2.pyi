from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SyncType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    kSNAPSHOT: _ClassVar[SyncType]
    kBINLOG: _ClassVar[SyncType]

class SyncMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    kFull: _ClassVar[SyncMode]
    kIncrementalByTimestamp: _ClassVar[SyncMode]
    kFullAndContinuous: _ClassVar[SyncMode]
kSNAPSHOT: SyncType
kBINLOG: SyncType
kFull: SyncMode
kIncrementalByTimestamp: SyncMode
kFullAndContinuous: SyncMode

class GeneralResponse(_message.Message):
    __slots__ = ("code", "msg")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MSG_FIELD_NUMBER: _ClassVar[int]
    code: int
    msg: str
    def __init__(self, code: _Optional[int] = ..., msg: _Optional[str] = ...) -> None: ...

class SyncPoint(_message.Message):
    __slots__ = ("type", "pk", "ts", "offset", "snapshot", "ordinal", "pk_bytes")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PK_FIELD_NUMBER: _ClassVar[int]
    TS_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    ORDINAL_FIELD_NUMBER: _ClassVar[int]
    PK_BYTES_FIELD_NUMBER: _ClassVar[int]
    type: SyncType
    pk: str
    ts: int
    offset: int
    snapshot: str
    ordinal: int
    pk_bytes: bytes
    def __init__(self, type: _Optional[_Union[SyncType, str]] = ..., pk: _Optional[str] = ..., ts: _Optional[int] = ..., offset: _Optional[int] = ..., snapshot: _Optional[str] = ..., ordinal: _Optional[int] = ..., pk_bytes: _Optional[bytes] = ...) -> None: ...

class AddSyncTaskRequest(_message.Message):
    __slots__ = ("tid", "pid", "mode", "start_ts", "sync_point", "tablet_endpoint", "des_endpoint", "token", "dest", "deletes", "binlog_file", "binlog_byte", "rows_sent", "bytes_sent", "ready")
    TID_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    START_TS_FIELD_NUMBER: _ClassVar[int]
    SYNC_POINT_FIELD_NUMBER: _ClassVar[int]
    TABLET_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    DES_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    DEST_FIELD_NUMBER: _ClassVar[int]
    DELETES_FIELD_NUMBER: _ClassVar[int]
    BINLOG_FILE_FIELD_NUMBER: _ClassVar[int]
    BINLOG_BYTE_FIELD_NUMBER: _ClassVar[int]
    ROWS_SENT_FIELD_NUMBER: _ClassVar[int]
    BYTES_SENT_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    tid: int
    pid: int
    mode: SyncMode
    start_ts: int
    sync_point: SyncPoint
    tablet_endpoint: str
    des_endpoint: str
    token: str
    dest: str
    deletes: bool
    binlog_file: int
    binlog_byte: int
    rows_sent: int
    bytes_sent: int
    ready: bool
    def __init__(self, tid: _Optional[int] = ..., pid: _Optional[int] = ..., mode: _Optional[_Union[SyncMode, str]] = ..., start_ts: _Optional[int] = ..., sync_point: _Optional[_Union[SyncPoint, _Mapping]] = ..., tablet_endpoint: _Optional[str] = ..., des_endpoint: _Optional[str] = ..., token: _Optional[str] = ..., dest: _Optional[str] = ..., deletes: _Optional[bool] = ..., binlog_file: _Optional[int] = ..., binlog_byte: _Optional[int] = ..., rows_sent: _Optional[int] = ..., bytes_sent: _Optional[int] = ..., ready: _Optional[bool] = ...) -> None: ...

class CreateSyncTaskRequest(_message.Message):
    __slots__ = ("db", "name", "mode", "start_ts", "dest")
    DB_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    START_TS_FIELD_NUMBER: _ClassVar[int]
    DEST_FIELD_NUMBER: _ClassVar[int]
    db: str
    name: str
    mode: SyncMode
    start_ts: int
    dest: str
    def __init__(self, db: _Optional[str] = ..., name: _Optional[str] = ..., mode: _Optional[_Union[SyncMode, str]] = ..., start_ts: _Optional[int] = ..., dest: _Optional[str] = ...) -> None: ...

class DeleteSyncTaskRequest(_message.Message):
    __slots__ = ("db", "name")
    DB_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    db: str
    name: str
    def __init__(self, db: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class TaskStatusRequest(_message.Message):
    __slots__ = ("clear_all",)
    CLEAR_ALL_FIELD_NUMBER: _ClassVar[int]
    clear_all: bool
    def __init__(self, clear_all: _Optional[bool] = ...) -> None: ...

class Task(_message.Message):
    __slots__ = ("progress", "data_collector", "count", "status")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    DATA_COLLECTOR_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    progress: AddSyncTaskRequest
    data_collector: str
    count: int
    status: str
    def __init__(self, progress: _Optional[_Union[AddSyncTaskRequest, _Mapping]] = ..., data_collector: _Optional[str] = ..., count: _Optional[int] = ..., status: _Optional[str] = ...) -> None: ...

class TaskStatusResponse(_message.Message):
    __slots__ = ("response", "task", "readableInfo")
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    READABLEINFO_FIELD_NUMBER: _ClassVar[int]
    response: GeneralResponse
    task: _containers.RepeatedCompositeFieldContainer[Task]
    readableInfo: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, response: _Optional[_Union[GeneralResponse, _Mapping]] = ..., task: _Optional[_Iterable[_Union[Task, _Mapping]]] = ..., readableInfo: _Optional[_Iterable[str]] = ...) -> None: ...

class SendDataRequest(_message.Message):
    __slots__ = ("tid", "pid", "start_point", "count", "token", "finished", "next_point", "deletes", "collector", "binlog_latest", "error", "row_sizes")
    TID_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    START_POINT_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    NEXT_POINT_FIELD_NUMBER: _ClassVar[int]
    DELETES_FIELD_NUMBER: _ClassVar[int]
    COLLECTOR_FIELD_NUMBER: _ClassVar[int]
    BINLOG_LATEST_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ROW_SIZES_FIELD_NUMBER: _ClassVar[int]
    tid: int
    pid: int
    start_point: SyncPoint
    count: int
    token: str
    finished: bool
    next_point: SyncPoint
    deletes: _containers.RepeatedCompositeFieldContainer[DeleteOp]
    collector: str
    binlog_latest: int
    error: TaskError
    row_sizes: bytes
    def __init__(self, tid: _Optional[int] = ..., pid: _Optional[int] = ..., start_point: _Optional[_Union[SyncPoint, _Mapping]] = ..., count: _Optional[int] = ..., token: _Optional[str] = ..., finished: _Optional[bool] = ..., next_point: _Optional[_Union[SyncPoint, _Mapping]] = ..., deletes: _Optional[_Iterable[_Union[DeleteOp, _Mapping]]] = ..., collector: _Optional[str] = ..., binlog_latest: _Optional[int] = ..., error: _Optional[_Union[TaskError, _Mapping]] = ..., row_sizes: _Optional[bytes] = ...) -> None: ...

class DeleteOp(_message.Message):
    __slots__ = ("log_index", "row", "idx", "key", "ts", "end_ts", "ts_name")
    LOG_INDEX_FIELD_NUMBER: _ClassVar[int]
    ROW_FIELD_NUMBER: _ClassVar[int]
    IDX_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    TS_FIELD_NUMBER: _ClassVar[int]
    END_TS_FIELD_NUMBER: _ClassVar[int]
    TS_NAME_FIELD_NUMBER: _ClassVar[int]
    log_index: int
    row: int
    idx: int
    key: bytes
    ts: int
    end_ts: int
    ts_name: str
    def __init__(self, log_index: _Optional[int] = ..., row: _Optional[int] = ..., idx: _Optional[int] = ..., key: _Optional[bytes] = ..., ts: _Optional[int] = ..., end_ts: _Optional[int] = ..., ts_name: _Optional[str] = ...) -> None: ...

class TaskError(_message.Message):
    __slots__ = ("code", "message", "missing_from", "missing_to")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    MISSING_FROM_FIELD_NUMBER: _ClassVar[int]
    MISSING_TO_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    missing_from: int
    missing_to: int
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ..., missing_from: _Optional[int] = ..., missing_to: _Optional[int] = ...) -> None: ...

class SendDataResponse(_message.Message):
    __slots__ = ("response", "delete_task", "retry_after_ms")
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    DELETE_TASK_FIELD_NUMBER: _ClassVar[int]
    RETRY_AFTER_MS_FIELD_NUMBER: _ClassVar[int]
    response: GeneralResponse
    delete_task: bool
    retry_after_ms: int
    def __init__(self, response: _Optional[_Union[GeneralResponse, _Mapping]] = ..., delete_task: _Optional[bool] = ..., retry_after_ms: _Optional[int] = ...) -> None: ...

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
    __slots__ = ("type", "pk", "ts", "offset")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PK_FIELD_NUMBER: _ClassVar[int]
    TS_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    type: SyncType
    pk: str
    ts: int
    offset: int
    def __init__(self, type: _Optional[_Union[SyncType, str]] = ..., pk: _Optional[str] = ..., ts: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class AddSyncTaskRequest(_message.Message):
    __slots__ = ("tid", "pid", "mode", "start_ts", "sync_point", "tablet_endpoint", "des_endpoint", "token", "dest")
    TID_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    START_TS_FIELD_NUMBER: _ClassVar[int]
    SYNC_POINT_FIELD_NUMBER: _ClassVar[int]
    TABLET_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    DES_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    DEST_FIELD_NUMBER: _ClassVar[int]
    tid: int
    pid: int
    mode: SyncMode
    start_ts: int
    sync_point: SyncPoint
    tablet_endpoint: str
    des_endpoint: str
    token: str
    dest: str
    def __init__(self, tid: _Optional[int] = ..., pid: _Optional[int] = ..., mode: _Optional[_Union[SyncMode, str]] = ..., start_ts: _Optional[int] = ..., sync_point: _Optional[_Union[SyncPoint, _Mapping]] = ..., tablet_endpoint: _Optional[str] = ..., des_endpoint: _Optional[str] = ..., token: _Optional[str] = ..., dest: _Optional[str] = ...) -> None: ...

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
    __slots__ = ("tid", "pid", "start_point", "count", "token", "finished", "next_point")
    TID_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    START_POINT_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    NEXT_POINT_FIELD_NUMBER: _ClassVar[int]
    tid: int
    pid: int
    start_point: SyncPoint
    count: int
    token: str
    finished: bool
    next_point: SyncPoint
    def __init__(self, tid: _Optional[int] = ..., pid: _Optional[int] = ..., start_point: _Optional[_Union[SyncPoint, _Mapping]] = ..., count: _Optional[int] = ..., token: _Optional[str] = ..., finished: _Optional[bool] = ..., next_point: _Optional[_Union[SyncPoint, _Mapping]] = ...) -> None: ...

class SendDataResponse(_message.Message):
    __slots__ = ("response", "delete_task")
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    DELETE_TASK_FIELD_NUMBER: _ClassVar[int]
    response: GeneralResponse
    delete_task: bool
    def __init__(self, response: _Optional[_Union[GeneralResponse, _Mapping]] = ..., delete_task: _Optional[bool] = ...) -> None: ...

from omsync_tui.openmldb.proto import type_pb2 as _type_pb2
from omsync_tui.openmldb.proto import name_server_pb2 as _name_server_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GeneralRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GeneralResponse(_message.Message):
    __slots__ = ("code", "msg")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MSG_FIELD_NUMBER: _ClassVar[int]
    code: int
    msg: str
    def __init__(self, code: _Optional[int] = ..., msg: _Optional[str] = ...) -> None: ...

class UseDatabaseRequest(_message.Message):
    __slots__ = ("db",)
    DB_FIELD_NUMBER: _ClassVar[int]
    db: str
    def __init__(self, db: _Optional[str] = ...) -> None: ...

class ShowDatabaseResponse(_message.Message):
    __slots__ = ("code", "msg", "db")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MSG_FIELD_NUMBER: _ClassVar[int]
    DB_FIELD_NUMBER: _ClassVar[int]
    code: int
    msg: str
    db: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, code: _Optional[int] = ..., msg: _Optional[str] = ..., db: _Optional[_Iterable[str]] = ...) -> None: ...

class ShowTabletRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TabletStatus(_message.Message):
    __slots__ = ("endpoint", "state", "age", "real_endpoint")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    AGE_FIELD_NUMBER: _ClassVar[int]
    REAL_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    endpoint: str
    state: str
    age: int
    real_endpoint: str
    def __init__(self, endpoint: _Optional[str] = ..., state: _Optional[str] = ..., age: _Optional[int] = ..., real_endpoint: _Optional[str] = ...) -> None: ...

class ShowTabletResponse(_message.Message):
    __slots__ = ("tablets", "code", "msg")
    TABLETS_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MSG_FIELD_NUMBER: _ClassVar[int]
    tablets: _containers.RepeatedCompositeFieldContainer[TabletStatus]
    code: int
    msg: str
    def __init__(self, tablets: _Optional[_Iterable[_Union[TabletStatus, _Mapping]]] = ..., code: _Optional[int] = ..., msg: _Optional[str] = ...) -> None: ...

class ShowTableRequest(_message.Message):
    __slots__ = ("name", "db", "show_all")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DB_FIELD_NUMBER: _ClassVar[int]
    SHOW_ALL_FIELD_NUMBER: _ClassVar[int]
    name: str
    db: str
    show_all: bool
    def __init__(self, name: _Optional[str] = ..., db: _Optional[str] = ..., show_all: _Optional[bool] = ...) -> None: ...

class ShowTableResponse(_message.Message):
    __slots__ = ("table_info", "code", "msg")
    TABLE_INFO_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MSG_FIELD_NUMBER: _ClassVar[int]
    table_info: _containers.RepeatedCompositeFieldContainer[_name_server_pb2.TableInfo]
    code: int
    msg: str
    def __init__(self, table_info: _Optional[_Iterable[_Union[_name_server_pb2.TableInfo, _Mapping]]] = ..., code: _Optional[int] = ..., msg: _Optional[str] = ...) -> None: ...

class ExternalFun(_message.Message):
    __slots__ = ("name", "return_type", "arg_type", "is_aggregate", "file", "return_nullable", "arg_nullable")
    NAME_FIELD_NUMBER: _ClassVar[int]
    RETURN_TYPE_FIELD_NUMBER: _ClassVar[int]
    ARG_TYPE_FIELD_NUMBER: _ClassVar[int]
    IS_AGGREGATE_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    RETURN_NULLABLE_FIELD_NUMBER: _ClassVar[int]
    ARG_NULLABLE_FIELD_NUMBER: _ClassVar[int]
    name: str
    return_type: _type_pb2.DataType
    arg_type: _containers.RepeatedScalarFieldContainer[_type_pb2.DataType]
    is_aggregate: bool
    file: str
    return_nullable: bool
    arg_nullable: bool
    def __init__(self, name: _Optional[str] = ..., return_type: _Optional[_Union[_type_pb2.DataType, str]] = ..., arg_type: _Optional[_Iterable[_Union[_type_pb2.DataType, str]]] = ..., is_aggregate: _Optional[bool] = ..., file: _Optional[str] = ..., return_nullable: _Optional[bool] = ..., arg_nullable: _Optional[bool] = ...) -> None: ...

class ShowFunctionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ShowFunctionResponse(_message.Message):
    __slots__ = ("code", "msg", "fun")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MSG_FIELD_NUMBER: _ClassVar[int]
    FUN_FIELD_NUMBER: _ClassVar[int]
    code: int
    msg: str
    fun: _containers.RepeatedCompositeFieldContainer[ExternalFun]
    def __init__(self, code: _Optional[int] = ..., msg: _Optional[str] = ..., fun: _Optional[_Iterable[_Union[ExternalFun, _Mapping]]] = ...) -> None: ...

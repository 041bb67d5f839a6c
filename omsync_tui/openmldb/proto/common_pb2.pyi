from omsync_tui.openmldb.proto import type_pb2 as _type_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class IndexType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    kCovering: _ClassVar[IndexType]
    kClustered: _ClassVar[IndexType]
    kSecondary: _ClassVar[IndexType]

class StorageMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    kUnknown: _ClassVar[StorageMode]
    kMemory: _ClassVar[StorageMode]
    kSSD: _ClassVar[StorageMode]
    kHDD: _ClassVar[StorageMode]
kCovering: IndexType
kClustered: IndexType
kSecondary: IndexType
kUnknown: StorageMode
kMemory: StorageMode
kSSD: StorageMode
kHDD: StorageMode

class TableColumnSchema(_message.Message):
    __slots__ = ("name", "type", "type_fields", "not_null")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELDS_FIELD_NUMBER: _ClassVar[int]
    NOT_NULL_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: _type_pb2.DataType
    type_fields: _containers.RepeatedCompositeFieldContainer[TableColumnSchema]
    not_null: bool
    def __init__(self, name: _Optional[str] = ..., type: _Optional[_Union[_type_pb2.DataType, str]] = ..., type_fields: _Optional[_Iterable[_Union[TableColumnSchema, _Mapping]]] = ..., not_null: _Optional[bool] = ...) -> None: ...

class ColumnDesc(_message.Message):
    __slots__ = ("name", "data_type", "not_null", "is_constant", "default_value", "schema")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DATA_TYPE_FIELD_NUMBER: _ClassVar[int]
    NOT_NULL_FIELD_NUMBER: _ClassVar[int]
    IS_CONSTANT_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_VALUE_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    name: str
    data_type: _type_pb2.DataType
    not_null: bool
    is_constant: bool
    default_value: str
    schema: TableColumnSchema
    def __init__(self, name: _Optional[str] = ..., data_type: _Optional[_Union[_type_pb2.DataType, str]] = ..., not_null: _Optional[bool] = ..., is_constant: _Optional[bool] = ..., default_value: _Optional[str] = ..., schema: _Optional[_Union[TableColumnSchema, _Mapping]] = ...) -> None: ...

class TTLSt(_message.Message):
    __slots__ = ("ttl_type", "abs_ttl", "lat_ttl")
    TTL_TYPE_FIELD_NUMBER: _ClassVar[int]
    ABS_TTL_FIELD_NUMBER: _ClassVar[int]
    LAT_TTL_FIELD_NUMBER: _ClassVar[int]
    ttl_type: _type_pb2.TTLType
    abs_ttl: int
    lat_ttl: int
    def __init__(self, ttl_type: _Optional[_Union[_type_pb2.TTLType, str]] = ..., abs_ttl: _Optional[int] = ..., lat_ttl: _Optional[int] = ...) -> None: ...

class ColumnKey(_message.Message):
    __slots__ = ("index_name", "col_name", "ts_name", "flag", "ttl", "type")
    INDEX_NAME_FIELD_NUMBER: _ClassVar[int]
    COL_NAME_FIELD_NUMBER: _ClassVar[int]
    TS_NAME_FIELD_NUMBER: _ClassVar[int]
    FLAG_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    index_name: str
    col_name: _containers.RepeatedScalarFieldContainer[str]
    ts_name: str
    flag: int
    ttl: TTLSt
    type: IndexType
    def __init__(self, index_name: _Optional[str] = ..., col_name: _Optional[_Iterable[str]] = ..., ts_name: _Optional[str] = ..., flag: _Optional[int] = ..., ttl: _Optional[_Union[TTLSt, _Mapping]] = ..., type: _Optional[_Union[IndexType, str]] = ...) -> None: ...

class VersionPair(_message.Message):
    __slots__ = ("id", "field_count")
    ID_FIELD_NUMBER: _ClassVar[int]
    FIELD_COUNT_FIELD_NUMBER: _ClassVar[int]
    id: int
    field_count: int
    def __init__(self, id: _Optional[int] = ..., field_count: _Optional[int] = ...) -> None: ...

class PartitionMeta(_message.Message):
    __slots__ = ("endpoint", "is_leader", "is_alive")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    IS_LEADER_FIELD_NUMBER: _ClassVar[int]
    IS_ALIVE_FIELD_NUMBER: _ClassVar[int]
    endpoint: str
    is_leader: bool
    is_alive: bool
    def __init__(self, endpoint: _Optional[str] = ..., is_leader: _Optional[bool] = ..., is_alive: _Optional[bool] = ...) -> None: ...

class TablePartition(_message.Message):
    __slots__ = ("pid", "partition_meta")
    PID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_META_FIELD_NUMBER: _ClassVar[int]
    pid: int
    partition_meta: _containers.RepeatedCompositeFieldContainer[PartitionMeta]
    def __init__(self, pid: _Optional[int] = ..., partition_meta: _Optional[_Iterable[_Union[PartitionMeta, _Mapping]]] = ...) -> None: ...

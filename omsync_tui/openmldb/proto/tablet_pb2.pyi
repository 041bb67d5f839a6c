from omsync_tui.openmldb.proto import type_pb2 as _type_pb2
from omsync_tui.openmldb.proto import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TableMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    kTableLeader: _ClassVar[TableMode]
    kTableFollower: _ClassVar[TableMode]

class TableState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    kTableUndefined: _ClassVar[TableState]
    kTableNormal: _ClassVar[TableState]
    kTableLoading: _ClassVar[TableState]
    kMakingSnapshot: _ClassVar[TableState]
    kSnapshotPaused: _ClassVar[TableState]

class MethodType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    kPut: _ClassVar[MethodType]
    kDelete: _ClassVar[MethodType]
kTableLeader: TableMode
kTableFollower: TableMode
kTableUndefined: TableState
kTableNormal: TableState
kTableLoading: TableState
kMakingSnapshot: TableState
kSnapshotPaused: TableState
kPut: MethodType
kDelete: MethodType

class Manifest(_message.Message):
    __slots__ = ("offset", "name", "count", "term")
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    offset: int
    name: str
    count: int
    term: int
    def __init__(self, offset: _Optional[int] = ..., name: _Optional[str] = ..., count: _Optional[int] = ..., term: _Optional[int] = ...) -> None: ...

class Dimension(_message.Message):
    __slots__ = ("key", "idx")
    KEY_FIELD_NUMBER: _ClassVar[int]
    IDX_FIELD_NUMBER: _ClassVar[int]
    key: str
    idx: int
    def __init__(self, key: _Optional[str] = ..., idx: _Optional[int] = ...) -> None: ...

class TSDimension(_message.Message):
    __slots__ = ("ts", "idx")
    TS_FIELD_NUMBER: _ClassVar[int]
    IDX_FIELD_NUMBER: _ClassVar[int]
    ts: int
    idx: int
    def __init__(self, ts: _Optional[int] = ..., idx: _Optional[int] = ...) -> None: ...

class LogEntry(_message.Message):
    __slots__ = ("term", "log_index", "pk", "value", "ts", "dimensions", "method_type", "ts_dimensions", "end_ts", "ts_name")
    TERM_FIELD_NUMBER: _ClassVar[int]
    LOG_INDEX_FIELD_NUMBER: _ClassVar[int]
    PK_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    TS_FIELD_NUMBER: _ClassVar[int]
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    METHOD_TYPE_FIELD_NUMBER: _ClassVar[int]
    TS_DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    END_TS_FIELD_NUMBER: _ClassVar[int]
    TS_NAME_FIELD_NUMBER: _ClassVar[int]
    term: int
    log_index: int
    pk: str
    value: bytes
    ts: int
    dimensions: _containers.RepeatedCompositeFieldContainer[Dimension]
    method_type: MethodType
    ts_dimensions: _containers.RepeatedCompositeFieldContainer[TSDimension]
    end_ts: int
    ts_name: str
    def __init__(self, term: _Optional[int] = ..., log_index: _Optional[int] = ..., pk: _Optional[str] = ..., value: _Optional[bytes] = ..., ts: _Optional[int] = ..., dimensions: _Optional[_Iterable[_Union[Dimension, _Mapping]]] = ..., method_type: _Optional[_Union[MethodType, str]] = ..., ts_dimensions: _Optional[_Iterable[_Union[TSDimension, _Mapping]]] = ..., end_ts: _Optional[int] = ..., ts_name: _Optional[str] = ...) -> None: ...

class TableMeta(_message.Message):
    __slots__ = ("tid", "name", "pid", "seg_cnt", "replicas", "mode", "term", "compress_type", "key_entry_max_height", "column_desc", "column_key", "added_column_desc", "format_version", "db", "schema_versions", "table_partition", "storage_mode", "base_table_tid")
    TID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    SEG_CNT_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    COMPRESS_TYPE_FIELD_NUMBER: _ClassVar[int]
    KEY_ENTRY_MAX_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    COLUMN_DESC_FIELD_NUMBER: _ClassVar[int]
    COLUMN_KEY_FIELD_NUMBER: _ClassVar[int]
    ADDED_COLUMN_DESC_FIELD_NUMBER: _ClassVar[int]
    FORMAT_VERSION_FIELD_NUMBER: _ClassVar[int]
    DB_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    TABLE_PARTITION_FIELD_NUMBER: _ClassVar[int]
    STORAGE_MODE_FIELD_NUMBER: _ClassVar[int]
    BASE_TABLE_TID_FIELD_NUMBER: _ClassVar[int]
    tid: int
    name: str
    pid: int
    seg_cnt: int
    replicas: _containers.RepeatedScalarFieldContainer[str]
    mode: TableMode
    term: int
    compress_type: _type_pb2.CompressType
    key_entry_max_height: int
    column_desc: _containers.RepeatedCompositeFieldContainer[_common_pb2.ColumnDesc]
    column_key: _containers.RepeatedCompositeFieldContainer[_common_pb2.ColumnKey]
    added_column_desc: _containers.RepeatedCompositeFieldContainer[_common_pb2.ColumnDesc]
    format_version: int
    db: str
    schema_versions: _containers.RepeatedCompositeFieldContainer[_common_pb2.VersionPair]
    table_partition: _containers.RepeatedCompositeFieldContainer[_common_pb2.TablePartition]
    storage_mode: _common_pb2.StorageMode
    base_table_tid: int
    def __init__(self, tid: _Optional[int] = ..., name: _Optional[str] = ..., pid: _Optional[int] = ..., seg_cnt: _Optional[int] = ..., replicas: _Optional[_Iterable[str]] = ..., mode: _Optional[_Union[TableMode, str]] = ..., term: _Optional[int] = ..., compress_type: _Optional[_Union[_type_pb2.CompressType, str]] = ..., key_entry_max_height: _Optional[int] = ..., column_desc: _Optional[_Iterable[_Union[_common_pb2.ColumnDesc, _Mapping]]] = ..., column_key: _Optional[_Iterable[_Union[_common_pb2.ColumnKey, _Mapping]]] = ..., added_column_desc: _Optional[_Iterable[_Union[_common_pb2.ColumnDesc, _Mapping]]] = ..., format_version: _Optional[int] = ..., db: _Optional[str] = ..., schema_versions: _Optional[_Iterable[_Union[_common_pb2.VersionPair, _Mapping]]] = ..., table_partition: _Optional[_Iterable[_Union[_common_pb2.TablePartition, _Mapping]]] = ..., storage_mode: _Optional[_Union[_common_pb2.StorageMode, str]] = ..., base_table_tid: _Optional[int] = ...) -> None: ...

class GetTableStatusRequest(_message.Message):
    __slots__ = ("tid", "pid", "need_schema")
    TID_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    NEED_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    tid: int
    pid: int
    need_schema: bool
    def __init__(self, tid: _Optional[int] = ..., pid: _Optional[int] = ..., need_schema: _Optional[bool] = ...) -> None: ...

class TsIdxStatus(_message.Message):
    __slots__ = ("idx_name", "seg_cnts")
    IDX_NAME_FIELD_NUMBER: _ClassVar[int]
    SEG_CNTS_FIELD_NUMBER: _ClassVar[int]
    idx_name: str
    seg_cnts: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, idx_name: _Optional[str] = ..., seg_cnts: _Optional[_Iterable[int]] = ...) -> None: ...

class TableStatus(_message.Message):
    __slots__ = ("tid", "pid", "offset", "mode", "state", "is_expire", "time_offset", "record_cnt", "idx_cnt", "ts_idx_status", "name", "record_byte_size", "record_idx_byte_size", "record_pk_cnt", "compress_type", "skiplist_height", "diskused", "storage_mode", "snapshot_path", "binlog_path")
    TID_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    IS_EXPIRE_FIELD_NUMBER: _ClassVar[int]
    TIME_OFFSET_FIELD_NUMBER: _ClassVar[int]
    RECORD_CNT_FIELD_NUMBER: _ClassVar[int]
    IDX_CNT_FIELD_NUMBER: _ClassVar[int]
    TS_IDX_STATUS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    RECORD_BYTE_SIZE_FIELD_NUMBER: _ClassVar[int]
    RECORD_IDX_BYTE_SIZE_FIELD_NUMBER: _ClassVar[int]
    RECORD_PK_CNT_FIELD_NUMBER: _ClassVar[int]
    COMPRESS_TYPE_FIELD_NUMBER: _ClassVar[int]
    SKIPLIST_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    DISKUSED_FIELD_NUMBER: _ClassVar[int]
    STORAGE_MODE_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_PATH_FIELD_NUMBER: _ClassVar[int]
    BINLOG_PATH_FIELD_NUMBER: _ClassVar[int]
    tid: int
    pid: int
    offset: int
    mode: TableMode
    state: TableState
    is_expire: bool
    time_offset: int
    record_cnt: int
    idx_cnt: int
    ts_idx_status: _containers.RepeatedCompositeFieldContainer[TsIdxStatus]
    name: str
    record_byte_size: int
    record_idx_byte_size: int
    record_pk_cnt: int
    compress_type: _type_pb2.CompressType
    skiplist_height: int
    diskused: int
    storage_mode: _common_pb2.StorageMode
    snapshot_path: str
    binlog_path: str
    def __init__(self, tid: _Optional[int] = ..., pid: _Optional[int] = ..., offset: _Optional[int] = ..., mode: _Optional[_Union[TableMode, str]] = ..., state: _Optional[_Union[TableState, str]] = ..., is_expire: _Optional[bool] = ..., time_offset: _Optional[int] = ..., record_cnt: _Optional[int] = ..., idx_cnt: _Optional[int] = ..., ts_idx_status: _Optional[_Iterable[_Union[TsIdxStatus, _Mapping]]] = ..., name: _Optional[str] = ..., record_byte_size: _Optional[int] = ..., record_idx_byte_size: _Optional[int] = ..., record_pk_cnt: _Optional[int] = ..., compress_type: _Optional[_Union[_type_pb2.CompressType, str]] = ..., skiplist_height: _Optional[int] = ..., diskused: _Optional[int] = ..., storage_mode: _Optional[_Union[_common_pb2.StorageMode, str]] = ..., snapshot_path: _Optional[str] = ..., binlog_path: _Optional[str] = ...) -> None: ...

class GetTableStatusResponse(_message.Message):
    __slots__ = ("all_table_status", "code", "msg")
    ALL_TABLE_STATUS_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MSG_FIELD_NUMBER: _ClassVar[int]
    all_table_status: _containers.RepeatedCompositeFieldContainer[TableStatus]
    code: int
    msg: str
    def __init__(self, all_table_status: _Optional[_Iterable[_Union[TableStatus, _Mapping]]] = ..., code: _Optional[int] = ..., msg: _Optional[str] = ...) -> None: ...

class GetTableSchemaRequest(_message.Message):
    __slots__ = ("tid", "pid")
    TID_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    tid: int
    pid: int
    def __init__(self, tid: _Optional[int] = ..., pid: _Optional[int] = ...) -> None: ...

class GetTableSchemaResponse(_message.Message):
    __slots__ = ("code", "msg", "table_meta")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MSG_FIELD_NUMBER: _ClassVar[int]
    TABLE_META_FIELD_NUMBER: _ClassVar[int]
    code: int
    msg: str
    table_meta: TableMeta
    def __init__(self, code: _Optional[int] = ..., msg: _Optional[str] = ..., table_meta: _Optional[_Union[TableMeta, _Mapping]] = ...) -> None: ...

class GeneralResponse(_message.Message):
    __slots__ = ("code", "msg", "additional_ids", "count")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MSG_FIELD_NUMBER: _ClassVar[int]
    ADDITIONAL_IDS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    code: int
    msg: str
    additional_ids: _containers.RepeatedScalarFieldContainer[int]
    count: int
    def __init__(self, code: _Optional[int] = ..., msg: _Optional[str] = ..., additional_ids: _Optional[_Iterable[int]] = ..., count: _Optional[int] = ...) -> None: ...

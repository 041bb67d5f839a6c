from omsync_tui.openmldb.proto import type_pb2 as _type_pb2
from omsync_tui.openmldb.proto import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PartitionMeta(_message.Message):
    __slots__ = ("endpoint", "is_leader", "is_alive", "offset", "record_cnt", "record_byte_size", "tablet_has_partition", "diskused", "remote_tid", "alias")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    IS_LEADER_FIELD_NUMBER: _ClassVar[int]
    IS_ALIVE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    RECORD_CNT_FIELD_NUMBER: _ClassVar[int]
    RECORD_BYTE_SIZE_FIELD_NUMBER: _ClassVar[int]
    TABLET_HAS_PARTITION_FIELD_NUMBER: _ClassVar[int]
    DISKUSED_FIELD_NUMBER: _ClassVar[int]
    REMOTE_TID_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    endpoint: str
    is_leader: bool
    is_alive: bool
    offset: int
    record_cnt: int
    record_byte_size: int
    tablet_has_partition: bool
    diskused: int
    remote_tid: int
    alias: str
    def __init__(self, endpoint: _Optional[str] = ..., is_leader: _Optional[bool] = ..., is_alive: _Optional[bool] = ..., offset: _Optional[int] = ..., record_cnt: _Optional[int] = ..., record_byte_size: _Optional[int] = ..., tablet_has_partition: _Optional[bool] = ..., diskused: _Optional[int] = ..., remote_tid: _Optional[int] = ..., alias: _Optional[str] = ...) -> None: ...

class TermPair(_message.Message):
    __slots__ = ("term", "offset")
    TERM_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    term: int
    offset: int
    def __init__(self, term: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class TablePartition(_message.Message):
    __slots__ = ("pid", "partition_meta", "term_offset", "record_cnt", "record_byte_size", "diskused", "remote_partition_meta")
    PID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_META_FIELD_NUMBER: _ClassVar[int]
    TERM_OFFSET_FIELD_NUMBER: _ClassVar[int]
    RECORD_CNT_FIELD_NUMBER: _ClassVar[int]
    RECORD_BYTE_SIZE_FIELD_NUMBER: _ClassVar[int]
    DISKUSED_FIELD_NUMBER: _ClassVar[int]
    REMOTE_PARTITION_META_FIELD_NUMBER: _ClassVar[int]
    pid: int
    partition_meta: _containers.RepeatedCompositeFieldContainer[PartitionMeta]
    term_offset: _containers.RepeatedCompositeFieldContainer[TermPair]
    record_cnt: int
    record_byte_size: int
    diskused: int
    remote_partition_meta: _containers.RepeatedCompositeFieldContainer[PartitionMeta]
    def __init__(self, pid: _Optional[int] = ..., partition_meta: _Optional[_Iterable[_Union[PartitionMeta, _Mapping]]] = ..., term_offset: _Optional[_Iterable[_Union[TermPair, _Mapping]]] = ..., record_cnt: _Optional[int] = ..., record_byte_size: _Optional[int] = ..., diskused: _Optional[int] = ..., remote_partition_meta: _Optional[_Iterable[_Union[PartitionMeta, _Mapping]]] = ...) -> None: ...

class OfflineTableInfo(_message.Message):
    __slots__ = ("path", "format", "deep_copy", "options", "symbolic_paths")
    class OptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PATH_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    DEEP_COPY_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    SYMBOLIC_PATHS_FIELD_NUMBER: _ClassVar[int]
    path: str
    format: str
    deep_copy: bool
    options: _containers.ScalarMap[str, str]
    symbolic_paths: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, path: _Optional[str] = ..., format: _Optional[str] = ..., deep_copy: _Optional[bool] = ..., options: _Optional[_Mapping[str, str]] = ..., symbolic_paths: _Optional[_Iterable[str]] = ...) -> None: ...

class TableInfo(_message.Message):
    __slots__ = ("name", "seg_cnt", "table_partition", "tid", "partition_num", "replica_num", "compress_type", "key_entry_max_height", "column_desc", "column_key", "added_column_desc", "format_version", "db", "partition_key", "schema_versions", "offline_table_info", "storage_mode", "base_table_tid")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SEG_CNT_FIELD_NUMBER: _ClassVar[int]
    TABLE_PARTITION_FIELD_NUMBER: _ClassVar[int]
    TID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_NUM_FIELD_NUMBER: _ClassVar[int]
    REPLICA_NUM_FIELD_NUMBER: _ClassVar[int]
    COMPRESS_TYPE_FIELD_NUMBER: _ClassVar[int]
    KEY_ENTRY_MAX_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    COLUMN_DESC_FIELD_NUMBER: _ClassVar[int]
    COLUMN_KEY_FIELD_NUMBER: _ClassVar[int]
    ADDED_COLUMN_DESC_FIELD_NUMBER: _ClassVar[int]
    FORMAT_VERSION_FIELD_NUMBER: _ClassVar[int]
    DB_FIELD_NUMBER: _ClassVar[int]
    PARTITION_KEY_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_TABLE_INFO_FIELD_NUMBER: _ClassVar[int]
    STORAGE_MODE_FIELD_NUMBER: _ClassVar[int]
    BASE_TABLE_TID_FIELD_NUMBER: _ClassVar[int]
    name: str
    seg_cnt: int
    table_partition: _containers.RepeatedCompositeFieldContainer[TablePartition]
    tid: int
    partition_num: int
    replica_num: int
    compress_type: _type_pb2.CompressType
    key_entry_max_height: int
    column_desc: _containers.RepeatedCompositeFieldContainer[_common_pb2.ColumnDesc]
    column_key: _containers.RepeatedCompositeFieldContainer[_common_pb2.ColumnKey]
    added_column_desc: _containers.RepeatedCompositeFieldContainer[_common_pb2.ColumnDesc]
    format_version: int
    db: str
    partition_key: _containers.RepeatedScalarFieldContainer[str]
    schema_versions: _containers.RepeatedCompositeFieldContainer[_common_pb2.VersionPair]
    offline_table_info: OfflineTableInfo
    storage_mode: _common_pb2.StorageMode
    base_table_tid: int
    def __init__(self, name: _Optional[str] = ..., seg_cnt: _Optional[int] = ..., table_partition: _Optional[_Iterable[_Union[TablePartition, _Mapping]]] = ..., tid: _Optional[int] = ..., partition_num: _Optional[int] = ..., replica_num: _Optional[int] = ..., compress_type: _Optional[_Union[_type_pb2.CompressType, str]] = ..., key_entry_max_height: _Optional[int] = ..., column_desc: _Optional[_Iterable[_Union[_common_pb2.ColumnDesc, _Mapping]]] = ..., column_key: _Optional[_Iterable[_Union[_common_pb2.ColumnKey, _Mapping]]] = ..., added_column_desc: _Optional[_Iterable[_Union[_common_pb2.ColumnDesc, _Mapping]]] = ..., format_version: _Optional[int] = ..., db: _Optional[str] = ..., partition_key: _Optional[_Iterable[str]] = ..., schema_versions: _Optional[_Iterable[_Union[_common_pb2.VersionPair, _Mapping]]] = ..., offline_table_info: _Optional[_Union[OfflineTableInfo, _Mapping]] = ..., storage_mode: _Optional[_Union[_common_pb2.StorageMode, str]] = ..., base_table_tid: _Optional[int] = ...) -> None: ...

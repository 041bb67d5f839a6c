from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor

class DataType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    kBool: _ClassVar[DataType]
    kSmallInt: _ClassVar[DataType]
    kInt: _ClassVar[DataType]
    kBigInt: _ClassVar[DataType]
    kFloat: _ClassVar[DataType]
    kDouble: _ClassVar[DataType]
    kDate: _ClassVar[DataType]
    kTimestamp: _ClassVar[DataType]
    kVarchar: _ClassVar[DataType]
    kString: _ClassVar[DataType]
    kArray: _ClassVar[DataType]
    kMap: _ClassVar[DataType]

class IndexType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    kUnique: _ClassVar[IndexType]
    kNoUnique: _ClassVar[IndexType]
    kPrimaryKey: _ClassVar[IndexType]
    kAutoGen: _ClassVar[IndexType]
    kIncrement: _ClassVar[IndexType]
    kTimeSerise: _ClassVar[IndexType]

class TTLType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    kAbsoluteTime: _ClassVar[TTLType]
    kRelativeTime: _ClassVar[TTLType]
    kLatestTime: _ClassVar[TTLType]
    kAbsAndLat: _ClassVar[TTLType]
    kAbsOrLat: _ClassVar[TTLType]

class CompressType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    kNoCompress: _ClassVar[CompressType]
    kSnappy: _ClassVar[CompressType]

class EndpointState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    kOffline: _ClassVar[EndpointState]
    kHealthy: _ClassVar[EndpointState]
kBool: DataType
kSmallInt: DataType
kInt: DataType
kBigInt: DataType
kFloat: DataType
kDouble: DataType
kDate: DataType
kTimestamp: DataType
kVarchar: DataType
kString: DataType
kArray: DataType
kMap: DataType
kUnique: IndexType
kNoUnique: IndexType
kPrimaryKey: IndexType
kAutoGen: IndexType
kIncrement: IndexType
kTimeSerise: IndexType
kAbsoluteTime: TTLType
kRelativeTime: TTLType
kLatestTime: TTLType
kAbsAndLat: TTLType
kAbsOrLat: TTLType
kNoCompress: CompressType
kSnappy: CompressType
kOffline: EndpointState
kHealthy: EndpointState

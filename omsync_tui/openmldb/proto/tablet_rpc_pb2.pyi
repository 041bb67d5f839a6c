from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetTableFollowerRequest(_message.Message):
    __slots__ = ("tid", "pid")
    TID_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    tid: int
    pid: int
    def __init__(self, tid: _Optional[int] = ..., pid: _Optional[int] = ...) -> None: ...

class FollowerInfo(_message.Message):
    __slots__ = ("endpoint", "offset")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    endpoint: str
    offset: int
    def __init__(self, endpoint: _Optional[str] = ..., offset: _Optional[int] = ...) -> None: ...

class GetTableFollowerResponse(_message.Message):
    __slots__ = ("code", "msg", "offset", "follower_info")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MSG_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    FOLLOWER_INFO_FIELD_NUMBER: _ClassVar[int]
    code: int
    msg: str
    offset: int
    follower_info: _containers.RepeatedCompositeFieldContainer[FollowerInfo]
    def __init__(self, code: _Optional[int] = ..., msg: _Optional[str] = ..., offset: _Optional[int] = ..., follower_info: _Optional[_Iterable[_Union[FollowerInfo, _Mapping]]] = ...) -> None: ...

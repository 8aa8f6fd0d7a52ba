import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from limiquantix.network.v1 import network_pb2 as _network_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateLoadBalancerRequest(_message.Message):
    __slots__ = ("name", "description", "project_id", "labels", "spec", "network_id", "vip_address", "listeners")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    VIP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    LISTENERS_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    project_id: str
    labels: _containers.ScalarMap[str, str]
    spec: _network_pb2.LoadBalancerSpec
    network_id: str
    vip_address: str
    listeners: _containers.RepeatedCompositeFieldContainer[_network_pb2.Listener]
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., project_id: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., spec: _Optional[_Union[_network_pb2.LoadBalancerSpec, _Mapping]] = ..., network_id: _Optional[str] = ..., vip_address: _Optional[str] = ..., listeners: _Optional[_Iterable[_Union[_network_pb2.Listener, _Mapping]]] = ...) -> None: ...

class GetLoadBalancerRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListLoadBalancersRequest(_message.Message):
    __slots__ = ("project_id", "network_id", "page_size", "page_token")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    network_id: str
    page_size: int
    page_token: str
    def __init__(self, project_id: _Optional[str] = ..., network_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListLoadBalancersResponse(_message.Message):
    __slots__ = ("load_balancers", "next_page_token", "total_count")
    LOAD_BALANCERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    load_balancers: _containers.RepeatedCompositeFieldContainer[_network_pb2.LoadBalancer]
    next_page_token: str
    total_count: int
    def __init__(self, load_balancers: _Optional[_Iterable[_Union[_network_pb2.LoadBalancer, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_count: _Optional[int] = ...) -> None: ...

class UpdateLoadBalancerRequest(_message.Message):
    __slots__ = ("id", "description", "labels", "name", "update_mask")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    id: str
    description: str
    labels: _containers.ScalarMap[str, str]
    name: str
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, id: _Optional[str] = ..., description: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., name: _Optional[str] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DeleteLoadBalancerRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class AddListenerRequest(_message.Message):
    __slots__ = ("load_balancer_id", "listener")
    LOAD_BALANCER_ID_FIELD_NUMBER: _ClassVar[int]
    LISTENER_FIELD_NUMBER: _ClassVar[int]
    load_balancer_id: str
    listener: _network_pb2.Listener
    def __init__(self, load_balancer_id: _Optional[str] = ..., listener: _Optional[_Union[_network_pb2.Listener, _Mapping]] = ...) -> None: ...

class UpdateListenerRequest(_message.Message):
    __slots__ = ("load_balancer_id", "listener_id", "name", "port", "default_pool_id")
    LOAD_BALANCER_ID_FIELD_NUMBER: _ClassVar[int]
    LISTENER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_POOL_ID_FIELD_NUMBER: _ClassVar[int]
    load_balancer_id: str
    listener_id: str
    name: str
    port: int
    default_pool_id: str
    def __init__(self, load_balancer_id: _Optional[str] = ..., listener_id: _Optional[str] = ..., name: _Optional[str] = ..., port: _Optional[int] = ..., default_pool_id: _Optional[str] = ...) -> None: ...

class RemoveListenerRequest(_message.Message):
    __slots__ = ("load_balancer_id", "listener_id")
    LOAD_BALANCER_ID_FIELD_NUMBER: _ClassVar[int]
    LISTENER_ID_FIELD_NUMBER: _ClassVar[int]
    load_balancer_id: str
    listener_id: str
    def __init__(self, load_balancer_id: _Optional[str] = ..., listener_id: _Optional[str] = ...) -> None: ...

class AddPoolRequest(_message.Message):
    __slots__ = ("load_balancer_id", "pool")
    LOAD_BALANCER_ID_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    load_balancer_id: str
    pool: _network_pb2.Pool
    def __init__(self, load_balancer_id: _Optional[str] = ..., pool: _Optional[_Union[_network_pb2.Pool, _Mapping]] = ...) -> None: ...

class UpdatePoolRequest(_message.Message):
    __slots__ = ("load_balancer_id", "pool_id", "name", "algorithm", "health_monitor", "remove_health_monitor", "persistence")
    LOAD_BALANCER_ID_FIELD_NUMBER: _ClassVar[int]
    POOL_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    HEALTH_MONITOR_FIELD_NUMBER: _ClassVar[int]
    REMOVE_HEALTH_MONITOR_FIELD_NUMBER: _ClassVar[int]
    PERSISTENCE_FIELD_NUMBER: _ClassVar[int]
    load_balancer_id: str
    pool_id: str
    name: str
    algorithm: _network_pb2.Pool.Algorithm
    health_monitor: _network_pb2.HealthMonitor
    remove_health_monitor: bool
    persistence: _network_pb2.SessionPersistence
    def __init__(self, load_balancer_id: _Optional[str] = ..., pool_id: _Optional[str] = ..., name: _Optional[str] = ..., algorithm: _Optional[_Union[_network_pb2.Pool.Algorithm, str]] = ..., health_monitor: _Optional[_Union[_network_pb2.HealthMonitor, _Mapping]] = ..., remove_health_monitor: _Optional[bool] = ..., persistence: _Optional[_Union[_network_pb2.SessionPersistence, _Mapping]] = ...) -> None: ...

class RemovePoolRequest(_message.Message):
    __slots__ = ("load_balancer_id", "pool_id")
    LOAD_BALANCER_ID_FIELD_NUMBER: _ClassVar[int]
    POOL_ID_FIELD_NUMBER: _ClassVar[int]
    load_balancer_id: str
    pool_id: str
    def __init__(self, load_balancer_id: _Optional[str] = ..., pool_id: _Optional[str] = ...) -> None: ...

class AddPoolMemberRequest(_message.Message):
    __slots__ = ("load_balancer_id", "pool_id", "member")
    LOAD_BALANCER_ID_FIELD_NUMBER: _ClassVar[int]
    POOL_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    load_balancer_id: str
    pool_id: str
    member: _network_pb2.PoolMember
    def __init__(self, load_balancer_id: _Optional[str] = ..., pool_id: _Optional[str] = ..., member: _Optional[_Union[_network_pb2.PoolMember, _Mapping]] = ...) -> None: ...

class UpdatePoolMemberRequest(_message.Message):
    __slots__ = ("load_balancer_id", "pool_id", "member_id", "name", "weight", "admin_state_up", "drain")
    LOAD_BALANCER_ID_FIELD_NUMBER: _ClassVar[int]
    POOL_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    ADMIN_STATE_UP_FIELD_NUMBER: _ClassVar[int]
    DRAIN_FIELD_NUMBER: _ClassVar[int]
    load_balancer_id: str
    pool_id: str
    member_id: str
    name: str
    weight: int
    admin_state_up: bool
    drain: bool
    def __init__(self, load_balancer_id: _Optional[str] = ..., pool_id: _Optional[str] = ..., member_id: _Optional[str] = ..., name: _Optional[str] = ..., weight: _Optional[int] = ..., admin_state_up: _Optional[bool] = ..., drain: _Optional[bool] = ...) -> None: ...

class RemovePoolMemberRequest(_message.Message):
    __slots__ = ("load_balancer_id", "pool_id", "member_id")
    LOAD_BALANCER_ID_FIELD_NUMBER: _ClassVar[int]
    POOL_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    load_balancer_id: str
    pool_id: str
    member_id: str
    def __init__(self, load_balancer_id: _Optional[str] = ..., pool_id: _Optional[str] = ..., member_id: _Optional[str] = ...) -> None: ...

class GetLoadBalancerStatsRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class LoadBalancerStats(_message.Message):
    __slots__ = ("load_balancer_id", "active_connections", "total_connections", "bytes_in", "bytes_out", "requests", "listener_stats", "member_stats", "requests_per_second", "sampled_at", "unavailable_reason")
    LOAD_BALANCER_ID_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    BYTES_IN_FIELD_NUMBER: _ClassVar[int]
    BYTES_OUT_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    LISTENER_STATS_FIELD_NUMBER: _ClassVar[int]
    MEMBER_STATS_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    SAMPLED_AT_FIELD_NUMBER: _ClassVar[int]
    UNAVAILABLE_REASON_FIELD_NUMBER: _ClassVar[int]
    load_balancer_id: str
    active_connections: int
    total_connections: int
    bytes_in: int
    bytes_out: int
    requests: int
    listener_stats: _containers.RepeatedCompositeFieldContainer[ListenerStats]
    member_stats: _containers.RepeatedCompositeFieldContainer[MemberStats]
    requests_per_second: float
    sampled_at: _timestamp_pb2.Timestamp
    unavailable_reason: str
    def __init__(self, load_balancer_id: _Optional[str] = ..., active_connections: _Optional[int] = ..., total_connections: _Optional[int] = ..., bytes_in: _Optional[int] = ..., bytes_out: _Optional[int] = ..., requests: _Optional[int] = ..., listener_stats: _Optional[_Iterable[_Union[ListenerStats, _Mapping]]] = ..., member_stats: _Optional[_Iterable[_Union[MemberStats, _Mapping]]] = ..., requests_per_second: _Optional[float] = ..., sampled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., unavailable_reason: _Optional[str] = ...) -> None: ...

class ListenerStats(_message.Message):
    __slots__ = ("listener_id", "active_connections", "total_connections", "bytes_in", "bytes_out", "requests_per_second")
    LISTENER_ID_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    BYTES_IN_FIELD_NUMBER: _ClassVar[int]
    BYTES_OUT_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    listener_id: str
    active_connections: int
    total_connections: int
    bytes_in: int
    bytes_out: int
    requests_per_second: float
    def __init__(self, listener_id: _Optional[str] = ..., active_connections: _Optional[int] = ..., total_connections: _Optional[int] = ..., bytes_in: _Optional[int] = ..., bytes_out: _Optional[int] = ..., requests_per_second: _Optional[float] = ...) -> None: ...

class MemberStats(_message.Message):
    __slots__ = ("pool_id", "member_id", "address", "healthy", "active_connections", "total_connections", "bytes_in", "bytes_out", "port", "operating_status")
    POOL_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    BYTES_IN_FIELD_NUMBER: _ClassVar[int]
    BYTES_OUT_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    OPERATING_STATUS_FIELD_NUMBER: _ClassVar[int]
    pool_id: str
    member_id: str
    address: str
    healthy: bool
    active_connections: int
    total_connections: int
    bytes_in: int
    bytes_out: int
    port: int
    operating_status: str
    def __init__(self, pool_id: _Optional[str] = ..., member_id: _Optional[str] = ..., address: _Optional[str] = ..., healthy: _Optional[bool] = ..., active_connections: _Optional[int] = ..., total_connections: _Optional[int] = ..., bytes_in: _Optional[int] = ..., bytes_out: _Optional[int] = ..., port: _Optional[int] = ..., operating_status: _Optional[str] = ...) -> None: ...

class WatchLoadBalancersRequest(_message.Message):
    __slots__ = ("project_id", "network_id", "include_stats")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_STATS_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    network_id: str
    include_stats: bool
    def __init__(self, project_id: _Optional[str] = ..., network_id: _Optional[str] = ..., include_stats: _Optional[bool] = ...) -> None: ...

class WatchLoadBalancersResponse(_message.Message):
    __slots__ = ("type", "load_balancer", "stats")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        TYPE_UNSPECIFIED: _ClassVar[WatchLoadBalancersResponse.Type]
        EXISTING: _ClassVar[WatchLoadBalancersResponse.Type]
        SNAPSHOT_COMPLETE: _ClassVar[WatchLoadBalancersResponse.Type]
        CREATED: _ClassVar[WatchLoadBalancersResponse.Type]
        UPDATED: _ClassVar[WatchLoadBalancersResponse.Type]
        DELETED: _ClassVar[WatchLoadBalancersResponse.Type]
        STATS: _ClassVar[WatchLoadBalancersResponse.Type]
    TYPE_UNSPECIFIED: WatchLoadBalancersResponse.Type
    EXISTING: WatchLoadBalancersResponse.Type
    SNAPSHOT_COMPLETE: WatchLoadBalancersResponse.Type
    CREATED: WatchLoadBalancersResponse.Type
    UPDATED: WatchLoadBalancersResponse.Type
    DELETED: WatchLoadBalancersResponse.Type
    STATS: WatchLoadBalancersResponse.Type
    TYPE_FIELD_NUMBER: _ClassVar[int]
    LOAD_BALANCER_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    type: WatchLoadBalancersResponse.Type
    load_balancer: _network_pb2.LoadBalancer
    stats: LoadBalancerStats
    def __init__(self, type: _Optional[_Union[WatchLoadBalancersResponse.Type, str]] = ..., load_balancer: _Optional[_Union[_network_pb2.LoadBalancer, _Mapping]] = ..., stats: _Optional[_Union[LoadBalancerStats, _Mapping]] = ...) -> None: ...

import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Provisioning(_message.Message):
    __slots__ = ()
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATUS_UNSPECIFIED: _ClassVar[Provisioning.Status]
        PENDING_CREATE: _ClassVar[Provisioning.Status]
        ACTIVE: _ClassVar[Provisioning.Status]
        PENDING_UPDATE: _ClassVar[Provisioning.Status]
        PENDING_DELETE: _ClassVar[Provisioning.Status]
        ERROR: _ClassVar[Provisioning.Status]
    STATUS_UNSPECIFIED: Provisioning.Status
    PENDING_CREATE: Provisioning.Status
    ACTIVE: Provisioning.Status
    PENDING_UPDATE: Provisioning.Status
    PENDING_DELETE: Provisioning.Status
    ERROR: Provisioning.Status
    def __init__(self) -> None: ...

class Operating(_message.Message):
    __slots__ = ()
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATUS_UNSPECIFIED: _ClassVar[Operating.Status]
        ONLINE: _ClassVar[Operating.Status]
        DEGRADED: _ClassVar[Operating.Status]
        OFFLINE: _ClassVar[Operating.Status]
        ERROR: _ClassVar[Operating.Status]
        NO_MONITOR: _ClassVar[Operating.Status]
        DRAINING: _ClassVar[Operating.Status]
    STATUS_UNSPECIFIED: Operating.Status
    ONLINE: Operating.Status
    DEGRADED: Operating.Status
    OFFLINE: Operating.Status
    ERROR: Operating.Status
    NO_MONITOR: Operating.Status
    DRAINING: Operating.Status
    def __init__(self) -> None: ...

class LoadBalancer(_message.Message):
    __slots__ = ("id", "name", "description", "project_id", "network_id", "vip_address", "listeners", "provisioning_status", "operating_status", "created_at", "updated_at", "status_reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    VIP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    LISTENERS_FIELD_NUMBER: _ClassVar[int]
    PROVISIONING_STATUS_FIELD_NUMBER: _ClassVar[int]
    OPERATING_STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    STATUS_REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    description: str
    project_id: str
    network_id: str
    vip_address: str
    listeners: _containers.RepeatedCompositeFieldContainer[Listener]
    provisioning_status: Provisioning.Status
    operating_status: Operating.Status
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    status_reason: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., project_id: _Optional[str] = ..., network_id: _Optional[str] = ..., vip_address: _Optional[str] = ..., listeners: _Optional[_Iterable[_Union[Listener, _Mapping]]] = ..., provisioning_status: _Optional[_Union[Provisioning.Status, str]] = ..., operating_status: _Optional[_Union[Operating.Status, str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status_reason: _Optional[str] = ...) -> None: ...

class Listener(_message.Message):
    __slots__ = ("id", "name", "protocol", "port", "default_pool", "provisioning_status", "operating_status")
    class Protocol(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        PROTOCOL_UNSPECIFIED: _ClassVar[Listener.Protocol]
        TCP: _ClassVar[Listener.Protocol]
        UDP: _ClassVar[Listener.Protocol]
        SCTP: _ClassVar[Listener.Protocol]
        HTTP: _ClassVar[Listener.Protocol]
        HTTPS: _ClassVar[Listener.Protocol]
    PROTOCOL_UNSPECIFIED: Listener.Protocol
    TCP: Listener.Protocol
    UDP: Listener.Protocol
    SCTP: Listener.Protocol
    HTTP: Listener.Protocol
    HTTPS: Listener.Protocol
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_POOL_FIELD_NUMBER: _ClassVar[int]
    PROVISIONING_STATUS_FIELD_NUMBER: _ClassVar[int]
    OPERATING_STATUS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    protocol: Listener.Protocol
    port: int
    default_pool: Pool
    provisioning_status: Provisioning.Status
    operating_status: Operating.Status
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., protocol: _Optional[_Union[Listener.Protocol, str]] = ..., port: _Optional[int] = ..., default_pool: _Optional[_Union[Pool, _Mapping]] = ..., provisioning_status: _Optional[_Union[Provisioning.Status, str]] = ..., operating_status: _Optional[_Union[Operating.Status, str]] = ...) -> None: ...

class Pool(_message.Message):
    __slots__ = ("id", "name", "algorithm", "members", "health_monitor", "session_persistence", "provisioning_status", "operating_status", "status_reason")
    class Algorithm(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ALGORITHM_UNSPECIFIED: _ClassVar[Pool.Algorithm]
        ROUND_ROBIN: _ClassVar[Pool.Algorithm]
        LEAST_CONNECTIONS: _ClassVar[Pool.Algorithm]
        SOURCE_IP: _ClassVar[Pool.Algorithm]
        SOURCE_IP_PORT: _ClassVar[Pool.Algorithm]
    ALGORITHM_UNSPECIFIED: Pool.Algorithm
    ROUND_ROBIN: Pool.Algorithm
    LEAST_CONNECTIONS: Pool.Algorithm
    SOURCE_IP: Pool.Algorithm
    SOURCE_IP_PORT: Pool.Algorithm
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    HEALTH_MONITOR_FIELD_NUMBER: _ClassVar[int]
    SESSION_PERSISTENCE_FIELD_NUMBER: _ClassVar[int]
    PROVISIONING_STATUS_FIELD_NUMBER: _ClassVar[int]
    OPERATING_STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    algorithm: Pool.Algorithm
    members: _containers.RepeatedCompositeFieldContainer[Member]
    health_monitor: HealthMonitor
    session_persistence: SessionPersistence
    provisioning_status: Provisioning.Status
    operating_status: Operating.Status
    status_reason: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., algorithm: _Optional[_Union[Pool.Algorithm, str]] = ..., members: _Optional[_Iterable[_Union[Member, _Mapping]]] = ..., health_monitor: _Optional[_Union[HealthMonitor, _Mapping]] = ..., session_persistence: _Optional[_Union[SessionPersistence, _Mapping]] = ..., provisioning_status: _Optional[_Union[Provisioning.Status, str]] = ..., operating_status: _Optional[_Union[Operating.Status, str]] = ..., status_reason: _Optional[str] = ...) -> None: ...

class Member(_message.Message):
    __slots__ = ("id", "name", "address", "port", "weight", "admin_state", "provisioning_status", "operating_status")
    class AdminState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ADMIN_STATE_UNSPECIFIED: _ClassVar[Member.AdminState]
        ONLINE: _ClassVar[Member.AdminState]
        OFFLINE: _ClassVar[Member.AdminState]
        DRAIN: _ClassVar[Member.AdminState]
    ADMIN_STATE_UNSPECIFIED: Member.AdminState
    ONLINE: Member.AdminState
    OFFLINE: Member.AdminState
    DRAIN: Member.AdminState
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    ADMIN_STATE_FIELD_NUMBER: _ClassVar[int]
    PROVISIONING_STATUS_FIELD_NUMBER: _ClassVar[int]
    OPERATING_STATUS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    address: str
    port: int
    weight: int
    admin_state: Member.AdminState
    provisioning_status: Provisioning.Status
    operating_status: Operating.Status
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., address: _Optional[str] = ..., port: _Optional[int] = ..., weight: _Optional[int] = ..., admin_state: _Optional[_Union[Member.AdminState, str]] = ..., provisioning_status: _Optional[_Union[Provisioning.Status, str]] = ..., operating_status: _Optional[_Union[Operating.Status, str]] = ...) -> None: ...

class HealthMonitor(_message.Message):
    __slots__ = ("id", "type", "delay", "timeout", "max_retries", "healthy_threshold", "http_method", "url_path", "expected_codes", "domain_name", "tls_verify")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        TYPE_UNSPECIFIED: _ClassVar[HealthMonitor.Type]
        TCP: _ClassVar[HealthMonitor.Type]
        HTTP: _ClassVar[HealthMonitor.Type]
        HTTPS: _ClassVar[HealthMonitor.Type]
        UDP_CONNECT: _ClassVar[HealthMonitor.Type]
    TYPE_UNSPECIFIED: HealthMonitor.Type
    TCP: HealthMonitor.Type
    HTTP: HealthMonitor.Type
    HTTPS: HealthMonitor.Type
    UDP_CONNECT: HealthMonitor.Type
    ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DELAY_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    MAX_RETRIES_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    HTTP_METHOD_FIELD_NUMBER: _ClassVar[int]
    URL_PATH_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_CODES_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_NAME_FIELD_NUMBER: _ClassVar[int]
    TLS_VERIFY_FIELD_NUMBER: _ClassVar[int]
    id: str
    type: HealthMonitor.Type
    delay: float
    timeout: float
    max_retries: int
    healthy_threshold: int
    http_method: str
    url_path: str
    expected_codes: str
    domain_name: str
    tls_verify: bool
    def __init__(self, id: _Optional[str] = ..., type: _Optional[_Union[HealthMonitor.Type, str]] = ..., delay: _Optional[float] = ..., timeout: _Optional[float] = ..., max_retries: _Optional[int] = ..., healthy_threshold: _Optional[int] = ..., http_method: _Optional[str] = ..., url_path: _Optional[str] = ..., expected_codes: _Optional[str] = ..., domain_name: _Optional[str] = ..., tls_verify: _Optional[bool] = ...) -> None: ...

class SessionPersistence(_message.Message):
    __slots__ = ("type", "timeout")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        TYPE_UNSPECIFIED: _ClassVar[SessionPersistence.Type]
        NONE: _ClassVar[SessionPersistence.Type]
        SOURCE_IP: _ClassVar[SessionPersistence.Type]
    TYPE_UNSPECIFIED: SessionPersistence.Type
    NONE: SessionPersistence.Type
    SOURCE_IP: SessionPersistence.Type
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    type: SessionPersistence.Type
    timeout: int
    def __init__(self, type: _Optional[_Union[SessionPersistence.Type, str]] = ..., timeout: _Optional[int] = ...) -> None: ...

class CreateLoadBalancerRequest(_message.Message):
    __slots__ = ("name", "description", "project_id", "network_id", "vip_address", "listeners")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    VIP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    LISTENERS_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    project_id: str
    network_id: str
    vip_address: str
    listeners: _containers.RepeatedCompositeFieldContainer[Listener]
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., project_id: _Optional[str] = ..., network_id: _Optional[str] = ..., vip_address: _Optional[str] = ..., listeners: _Optional[_Iterable[_Union[Listener, _Mapping]]] = ...) -> None: ...

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
    load_balancers: _containers.RepeatedCompositeFieldContainer[LoadBalancer]
    next_page_token: str
    total_count: int
    def __init__(self, load_balancers: _Optional[_Iterable[_Union[LoadBalancer, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_count: _Optional[int] = ...) -> None: ...

class UpdateLoadBalancerRequest(_message.Message):
    __slots__ = ("id", "name", "description")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    description: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

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
    listener: Listener
    def __init__(self, load_balancer_id: _Optional[str] = ..., listener: _Optional[_Union[Listener, _Mapping]] = ...) -> None: ...

class UpdateListenerRequest(_message.Message):
    __slots__ = ("load_balancer_id", "listener_id", "name", "port", "algorithm", "health_monitor", "remove_health_monitor", "session_persistence")
    LOAD_BALANCER_ID_FIELD_NUMBER: _ClassVar[int]
    LISTENER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    HEALTH_MONITOR_FIELD_NUMBER: _ClassVar[int]
    REMOVE_HEALTH_MONITOR_FIELD_NUMBER: _ClassVar[int]
    SESSION_PERSISTENCE_FIELD_NUMBER: _ClassVar[int]
    load_balancer_id: str
    listener_id: str
    name: str
    port: int
    algorithm: Pool.Algorithm
    health_monitor: HealthMonitor
    remove_health_monitor: bool
    session_persistence: SessionPersistence
    def __init__(self, load_balancer_id: _Optional[str] = ..., listener_id: _Optional[str] = ..., name: _Optional[str] = ..., port: _Optional[int] = ..., algorithm: _Optional[_Union[Pool.Algorithm, str]] = ..., health_monitor: _Optional[_Union[HealthMonitor, _Mapping]] = ..., remove_health_monitor: _Optional[bool] = ..., session_persistence: _Optional[_Union[SessionPersistence, _Mapping]] = ...) -> None: ...

class RemoveListenerRequest(_message.Message):
    __slots__ = ("load_balancer_id", "listener_id")
    LOAD_BALANCER_ID_FIELD_NUMBER: _ClassVar[int]
    LISTENER_ID_FIELD_NUMBER: _ClassVar[int]
    load_balancer_id: str
    listener_id: str
    def __init__(self, load_balancer_id: _Optional[str] = ..., listener_id: _Optional[str] = ...) -> None: ...

class AddPoolMemberRequest(_message.Message):
    __slots__ = ("load_balancer_id", "pool_id", "member")
    LOAD_BALANCER_ID_FIELD_NUMBER: _ClassVar[int]
    POOL_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    load_balancer_id: str
    pool_id: str
    member: Member
    def __init__(self, load_balancer_id: _Optional[str] = ..., pool_id: _Optional[str] = ..., member: _Optional[_Union[Member, _Mapping]] = ...) -> None: ...

class UpdatePoolMemberRequest(_message.Message):
    __slots__ = ("load_balancer_id", "pool_id", "member_id", "name", "weight", "admin_state")
    LOAD_BALANCER_ID_FIELD_NUMBER: _ClassVar[int]
    POOL_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    ADMIN_STATE_FIELD_NUMBER: _ClassVar[int]
    load_balancer_id: str
    pool_id: str
    member_id: str
    name: str
    weight: int
    admin_state: Member.AdminState
    def __init__(self, load_balancer_id: _Optional[str] = ..., pool_id: _Optional[str] = ..., member_id: _Optional[str] = ..., name: _Optional[str] = ..., weight: _Optional[int] = ..., admin_state: _Optional[_Union[Member.AdminState, str]] = ...) -> None: ...

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
    __slots__ = ("load_balancer_id", "total_connections", "active_connections", "bytes_in", "bytes_out", "requests_per_second", "listeners", "sampled_at", "unavailable_reason")
    LOAD_BALANCER_ID_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    BYTES_IN_FIELD_NUMBER: _ClassVar[int]
    BYTES_OUT_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    LISTENERS_FIELD_NUMBER: _ClassVar[int]
    SAMPLED_AT_FIELD_NUMBER: _ClassVar[int]
    UNAVAILABLE_REASON_FIELD_NUMBER: _ClassVar[int]
    load_balancer_id: str
    total_connections: int
    active_connections: int
    bytes_in: int
    bytes_out: int
    requests_per_second: float
    listeners: _containers.RepeatedCompositeFieldContainer[ListenerStats]
    sampled_at: _timestamp_pb2.Timestamp
    unavailable_reason: str
    def __init__(self, load_balancer_id: _Optional[str] = ..., total_connections: _Optional[int] = ..., active_connections: _Optional[int] = ..., bytes_in: _Optional[int] = ..., bytes_out: _Optional[int] = ..., requests_per_second: _Optional[float] = ..., listeners: _Optional[_Iterable[_Union[ListenerStats, _Mapping]]] = ..., sampled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., unavailable_reason: _Optional[str] = ...) -> None: ...

class ListenerStats(_message.Message):
    __slots__ = ("listener_id", "connections", "members", "total_connections", "requests_per_second", "bytes_in", "bytes_out")
    LISTENER_ID_FIELD_NUMBER: _ClassVar[int]
    CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    BYTES_IN_FIELD_NUMBER: _ClassVar[int]
    BYTES_OUT_FIELD_NUMBER: _ClassVar[int]
    listener_id: str
    connections: int
    members: _containers.RepeatedCompositeFieldContainer[MemberStats]
    total_connections: int
    requests_per_second: float
    bytes_in: int
    bytes_out: int
    def __init__(self, listener_id: _Optional[str] = ..., connections: _Optional[int] = ..., members: _Optional[_Iterable[_Union[MemberStats, _Mapping]]] = ..., total_connections: _Optional[int] = ..., requests_per_second: _Optional[float] = ..., bytes_in: _Optional[int] = ..., bytes_out: _Optional[int] = ...) -> None: ...

class MemberStats(_message.Message):
    __slots__ = ("member_id", "connections", "status", "total_connections", "bytes_in", "bytes_out")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    BYTES_IN_FIELD_NUMBER: _ClassVar[int]
    BYTES_OUT_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    connections: int
    status: Operating.Status
    total_connections: int
    bytes_in: int
    bytes_out: int
    def __init__(self, member_id: _Optional[str] = ..., connections: _Optional[int] = ..., status: _Optional[_Union[Operating.Status, str]] = ..., total_connections: _Optional[int] = ..., bytes_in: _Optional[int] = ..., bytes_out: _Optional[int] = ...) -> None: ...

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
    load_balancer: LoadBalancer
    stats: LoadBalancerStats
    def __init__(self, type: _Optional[_Union[WatchLoadBalancersResponse.Type, str]] = ..., load_balancer: _Optional[_Union[LoadBalancer, _Mapping]] = ..., stats: _Optional[_Union[LoadBalancerStats, _Mapping]] = ...) -> None: ...

class SessionRequest(_message.Message):
    __slots__ = ("hello", "transitions", "heartbeat", "stats")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    TRANSITIONS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    hello: WorkerHello
    transitions: HealthTransitions
    heartbeat: Heartbeat
    stats: StatsReport
    def __init__(self, hello: _Optional[_Union[WorkerHello, _Mapping]] = ..., transitions: _Optional[_Union[HealthTransitions, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., stats: _Optional[_Union[StatsReport, _Mapping]] = ...) -> None: ...

class WorkerHello(_message.Message):
    __slots__ = ("node_id", "capacity")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    capacity: int
    def __init__(self, node_id: _Optional[str] = ..., capacity: _Optional[int] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("targets",)
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    targets: int
    def __init__(self, targets: _Optional[int] = ...) -> None: ...

class HealthTransitions(_message.Message):
    __slots__ = ("transitions",)
    TRANSITIONS_FIELD_NUMBER: _ClassVar[int]
    transitions: _containers.RepeatedCompositeFieldContainer[HealthTransition]
    def __init__(self, transitions: _Optional[_Iterable[_Union[HealthTransition, _Mapping]]] = ...) -> None: ...

class HealthTransition(_message.Message):
    __slots__ = ("member_id", "healthy", "reason")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    healthy: bool
    reason: str
    def __init__(self, member_id: _Optional[str] = ..., healthy: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class SessionResponse(_message.Message):
    __slots__ = ("snapshot", "delta", "stats_frontends")
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    STATS_FRONTENDS_FIELD_NUMBER: _ClassVar[int]
    snapshot: TargetSnapshot
    delta: TargetDelta
    stats_frontends: StatsFrontends
    def __init__(self, snapshot: _Optional[_Union[TargetSnapshot, _Mapping]] = ..., delta: _Optional[_Union[TargetDelta, _Mapping]] = ..., stats_frontends: _Optional[_Union[StatsFrontends, _Mapping]] = ...) -> None: ...

class StatsFrontends(_message.Message):
    __slots__ = ("frontends", "interval")
    FRONTENDS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    frontends: _containers.RepeatedCompositeFieldContainer[Frontend]
    interval: float
    def __init__(self, frontends: _Optional[_Iterable[_Union[Frontend, _Mapping]]] = ..., interval: _Optional[float] = ...) -> None: ...

class Frontend(_message.Message):
    __slots__ = ("protocol", "vip", "port")
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    VIP_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    protocol: str
    vip: str
    port: int
    def __init__(self, protocol: _Optional[str] = ..., vip: _Optional[str] = ..., port: _Optional[int] = ...) -> None: ...

class StatsReport(_message.Message):
    __slots__ = ("available", "reason", "frontends", "epoch")
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    FRONTENDS_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    available: bool
    reason: str
    frontends: _containers.RepeatedCompositeFieldContainer[FrontendStats]
    epoch: int
    def __init__(self, available: _Optional[bool] = ..., reason: _Optional[str] = ..., frontends: _Optional[_Iterable[_Union[FrontendStats, _Mapping]]] = ..., epoch: _Optional[int] = ...) -> None: ...

class FrontendStats(_message.Message):
    __slots__ = ("frontend", "backends", "bytes_in", "packets_in")
    FRONTEND_FIELD_NUMBER: _ClassVar[int]
    BACKENDS_FIELD_NUMBER: _ClassVar[int]
    BYTES_IN_FIELD_NUMBER: _ClassVar[int]
    PACKETS_IN_FIELD_NUMBER: _ClassVar[int]
    frontend: Frontend
    backends: _containers.RepeatedCompositeFieldContainer[BackendStats]
    bytes_in: int
    packets_in: int
    def __init__(self, frontend: _Optional[_Union[Frontend, _Mapping]] = ..., backends: _Optional[_Iterable[_Union[BackendStats, _Mapping]]] = ..., bytes_in: _Optional[int] = ..., packets_in: _Optional[int] = ...) -> None: ...

class BackendStats(_message.Message):
    __slots__ = ("address", "port", "active", "total", "bytes_in", "bytes_out")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    BYTES_IN_FIELD_NUMBER: _ClassVar[int]
    BYTES_OUT_FIELD_NUMBER: _ClassVar[int]
    address: str
    port: int
    active: int
    total: int
    bytes_in: int
    bytes_out: int
    def __init__(self, address: _Optional[str] = ..., port: _Optional[int] = ..., active: _Optional[int] = ..., total: _Optional[int] = ..., bytes_in: _Optional[int] = ..., bytes_out: _Optional[int] = ...) -> None: ...

class TargetSnapshot(_message.Message):
    __slots__ = ("targets", "heartbeat_interval")
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    targets: _containers.RepeatedCompositeFieldContainer[HealthTarget]
    heartbeat_interval: float
    def __init__(self, targets: _Optional[_Iterable[_Union[HealthTarget, _Mapping]]] = ..., heartbeat_interval: _Optional[float] = ...) -> None: ...

class TargetDelta(_message.Message):
    __slots__ = ("upserts", "removals")
    UPSERTS_FIELD_NUMBER: _ClassVar[int]
    REMOVALS_FIELD_NUMBER: _ClassVar[int]
    upserts: _containers.RepeatedCompositeFieldContainer[HealthTarget]
    removals: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, upserts: _Optional[_Iterable[_Union[HealthTarget, _Mapping]]] = ..., removals: _Optional[_Iterable[str]] = ...) -> None: ...

class HealthTarget(_message.Message):
    __slots__ = ("member_id", "address", "port", "monitor", "last_status")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    MONITOR_FIELD_NUMBER: _ClassVar[int]
    LAST_STATUS_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    address: str
    port: int
    monitor: HealthMonitor
    last_status: Operating.Status
    def __init__(self, member_id: _Optional[str] = ..., address: _Optional[str] = ..., port: _Optional[int] = ..., monitor: _Optional[_Union[HealthMonitor, _Mapping]] = ..., last_status: _Optional[_Union[Operating.Status, str]] = ...) -> None: ...

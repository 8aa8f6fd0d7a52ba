from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

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
    __slots__ = ("node_id", "capacity", "probe_ports")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    PROBE_PORTS_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    capacity: int
    probe_ports: bool
    def __init__(self, node_id: _Optional[str] = ..., capacity: _Optional[int] = ..., probe_ports: _Optional[bool] = ...) -> None: ...

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
    __slots__ = ("member_id", "healthy", "reason", "unchecked")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    UNCHECKED_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    healthy: bool
    reason: str
    unchecked: bool
    def __init__(self, member_id: _Optional[str] = ..., healthy: _Optional[bool] = ..., reason: _Optional[str] = ..., unchecked: _Optional[bool] = ...) -> None: ...

class SessionResponse(_message.Message):
    __slots__ = ("snapshot", "delta", "stats_frontends", "probe_ports")
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    STATS_FRONTENDS_FIELD_NUMBER: _ClassVar[int]
    PROBE_PORTS_FIELD_NUMBER: _ClassVar[int]
    snapshot: TargetSnapshot
    delta: TargetDelta
    stats_frontends: StatsFrontends
    probe_ports: ProbePorts
    def __init__(self, snapshot: _Optional[_Union[TargetSnapshot, _Mapping]] = ..., delta: _Optional[_Union[TargetDelta, _Mapping]] = ..., stats_frontends: _Optional[_Union[StatsFrontends, _Mapping]] = ..., probe_ports: _Optional[_Union[ProbePorts, _Mapping]] = ...) -> None: ...

class ProbePorts(_message.Message):
    __slots__ = ("ports",)
    PORTS_FIELD_NUMBER: _ClassVar[int]
    ports: _containers.RepeatedCompositeFieldContainer[ProbePort]
    def __init__(self, ports: _Optional[_Iterable[_Union[ProbePort, _Mapping]]] = ...) -> None: ...

class ProbePort(_message.Message):
    __slots__ = ("network_id", "name", "mac", "ip_cidr", "error")
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MAC_FIELD_NUMBER: _ClassVar[int]
    IP_CIDR_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    network_id: str
    name: str
    mac: str
    ip_cidr: str
    error: str
    def __init__(self, network_id: _Optional[str] = ..., name: _Optional[str] = ..., mac: _Optional[str] = ..., ip_cidr: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

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
    __slots__ = ("member_id", "address", "port", "probe", "last_healthy", "project_id", "network_id")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    PROBE_FIELD_NUMBER: _ClassVar[int]
    LAST_HEALTHY_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    address: str
    port: int
    probe: Probe
    last_healthy: bool
    project_id: str
    network_id: str
    def __init__(self, member_id: _Optional[str] = ..., address: _Optional[str] = ..., port: _Optional[int] = ..., probe: _Optional[_Union[Probe, _Mapping]] = ..., last_healthy: _Optional[bool] = ..., project_id: _Optional[str] = ..., network_id: _Optional[str] = ...) -> None: ...

class Probe(_message.Message):
    __slots__ = ("type", "delay", "timeout", "max_retries", "healthy_threshold", "http_method", "url_path", "expected_codes", "domain_name", "tls_verify")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        TYPE_UNSPECIFIED: _ClassVar[Probe.Type]
        TYPE_PING: _ClassVar[Probe.Type]
        TYPE_TCP: _ClassVar[Probe.Type]
        TYPE_HTTP: _ClassVar[Probe.Type]
        TYPE_HTTPS: _ClassVar[Probe.Type]
        TYPE_UDP_CONNECT: _ClassVar[Probe.Type]
    TYPE_UNSPECIFIED: Probe.Type
    TYPE_PING: Probe.Type
    TYPE_TCP: Probe.Type
    TYPE_HTTP: Probe.Type
    TYPE_HTTPS: Probe.Type
    TYPE_UDP_CONNECT: Probe.Type
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
    type: Probe.Type
    delay: float
    timeout: float
    max_retries: int
    healthy_threshold: int
    http_method: str
    url_path: str
    expected_codes: str
    domain_name: str
    tls_verify: bool
    def __init__(self, type: _Optional[_Union[Probe.Type, str]] = ..., delay: _Optional[float] = ..., timeout: _Optional[float] = ..., max_retries: _Optional[int] = ..., healthy_threshold: _Optional[int] = ..., http_method: _Optional[str] = ..., url_path: _Optional[str] = ..., expected_codes: _Optional[str] = ..., domain_name: _Optional[str] = ..., tls_verify: _Optional[bool] = ...) -> None: ...

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

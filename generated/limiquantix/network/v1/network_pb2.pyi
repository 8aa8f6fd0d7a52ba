import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LoadBalancer(_message.Message):
    __slots__ = ("id", "name", "description", "project_id", "labels", "spec", "status", "created_at", "updated_at")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    description: str
    project_id: str
    labels: _containers.ScalarMap[str, str]
    spec: LoadBalancerSpec
    status: LoadBalancerStatus
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., project_id: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., spec: _Optional[_Union[LoadBalancerSpec, _Mapping]] = ..., status: _Optional[_Union[LoadBalancerStatus, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LoadBalancerSpec(_message.Message):
    __slots__ = ("network_id", "subnet_id", "vip_address", "listeners", "pools")
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    SUBNET_ID_FIELD_NUMBER: _ClassVar[int]
    VIP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    LISTENERS_FIELD_NUMBER: _ClassVar[int]
    POOLS_FIELD_NUMBER: _ClassVar[int]
    network_id: str
    subnet_id: str
    vip_address: str
    listeners: _containers.RepeatedCompositeFieldContainer[Listener]
    pools: _containers.RepeatedCompositeFieldContainer[Pool]
    def __init__(self, network_id: _Optional[str] = ..., subnet_id: _Optional[str] = ..., vip_address: _Optional[str] = ..., listeners: _Optional[_Iterable[_Union[Listener, _Mapping]]] = ..., pools: _Optional[_Iterable[_Union[Pool, _Mapping]]] = ...) -> None: ...

class Listener(_message.Message):
    __slots__ = ("id", "name", "protocol", "port", "default_pool_id", "tls", "connection_limit", "provisioning_status", "operating_status", "default_pool")
    class Protocol(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        TCP: _ClassVar[Listener.Protocol]
        HTTP: _ClassVar[Listener.Protocol]
        HTTPS: _ClassVar[Listener.Protocol]
        UDP: _ClassVar[Listener.Protocol]
        SCTP: _ClassVar[Listener.Protocol]
    TCP: Listener.Protocol
    HTTP: Listener.Protocol
    HTTPS: Listener.Protocol
    UDP: Listener.Protocol
    SCTP: Listener.Protocol
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_POOL_ID_FIELD_NUMBER: _ClassVar[int]
    TLS_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_LIMIT_FIELD_NUMBER: _ClassVar[int]
    PROVISIONING_STATUS_FIELD_NUMBER: _ClassVar[int]
    OPERATING_STATUS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_POOL_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    protocol: Listener.Protocol
    port: int
    default_pool_id: str
    tls: TlsConfig
    connection_limit: int
    provisioning_status: str
    operating_status: str
    default_pool: Pool
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., protocol: _Optional[_Union[Listener.Protocol, str]] = ..., port: _Optional[int] = ..., default_pool_id: _Optional[str] = ..., tls: _Optional[_Union[TlsConfig, _Mapping]] = ..., connection_limit: _Optional[int] = ..., provisioning_status: _Optional[str] = ..., operating_status: _Optional[str] = ..., default_pool: _Optional[_Union[Pool, _Mapping]] = ...) -> None: ...

class TlsConfig(_message.Message):
    __slots__ = ("certificate", "private_key", "ca_certificates", "min_version", "ciphers")
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    PRIVATE_KEY_FIELD_NUMBER: _ClassVar[int]
    CA_CERTIFICATES_FIELD_NUMBER: _ClassVar[int]
    MIN_VERSION_FIELD_NUMBER: _ClassVar[int]
    CIPHERS_FIELD_NUMBER: _ClassVar[int]
    certificate: str
    private_key: str
    ca_certificates: str
    min_version: str
    ciphers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, certificate: _Optional[str] = ..., private_key: _Optional[str] = ..., ca_certificates: _Optional[str] = ..., min_version: _Optional[str] = ..., ciphers: _Optional[_Iterable[str]] = ...) -> None: ...

class Pool(_message.Message):
    __slots__ = ("id", "name", "algorithm", "protocol", "members", "health_monitor", "persistence", "provisioning_status", "operating_status", "status_reason")
    class Algorithm(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ROUND_ROBIN: _ClassVar[Pool.Algorithm]
        LEAST_CONNECTIONS: _ClassVar[Pool.Algorithm]
        SOURCE_IP: _ClassVar[Pool.Algorithm]
        WEIGHTED_ROUND_ROBIN: _ClassVar[Pool.Algorithm]
        SOURCE_IP_PORT: _ClassVar[Pool.Algorithm]
    ROUND_ROBIN: Pool.Algorithm
    LEAST_CONNECTIONS: Pool.Algorithm
    SOURCE_IP: Pool.Algorithm
    WEIGHTED_ROUND_ROBIN: Pool.Algorithm
    SOURCE_IP_PORT: Pool.Algorithm
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    HEALTH_MONITOR_FIELD_NUMBER: _ClassVar[int]
    PERSISTENCE_FIELD_NUMBER: _ClassVar[int]
    PROVISIONING_STATUS_FIELD_NUMBER: _ClassVar[int]
    OPERATING_STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    algorithm: Pool.Algorithm
    protocol: Listener.Protocol
    members: _containers.RepeatedCompositeFieldContainer[PoolMember]
    health_monitor: HealthMonitor
    persistence: SessionPersistence
    provisioning_status: str
    operating_status: str
    status_reason: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., algorithm: _Optional[_Union[Pool.Algorithm, str]] = ..., protocol: _Optional[_Union[Listener.Protocol, str]] = ..., members: _Optional[_Iterable[_Union[PoolMember, _Mapping]]] = ..., health_monitor: _Optional[_Union[HealthMonitor, _Mapping]] = ..., persistence: _Optional[_Union[SessionPersistence, _Mapping]] = ..., provisioning_status: _Optional[str] = ..., operating_status: _Optional[str] = ..., status_reason: _Optional[str] = ...) -> None: ...

class PoolMember(_message.Message):
    __slots__ = ("id", "address", "port", "weight", "admin_state_up", "subnet_id", "name", "drain", "provisioning_status", "operating_status", "last_failure_reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    ADMIN_STATE_UP_FIELD_NUMBER: _ClassVar[int]
    SUBNET_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DRAIN_FIELD_NUMBER: _ClassVar[int]
    PROVISIONING_STATUS_FIELD_NUMBER: _ClassVar[int]
    OPERATING_STATUS_FIELD_NUMBER: _ClassVar[int]
    LAST_FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    address: str
    port: int
    weight: int
    admin_state_up: bool
    subnet_id: str
    name: str
    drain: bool
    provisioning_status: str
    operating_status: str
    last_failure_reason: str
    def __init__(self, id: _Optional[str] = ..., address: _Optional[str] = ..., port: _Optional[int] = ..., weight: _Optional[int] = ..., admin_state_up: _Optional[bool] = ..., subnet_id: _Optional[str] = ..., name: _Optional[str] = ..., drain: _Optional[bool] = ..., provisioning_status: _Optional[str] = ..., operating_status: _Optional[str] = ..., last_failure_reason: _Optional[str] = ...) -> None: ...

class HealthMonitor(_message.Message):
    __slots__ = ("type", "delay", "timeout", "max_retries", "http_method", "url_path", "expected_codes", "id", "delay_ms", "timeout_ms", "healthy_threshold", "domain_name", "tls_verify")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        PING: _ClassVar[HealthMonitor.Type]
        TCP: _ClassVar[HealthMonitor.Type]
        HTTP: _ClassVar[HealthMonitor.Type]
        HTTPS: _ClassVar[HealthMonitor.Type]
        UDP_CONNECT: _ClassVar[HealthMonitor.Type]
    PING: HealthMonitor.Type
    TCP: HealthMonitor.Type
    HTTP: HealthMonitor.Type
    HTTPS: HealthMonitor.Type
    UDP_CONNECT: HealthMonitor.Type
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DELAY_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    MAX_RETRIES_FIELD_NUMBER: _ClassVar[int]
    HTTP_METHOD_FIELD_NUMBER: _ClassVar[int]
    URL_PATH_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_CODES_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_NAME_FIELD_NUMBER: _ClassVar[int]
    TLS_VERIFY_FIELD_NUMBER: _ClassVar[int]
    type: HealthMonitor.Type
    delay: int
    timeout: int
    max_retries: int
    http_method: str
    url_path: str
    expected_codes: str
    id: str
    delay_ms: int
    timeout_ms: int
    healthy_threshold: int
    domain_name: str
    tls_verify: bool
    def __init__(self, type: _Optional[_Union[HealthMonitor.Type, str]] = ..., delay: _Optional[int] = ..., timeout: _Optional[int] = ..., max_retries: _Optional[int] = ..., http_method: _Optional[str] = ..., url_path: _Optional[str] = ..., expected_codes: _Optional[str] = ..., id: _Optional[str] = ..., delay_ms: _Optional[int] = ..., timeout_ms: _Optional[int] = ..., healthy_threshold: _Optional[int] = ..., domain_name: _Optional[str] = ..., tls_verify: _Optional[bool] = ...) -> None: ...

class SessionPersistence(_message.Message):
    __slots__ = ("type", "cookie_name", "timeout")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        NONE: _ClassVar[SessionPersistence.Type]
        SOURCE_IP: _ClassVar[SessionPersistence.Type]
        HTTP_COOKIE: _ClassVar[SessionPersistence.Type]
        APP_COOKIE: _ClassVar[SessionPersistence.Type]
    NONE: SessionPersistence.Type
    SOURCE_IP: SessionPersistence.Type
    HTTP_COOKIE: SessionPersistence.Type
    APP_COOKIE: SessionPersistence.Type
    TYPE_FIELD_NUMBER: _ClassVar[int]
    COOKIE_NAME_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    type: SessionPersistence.Type
    cookie_name: str
    timeout: int
    def __init__(self, type: _Optional[_Union[SessionPersistence.Type, str]] = ..., cookie_name: _Optional[str] = ..., timeout: _Optional[int] = ...) -> None: ...

class LoadBalancerStatus(_message.Message):
    __slots__ = ("phase", "provisioning_status", "operating_status", "vip_address", "vip_port_id", "error_message")
    class Phase(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UNKNOWN: _ClassVar[LoadBalancerStatus.Phase]
        PENDING: _ClassVar[LoadBalancerStatus.Phase]
        ACTIVE: _ClassVar[LoadBalancerStatus.Phase]
        ERROR: _ClassVar[LoadBalancerStatus.Phase]
        DELETING: _ClassVar[LoadBalancerStatus.Phase]
    UNKNOWN: LoadBalancerStatus.Phase
    PENDING: LoadBalancerStatus.Phase
    ACTIVE: LoadBalancerStatus.Phase
    ERROR: LoadBalancerStatus.Phase
    DELETING: LoadBalancerStatus.Phase
    PHASE_FIELD_NUMBER: _ClassVar[int]
    PROVISIONING_STATUS_FIELD_NUMBER: _ClassVar[int]
    OPERATING_STATUS_FIELD_NUMBER: _ClassVar[int]
    VIP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    VIP_PORT_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    phase: LoadBalancerStatus.Phase
    provisioning_status: str
    operating_status: str
    vip_address: str
    vip_port_id: str
    error_message: str
    def __init__(self, phase: _Optional[_Union[LoadBalancerStatus.Phase, str]] = ..., provisioning_status: _Optional[str] = ..., operating_status: _Optional[str] = ..., vip_address: _Optional[str] = ..., vip_port_id: _Optional[str] = ..., error_message: _Optional[str] = ...) -> None: ...

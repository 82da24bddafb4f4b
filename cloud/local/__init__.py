"""The local AWS endpoint: moto plus what moto lacks, on one loopback port.

See ``server`` for how to run it, ``app`` for the request path, and each
service package for what is (not) emulated.
"""

from cloud.local.ca import LocalCA, certificate_identity
from cloud.local.config import LocalEndpointConfig
from cloud.local.rekognition.sessions import SessionContext, SessionOutcome, SessionRunner
from cloud.local.server import LocalEndpoint, start_local_endpoint

__all__ = [
    "LocalCA",
    "LocalEndpoint",
    "LocalEndpointConfig",
    "SessionContext",
    "SessionOutcome",
    "SessionRunner",
    "certificate_identity",
    "start_local_endpoint",
]

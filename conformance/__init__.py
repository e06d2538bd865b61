"""conformance: a property-based conformance suite for OpenAI's Create assistant endpoint (POST /v1/assistants).

Public surface: the schemas' requirement catalog, the strategies derived from them, the reference server,
and the target seam. The pytest plugin and the command line are the usual ways in.
"""

from conformance._meta import DISTRIBUTION, __version__  # noqa: F401  (the version, for importers)
from conformance.contract.requirements import Requirement, catalog
from conformance.contract.schemas import SchemaError, Schemas, load_schemas
from conformance.generate.probes import Probe, RawBody, probes, valid_requests
from conformance.generate.strategies import Pools
from conformance.selftest.reference import DEFAULT_API_KEY, ReferenceServer, create_app
from conformance.transport.client import Api, Exchange, Target, TargetError

__all__ = [
    "DEFAULT_API_KEY", "DISTRIBUTION", "Api", "Exchange", "Pools", "Probe", "RawBody", "ReferenceServer", "Requirement",
    "SchemaError", "Schemas", "Target", "TargetError", "catalog", "create_app", "load_schemas", "probes",
    "valid_requests",
]

"""conformance: a property-based conformance suite for OpenAI's Create assistant endpoint (POST /v1/assistants).

Public surface: the schemas' requirement catalog, the strategies derived from them, the reference server,
and the target seam. The pytest plugin and the command line are the usual ways in.
"""

from ._client import Api, Exchange, Target, TargetError
from ._generate import Pools
from ._probes import Probe, RawBody, probes, valid_requests
from ._reference import DEFAULT_API_KEY, ReferenceServer, create_app
from ._requirements import Requirement, catalog
from ._schemas import SchemaError, Schemas, load_schemas

__all__ = [
    "DEFAULT_API_KEY", "DISTRIBUTION", "Api", "Exchange", "Pools", "Probe", "RawBody", "ReferenceServer", "Requirement",
    "SchemaError", "Schemas", "Target", "TargetError", "catalog", "create_app", "load_schemas", "probes",
    "valid_requests",
]
DISTRIBUTION = "openai-assistants-conformance"
"""The name to install it by (``pip install -e .`` from a clone installs it under this name); the PyPI project
``conformance`` is someone else's. The import package and the command are ``conformance``."""
__version__ = "0.1.0"

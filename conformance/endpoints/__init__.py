"""Endpoints: what each operation of a resource is (method, path, the roles of its schemas, headers), as data.

The engine reads an endpoint from here and nothing else names a resource: adding one is its schemas in
``schemas/`` plus a module like ``assistants``.
"""

from conformance.endpoints.assistants import ASSISTANTS
from conformance.endpoints.base import Operation, Resource

__all__ = ["ASSISTANTS", "RESOURCES", "SUITES", "Operation", "Resource"]

RESOURCES = (ASSISTANTS,)
SUITES = tuple(dict.fromkeys(suite for resource in RESOURCES for suite in resource.suites))
"""The selections a run may make (``--endpoint``), the first the default focus."""

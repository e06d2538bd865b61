"""The conformance tests of POST /v1/assistants, run by ``pytest --pyargs conformance`` or ``conformance run``."""

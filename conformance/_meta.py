"""The distribution's name and version, apart from everything else so any layer may read them."""

__all__ = ["DISTRIBUTION", "__version__"]

DISTRIBUTION = "openai-assistants-conformance"
"""The name to install it by (``pip install -e .`` from a clone installs it under this name); the PyPI project
``conformance`` is someone else's. The import package and the command are ``conformance``."""
__version__ = "0.1.0"

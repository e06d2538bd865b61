"""The contract: the schemas in ``schemas/``, loaded and resolved once, the one walk over them, the requirement
catalog derived from their annotations, the profiles, and the wire form of a body. Reads nothing but
``schemas/`` and ``endpoints/`` (see ARCHITECTURE.md).
"""

"""Servers to test the suite against: the conforming reference server (the embedded default target) and the
catalog of broken servers and conforming variants.
"""

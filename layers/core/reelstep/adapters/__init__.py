"""Implementations of the ports: the local backend here, AWS ones beside them."""

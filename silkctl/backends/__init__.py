"""Kernel-facing code: namespaces, links, encapsulation backends."""

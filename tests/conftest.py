"""Shared fixtures: each area keeps its own module under tests/fixtures."""

import os

import pytest

pytest_plugins = [
    "tests.fixtures.common",
    "tests.fixtures.hosts",
    "tests.fixtures.cni",
    "tests.fixtures.db",
]


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="needs root to build network namespaces")
        for item in items:
            if "kernel" in item.keywords:
                item.add_marker(skip)

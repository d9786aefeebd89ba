"""The OpenAPI documents list exactly the routes the apps serve."""

from silkctl.cidr_pool import CidrPool
from silkctl.leaser import Leaser
from silkctl.server.controller_app import ControllerApp
from silkctl.server.openapi import controller_document, daemon_document
from tests.fixtures.db import migrated_store

UNDOCUMENTED = {("GET", "/openapi.json"), ("GET", "/metrics")}


def _routes(bottle_app) -> set[tuple[str, str]]:
    return {(route.method, route.rule) for route in bottle_app.routes} - UNDOCUMENTED


def _documented(document) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
    }


def test_controller_document_lists_exactly_the_controller_routes(tmp_path):
    store = migrated_store(f"sqlite:///{tmp_path}/leases.db")
    app = ControllerApp(Leaser(store, CidrPool("10.255.0.0/16", 24), 60))
    assert _routes(app.bottle) == _documented(controller_document())
    store.close()


def test_daemon_document_lists_its_routes_and_the_paths_health_checks_use():
    from silkctl.server.daemon_app import make_daemon_app

    app = make_daemon_app(lambda: {"overlay_subnet": "10.255.1.0/24", "mtu": 1450})
    routes = _routes(app.app)
    # Any path answers the network info: the document names `/` and `/health`.
    catch_all = {("ANY", "/"), ("ANY", "/<path:path>")}
    assert catch_all <= routes
    assert _documented(daemon_document()) == (routes - catch_all) | {
        ("GET", "/"),
        ("GET", "/health"),
    }

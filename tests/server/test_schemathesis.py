"""schemathesis against a live controller on SQLite over mTLS: no 5xx, and every
response matches the OpenAPI document the controller serves."""

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings

from silkctl.server.openapi import controller_document
from tests.fixtures.db import ControllerProcess

schema = schemathesis.openapi.from_dict(controller_document())


@pytest.fixture(scope="module")
def live_controller(certs_dir, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("schemathesis")
    controller = ControllerProcess(f"sqlite:///{workdir}/leases.db", certs_dir, workdir)
    controller.start()
    session = requests.Session()
    session.cert = (certs_dir.client_cert, certs_dir.client_key)
    session.verify = certs_dir.ca_cert
    yield controller, session
    session.close()
    controller.stop()


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_controller_answers_within_its_document(case, live_controller):
    controller, session = live_controller
    response = case.call(
        base_url=controller.url,
        session=session,
        cert=session.cert,
        verify=session.verify,
    )
    assert response.status_code < 500, response.text
    case.validate_response(response)


def test_controller_serves_its_openapi_document(live_controller):
    controller, session = live_controller
    served = session.get(
        controller.url + "/openapi.json",
        timeout=5,
        verify=session.verify,
        cert=session.cert,
    )
    assert served.status_code == 200
    assert served.json() == controller_document()

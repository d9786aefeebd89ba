"""Tests of silkctl/config.py: layering of file, SILKCTL_ environment and options."""

import json

import pytest

from silkctl.config import ControllerConfig, DaemonConfig
from silkctl.errors import ConfigError


def test_load_layers_defaults_file_environment_then_options(tmp_path):
    path = tmp_path / "controller.json"
    path.write_text(
        json.dumps({"listen_port": 5000, "network": "10.9.0.0/16", "plaintext": True})
    )
    environ = {"SILKCTL_LISTEN_PORT": "6000", "SILKCTL_SUBNET_PREFIX_LENGTH": "26"}
    config = ControllerConfig.load(
        str(path), overrides={"subnet_prefix_length": 28}, environ=environ
    )
    assert (
        config.listen_port,
        config.network,
        config.subnet_prefix_length,
        config.listen_host,
    ) == (6000, "10.9.0.0/16", 28, "127.0.0.1")


def test_load_reads_structured_values_from_the_environment():
    environ = {
        "SILKCTL_UNDERLAY_IP": "10.0.0.21",
        "SILKCTL_PLAINTEXT": "yes",
        "SILKCTL_PLUGINS": "silkctl.plugins.nft_policy,my_plugin",
        "SILKCTL_POLL_INTERVAL": "0.5",
    }
    config = DaemonConfig.load(environ=environ)
    assert config.plugins == ["silkctl.plugins.nft_policy", "my_plugin"]
    assert (config.plaintext, config.poll_interval) == (True, 0.5)
    database = ControllerConfig.load(
        environ={
            "SILKCTL_PLAINTEXT": "1",
            "SILKCTL_DATABASE": '{"type": "postgres", "user": "u", "host": "h", '
            '"port": 5432, "database_name": "silk"}',
        }
    ).database
    assert database["type"] == "postgres"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SILKCTL_LISTEN_PORT": "many"}, "listen_port: expected an integer"),
        ({"SILKCTL_DATABASE": "{broken"}, "SILKCTL_DATABASE: not valid JSON"),
        ({"SILKCTL_PLAINTEXT": "perhaps"}, "plaintext: expected true or false"),
    ],
)
def test_load_names_the_setting_when_an_environment_value_is_bad(environ, message):
    with pytest.raises(ConfigError, match=message):
        ControllerConfig.load(environ=environ)

"""TWSConfig: defaults, validation, and from_env with clear errors."""

from __future__ import annotations

import pytest

from adapters.ibkr import TWSConfig, TWSConfigError


def test_defaults_are_paper_tws_on_localhost() -> None:
    config = TWSConfig()
    assert (config.host, config.port, config.client_id, config.account) == ("127.0.0.1", 7497, 1, "")
    assert config.timeout > 0


def test_from_env_reads_the_seed_variables() -> None:
    config = TWSConfig.from_env(
        {"TWS_HOST": "10.0.0.5", "TWS_PORT": "4002", "TWS_CLIENT_ID": "10", "TWS_ACCOUNT": "DU999"}
    )
    assert (config.host, config.port, config.client_id, config.account) == ("10.0.0.5", 4002, 10, "DU999")


def test_from_env_with_nothing_set_gives_the_defaults() -> None:
    assert TWSConfig.from_env({}) == TWSConfig()
    assert TWSConfig.from_env({"TWS_PORT": "  ", "TWS_HOST": ""}) == TWSConfig()


@pytest.mark.parametrize(
    ("variable", "value"),
    [("TWS_PORT", "seven"), ("TWS_PORT", "7497.5"), ("TWS_CLIENT_ID", "abc"), ("TWS_TIMEOUT", "soon")],
)
def test_a_malformed_number_names_the_variable_and_an_example(variable: str, value: str) -> None:
    with pytest.raises(TWSConfigError) as error:
        TWSConfig.from_env({variable: value})
    message = str(error.value)
    assert variable in message and repr(value) in message and "e.g." in message


@pytest.mark.parametrize("port", [0, -1, 70000])
def test_a_port_out_of_range_is_refused_with_the_usual_ports(port: int) -> None:
    with pytest.raises(TWSConfigError, match="7497"):
        TWSConfig(port=port)


def test_other_invalid_settings_are_refused() -> None:
    with pytest.raises(TWSConfigError, match="client id"):
        TWSConfig(client_id=-1)
    with pytest.raises(TWSConfigError, match="timeout"):
        TWSConfig(timeout=0)
    with pytest.raises(TWSConfigError, match="TWS_HOST"):
        TWSConfig(host=" ")


def test_config_errors_are_value_errors() -> None:
    assert issubclass(TWSConfigError, ValueError)

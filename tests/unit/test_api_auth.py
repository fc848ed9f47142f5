"""Who may call the /v1 API: the key policy from settings and the environment, and the check itself."""

from __future__ import annotations

import pytest

from ishowtts_studio.api.auth import ApiAuth, AuthError
from ishowtts_studio.settings import load_settings


def auth(environ=None, **overrides) -> ApiAuth:
    return ApiAuth.from_settings(load_settings(None, overrides=overrides), environ=environ or {})


def test_local_server_without_login_or_key_is_open():
    a = auth()
    assert not a.required and a.key is None and not a.locked
    a.check(None)  # no header needed
    a.check("Bearer anything")  # and any key accepted


@pytest.mark.parametrize("overrides", [
    {"server.host": "0.0.0.0"},
    {"server.host": "192.168.1.20"},
    {"server.auth_user": "editor", "server.auth_password": "pw"},
])
def test_network_or_login_without_a_key_locks_the_api(overrides):
    a = auth(**overrides)
    assert a.required and a.locked
    for header in (None, "Bearer anything"):
        with pytest.raises(AuthError, match="ISHOWTTS_API_KEY"):
            a.check(header)
    assert "ISHOWTTS_API_KEY" in a.describe()


def test_key_from_config_or_environment_the_environment_wins():
    assert auth(**{"api.key": "from-config"}).key == "from-config"
    assert auth({"ISHOWTTS_API_KEY": "from-env"}, **{"api.key": "from-config"}).key == "from-env"
    assert auth({"ISHOWTTS_API_KEY": "  "}, **{"api.key": "from-config"}).key == "from-config"


def test_a_configured_key_is_checked_even_on_localhost():
    a = auth({"ISHOWTTS_API_KEY": "s3cret"}, **{"server.host": "0.0.0.0"})
    a.check("Bearer s3cret")
    a.check("bearer   s3cret  ")
    local = auth({"ISHOWTTS_API_KEY": "s3cret"})
    local.check("Bearer s3cret")
    for header in (None, "", "Bearer", "Bearer s3cre", "Bearer s3cret2", "Basic s3cret", "s3cret"):
        with pytest.raises(AuthError) as exc_info:
            local.check(header)
        assert "s3cret" not in str(exc_info.value)


def test_the_key_stays_out_of_reprs():
    settings = load_settings(None, overrides={"api.key": "hidden-key"})
    assert "hidden-key" not in repr(settings)
    assert "hidden-key" not in repr(ApiAuth.from_settings(settings, environ={}))

"""Who may call the /v1 API: the key policy from settings and the environment, and the check itself."""

from __future__ import annotations

import pytest

from ishowtts_studio.api.auth import ApiAuth, AuthError, LoginThrottle, Throttled
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


# ---- the login throttle on API keys ---------------------------------------------------------------------
def test_wrong_keys_count_in_the_login_throttle_and_a_lock_refuses_the_right_key():
    throttle = LoginThrottle(free=2, lock_max_s=10)
    keyed = auth({"ISHOWTTS_API_KEY": "s3cret"})
    for _ in range(3):  # two free, the third locks for 1 s
        with pytest.raises(AuthError) as exc_info:
            keyed.check_from("Bearer wrong", "10.0.0.1", throttle, now=100.0)
        assert not isinstance(exc_info.value, Throttled)
    with pytest.raises(Throttled) as exc_info:  # locked: the right key is not even looked at
        keyed.check_from("Bearer s3cret", "10.0.0.1", throttle, now=100.5)
    assert exc_info.value.seconds == 1 and "Wait 1 s" in str(exc_info.value)
    keyed.check_from("Bearer s3cret", "10.0.0.2", throttle, now=100.5)  # per address
    keyed.check_from("Bearer s3cret", "10.0.0.1", throttle, now=101.5)  # after the wait
    # a right key does not clear the count (it is not the login's password): the next wrong one locks for 2 s
    with pytest.raises(AuthError):
        keyed.check_from("Bearer wrong", "10.0.0.1", throttle, now=101.5)
    assert throttle.wait_s("10.0.0.1", now=101.5) == 2


def test_missing_keys_and_open_or_locked_apis_count_nothing():
    throttle = LoginThrottle(free=0)
    keyed = auth({"ISHOWTTS_API_KEY": "s3cret"})
    for header in (None, "", "Basic s3cret", "Bearer"):  # no key sent: nothing guessed
        with pytest.raises(AuthError):
            keyed.check_from(header, "10.0.0.1", throttle, now=1.0)
    locked = auth(**{"server.host": "0.0.0.0"})  # no key configured: every key is refused, none is a guess
    with pytest.raises(AuthError):
        locked.check_from("Bearer anything", "10.0.0.1", throttle, now=1.0)
    auth().check_from("Bearer anything", "10.0.0.1", throttle, now=1.0)  # open: nothing checked
    assert throttle.wait_s("10.0.0.1", now=1.0) == 0


@pytest.mark.parametrize("host, required", [("127.0.0.1", False), ("localhost", False), ("::1", False),
                                            ("127.0.0.2", False), ("0.0.0.0", True), ("studio.lan", True)])
def test_loopback_is_decided_as_the_start_up_check_does(host, required):
    assert auth(**{"server.host": host}).required is required

"""The several-devices policy: which devices `engine.devices` names and which worker takes the next request."""

from __future__ import annotations

import pytest

from ishowtts_studio.device_routing import (
    SECONDS_PER_BYTE,
    check_devices,
    device_labels,
    parse_devices,
    pick_worker,
    queued_audio_s,
)
from ishowtts_studio.settings import ConfigError, load_settings


def test_parse_devices_keeps_the_single_device_by_default_and_expands_all() -> None:
    assert parse_devices("", "auto", lambda: 8) == ["auto"]  # today's single worker, the GPU count not asked
    assert parse_devices("all", "auto", lambda: 2) == ["cuda:0", "cuda:1"]
    assert parse_devices("all", "cpu", lambda: 0) == ["cpu"]  # no GPU: the one configured device
    assert parse_devices(" cuda:0, cuda:1 ", "auto", lambda: 0) == ["cuda:0", "cuda:1"]
    assert parse_devices("cpu,cpu", "auto", lambda: 0) == ["cpu", "cpu"]


def test_check_devices_names_the_bad_entry_and_what_to_write() -> None:
    for ok in ("", "all", "cpu", "cuda", "cuda:0,cuda:1", "cpu, cpu"):
        assert check_devices(ok) is None, ok
    problem = check_devices("cuda:0,gpu1")
    assert problem is not None and "'gpu1'" in problem and "cuda:0,cuda:1" in problem
    assert check_devices("cuda:x") is not None
    assert check_devices("cuda:0,,cuda:1") is not None  # an empty entry is a typo, not a device


def test_settings_refuse_a_bad_devices_value_with_the_key_in_the_message() -> None:
    with pytest.raises(ConfigError, match=r"engine\.devices = \"cuda0\" has 'cuda0'"):
        load_settings(None, overrides={"engine.devices": "cuda0"})
    assert load_settings(None, overrides={"engine.devices": "cuda:0,cuda:1"}).engine.devices == "cuda:0,cuda:1"


def test_device_labels_are_distinct_per_worker() -> None:
    assert device_labels(["cuda:0", "cuda:1"]) == ["cuda:0", "cuda:1"]
    assert device_labels(["cpu", "cpu"]) == ["cpu#0", "cpu#1"]
    assert device_labels(["auto"]) == ["auto"]


def test_queued_audio_is_one_scale_for_accepted_and_waiting_requests() -> None:
    # accepted: 50 bytes, 1.5 of its 4 estimated seconds streamed -> 50 bytes x 5/8 left; waiting: 20 bytes
    assert queued_audio_s([(4.0, 1.5, 50), (0.0, 0.0, 20)]) == pytest.approx((50 * 5 / 8 + 20) * SECONDS_PER_BYTE)
    assert queued_audio_s([(1.0, 1.2, 10)]) == 0.0  # the cross-fade tail may make more than estimated: not < 0
    assert queued_audio_s([]) == 0.0


def test_accepting_a_request_does_not_change_how_heavy_a_worker_looks() -> None:
    # the burst case: before anything is produced, a worker's load is the same whether its requests are
    # accepted (the engine's estimate is known) or still waiting, so two equal queues compare equal
    accepted = [(9.0, 0.0, 30), (2.0, 0.0, 12)]
    waiting = [(0.0, 0.0, 30), (0.0, 0.0, 12)]
    assert queued_audio_s(accepted) == pytest.approx(queued_audio_s(waiting))


def test_pick_worker_takes_the_least_queued_usable_worker() -> None:
    assert pick_worker([3.0, 1.0, 2.0], [True, True, True]) == 1
    assert pick_worker([3.0, 1.0, 2.0], [True, False, True]) == 2  # an unusable worker is skipped even if idle
    assert pick_worker([0.0, 0.0], [True, True]) == 0  # ties: the lowest index
    assert pick_worker([1.0, 1.0], [False, False]) is None
    assert pick_worker([], []) is None

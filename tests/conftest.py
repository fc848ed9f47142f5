"""Fixtures (one per resource) and the level markers; the helpers they use are in tests/helpers.py.

Tests live by level: tests/unit (no studio, no server), tests/integration (an in-process Studio, a real
Gradio server, subprocesses), tests/e2e (Chromium). Each test gets its folder's marker, and any test that
drives a browser is also marked e2e, so `pytest -m unit` runs the fast ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import CHROMIUM, CHROMIUM_ARGS, Server, open_page, start_server, stop

LEVELS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        level = Path(str(item.fspath)).parent.name
        if level in LEVELS:
            item.add_marker(level)
        if "browser" in getattr(item, "fixturenames", ()) and level != "e2e":
            item.add_marker("e2e")


@pytest.fixture(scope="session")
def studio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real smoke-mode studio server for the whole test session."""
    server = start_server(tmp_path_factory.mktemp("studio-server"))
    try:
        yield server
    finally:
        stop(server.process)


@pytest.fixture(scope="session")
def studio_url(studio_server: Server) -> str:
    return studio_server.url


@pytest.fixture(scope="session")
def client(studio_server: Server, tmp_path_factory: pytest.TempPathFactory):
    from gradio_client import Client

    downloads = tmp_path_factory.mktemp("client-downloads")
    return Client(studio_server.url, verbose=False, analytics_enabled=False, download_files=str(downloads))


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """A headless Chromium per test module, closed with it so no Playwright loop outlives its tests
    (skipped where Playwright or Chromium is missing)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    with sync_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser, studio_url: str) -> Iterator:
    """The studio's page (1400 x 1100) in its own browser context, once the engine is ready (`open_page`)."""
    with open_page(browser, studio_url) as opened:
        yield opened

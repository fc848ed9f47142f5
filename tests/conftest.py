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


BACKENDS = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test module that sets ON_BOTH_DATABASES = True runs its server tests against a studio on SQLite and
    one on PostgreSQL (each server is started once per session)."""
    if "studio_server" in metafunc.fixturenames and getattr(metafunc.module, "ON_BOTH_DATABASES", False):
        metafunc.parametrize("studio_server", BACKENDS, indirect=True, scope="session")


@pytest.fixture(scope="session")
def sqlite_studio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real smoke-mode studio server on its SQLite file for the whole test session."""
    server = start_server(tmp_path_factory.mktemp("studio-server"))
    try:
        yield server
    finally:
        stop(server.process)


@pytest.fixture(scope="session")
def postgresql_studio_server(postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The same on a database of the session's PostgreSQL server."""
    server = start_server(tmp_path_factory.mktemp("studio-server-pg"), database=postgres.create_database("studio"))
    try:
        yield server
    finally:
        stop(server.process)


@pytest.fixture(scope="session")
def studio_server(request: pytest.FixtureRequest) -> Server:
    """The session's studio server: on SQLite, or on the backend a ON_BOTH_DATABASES module asks for."""
    return request.getfixturevalue(f"{getattr(request, 'param', 'sqlite')}_studio_server")


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


# ---- databases: SQLite and a real PostgreSQL server ---------------------------------------------------

@pytest.fixture(scope="session")
def postgres() -> Iterator:
    """One throwaway PostgreSQL server for the whole session (tests/pg.py); skipped only where Debian's
    postgresql package is not installed (.ci/run installs it)."""
    from tests.pg import PG_BIN_GLOB, pg_bin, pg_server

    if pg_bin() is None:
        pytest.skip(f"PostgreSQL is not installed (no {PG_BIN_GLOB}/pg_ctl): apt-get install -y postgresql")
    with pg_server() as server:
        yield server


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty database on each backend: a SQLite file in tmp_path, or a fresh database on the session's
    PostgreSQL server."""
    if request.param == "sqlite":
        (tmp_path / "db").mkdir(exist_ok=True)
        return str(tmp_path / "db" / "studio.sqlite")
    return request.getfixturevalue("postgres").create_database()

"""Browser tests: a real `fairdun serve` process driven by Debian's Chromium through Playwright.

Nothing is downloaded: Playwright launches the system Chromium (/usr/bin/chromium, or the
path in FAIRDUN_CHROMIUM); `playwright install` is never needed. Without Chromium or the
playwright package these tests are skipped with the reason.

One server (fresh SQLite database seeded with the demo data) serves the whole test run; every
test gets a fresh browser context, so cookies never leak between tests. A failing test leaves a
full-page screenshot (and the page's HTML) in var/test-artifacts/.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
ARTIFACTS = REPO_ROOT / "var" / "test-artifacts"

CHROMIUM_ENV = "FAIRDUN_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

STARTUP_TIMEOUT = 30.0  # seconds for the server to answer /api/health
STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL
ACTION_TIMEOUT_MS = 10_000  # Playwright actions and navigations fail fast, not after 30 s


def chromium_path() -> str:
    return os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM


def skip_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"playwright cannot be imported ({exc}); pip install -e '.[dev]'"
    path = chromium_path()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        return (
            f"no Chromium at {path} (apt-get install chromium fonts-noto-cjk, "
            f"or set {CHROMIUM_ENV} to a Chromium binary)"
        )
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip every test under tests/browser/ (and only those) when the browser is unavailable."""
    reason = skip_reason()
    if reason is None:
        return
    marker = pytest.mark.skip(reason=f"browser tests skipped: {reason}")
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(marker)


# --- the server ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _server_env(database_url: str, port: int) -> dict[str, str]:
    """The environment without any inherited FAIRDUN_* name (the app refuses unknown ones,
    e.g. FAIRDUN_CHROMIUM), plus exactly what the server needs."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("FAIRDUN_")}
    env.update(
        {
            "FAIRDUN_ENV": "test",
            "FAIRDUN_DATABASE_URL": database_url,
            "FAIRDUN_HOST": "127.0.0.1",
            "FAIRDUN_PORT": str(port),
            "FAIRDUN_LOG_LEVEL": "warning",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"fairdun serve exited with {proc.returncode} before answering; log:\n{_tail(log)}"
            )
        try:
            with urllib.request.urlopen(url + "/api/health", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(0.1)
    raise RuntimeError(
        f"fairdun serve did not answer {url}/api/health within {STARTUP_TIMEOUT:.0f} s "
        f"(last error: {last}); log:\n{_tail(log)}"
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a real `fairdun serve` on a free port, over a freshly seeded demo database."""
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)
    workdir = tmp_path_factory.mktemp("live-server")  # also the cwd: no stray .env is read
    database_url = f"sqlite:///{workdir / 'demo.db'}"
    port = _free_port()
    env = _server_env(database_url, port)
    seeded = subprocess.run(
        [sys.executable, "-m", "fairdun", "demo", "--no-serve", "--loans", "200"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if seeded.returncode != 0:
        raise RuntimeError(
            f"`fairdun demo --no-serve` failed ({seeded.returncode}):\n"
            f"{seeded.stdout}\n{seeded.stderr}"
        )
    log = workdir / "server.log"
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fairdun", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_healthy(url, proc, log)
        yield url
    finally:
        _stop(proc)


# --- the browser --------------------------------------------------------------------------
# Module scope, not session: while Playwright's sync API is running, it leaves its event loop
# marked as running in the main thread, which would break later non-browser tests that start
# an event loop themselves (asyncio.run, anyio.run).


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
    )
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def context(browser: Browser, live_server: str) -> Iterator[BrowserContext]:
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    context.set_default_navigation_timeout(ACTION_TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


# --- screenshots of failures ----------------------------------------------------------------


def _artifact_stem(nodeid_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid_name).strip("_") or "test"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    """After a failed browser test (the page is still open), save what the browser showed."""
    report = yield
    if not (report.failed and report.when == "call"):
        return report
    page = getattr(item, "funcargs", {}).get("page")
    if page is None or page.is_closed():
        return report
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stem = _artifact_stem(item.name)
    shot = ARTIFACTS / f"{stem}.png"
    try:
        page.screenshot(path=str(shot), full_page=True, timeout=ACTION_TIMEOUT_MS)
        html = ARTIFACTS / f"{stem}.html"
        html.write_text(page.content(), encoding="utf-8")
        message = f"screenshot: {shot}\npage HTML:  {html}\npage URL:   {page.url}"
    except Exception as exc:  # never hide the real failure behind this one
        message = f"could not save a screenshot to {shot}: {exc!r}"
    report.sections.append(("browser artifacts", message))
    reporter = item.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:  # printed at once, and again in the failure details
        reporter.ensure_newline()
        reporter.write_line(f"{item.nodeid}: {message.splitlines()[0]}")
    return report

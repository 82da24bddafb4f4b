"""The Prefect UI in a real browser, for end-to-end tests: Debian's Chromium driven by Playwright.

No browser is downloaded (`playwright install` is never run): Playwright launches the
`chromium` Debian package that `make install` puts at /usr/bin/chromium, headless, with the
flags this closed network needs (no background connections to Google's hosts, no QUIC) and, as
root, no sandbox. Playwright gives every launch a fresh, temporary user data dir. Requests that
leave the stack's origin are aborted (the V2 UI asks Amplitude for an analytics configuration on
every page), so a page never waits on the outside world.

While Playwright's sync API is started, the thread that started it counts as running Playwright's
event loop (between two calls too): `asyncio.run` refuses to start there, and Prefect's
dual sync/async functions called outside a flow return coroutines. Run async code with
`tests.support.waiting.run_coroutine`, which runs it in a thread of its own; a sync flow called
from a test is fine.

Prefect 3.9 serves two UIs: `/` sends a browser with no saved preference to the V2 UI, under
`/v2`; the V1 UI still answers its old paths (`/runs/flow-run/<id>`, the links Prefect's logs
print). The tests use the V2 UI, which is what a user opening the UI sees. What was found there:

- `/v2/runs`: the flow runs, each a list item with a link to its flow and one to the run
  (`/v2/runs/flow-run/<id>`), its state and start; a "Search by flow run name" box.
- `/v2/runs/flow-run/<id>`: state, flow link, task run graph and the run's logs.
- `/v2/events?resource=["<id prefix>"]&rangeType=range&start=<iso>&end=<iso>`: the event feed
  for the resources (or related resources) whose id starts with that prefix; the feed's own
  resource filter only offers Prefect objects. Each event is a list item with its title-cased
  name as a link to `/v2/events/event/<date>/<id>`, then its name.
- `/v2/artifacts/key/<key>`: the key's versions, newest first, each a link named after the
  first 8 hex digits of its id; the table itself is on `/v2/artifacts/artifact/<id>`, 10 rows a
  page, with a search box that filters the rows.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from playwright.sync_api import (
    Browser,
    Locator,
    Page,
    Playwright,
    Route,
    ViewportSize,
    expect,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--no-sandbox",  # the tests run as root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)
V2 = "/v2"
VIEWPORT: ViewportSize = {"width": 1400, "height": 1000}
TIMEOUT_S = 20.0
_log = logging.getLogger(__name__)
_RETRY_S = 3.0  # how long one try of a click or a search waits for its effect
_ARTIFACT_VERSION = re.compile(r"^[0-9a-f]{8}$")


def launch_chromium(playwright: Playwright) -> Browser:
    if not CHROMIUM.is_file():
        raise RuntimeError(f"{CHROMIUM} is missing: `make install` installs Debian's chromium")
    return playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS)
    )


@contextmanager
def ui_page(
    browser: Browser, ui_url: str, timeout_s: float = TIMEOUT_S, also: tuple[str, ...] = ()
) -> Iterator[Page]:
    """A page in a context of its own whose relative URLs are the stack's UI (`ui_url`); besides
    the UI it reaches only the origins of the URLs `also` (the stack's AWS endpoint, whose
    presigned links the artifacts show)."""
    origins = {urlsplit(url).netloc for url in (ui_url, *also)}

    def elsewhere(url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https", "ws", "wss") and parts.netloc not in origins

    def abort(route: Route) -> None:
        route.abort()

    context = browser.new_context(base_url=ui_url, viewport=VIEWPORT)
    try:
        context.set_default_timeout(timeout_s * 1000)
        expect.set_options(timeout=timeout_s * 1000)  # global: `expect` has its own, 5 s
        context.route(elsewhere, abort)
        context.tracing.start(snapshots=True)  # kept only by `PrefectUi.record_failure`
        yield context.new_page()
    finally:
        context.close()


@dataclass
class Screenshots:
    """`<directory>/NN-<what>.png`, numbered in the order they are taken."""

    directory: Path
    taken: list[Path] = field(default_factory=list)

    @classmethod
    def fresh(cls, directory: Path) -> Screenshots:
        """Into an emptied `directory`: what a previous run left would mislead."""
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        return cls(directory)

    def take(self, page: Page, what: str) -> Path:
        slug = re.sub(r"[^a-z0-9]+", "-", what.lower()).strip("-")
        path = self.directory / f"{len(self.taken) + 1:02d}-{slug}.png"
        page.screenshot(path=path, full_page=True)
        self.taken.append(path)
        return path


def wait_for_text(
    scope: Page | Locator,
    text: str | re.Pattern[str],
    timeout_s: float = TIMEOUT_S,
    *,
    exact: bool = False,
) -> Locator:
    """The first visible element showing `text`, once there is one; fails after `timeout_s`."""
    found = scope.get_by_text(text, exact=exact).first
    expect(found).to_be_visible(timeout=timeout_s * 1000)
    return found


def follow(link: Locator, url: re.Pattern[str], timeout_s: float = TIMEOUT_S) -> None:
    """Go where `link` leads and wait until the page is at `url`.

    The link's own address is loaded (a link without one is clicked): under load a click was
    sometimes followed by no navigation for 20 s, and once by the run page's `tab=Logs` landing
    on the runs list (the UI then showed "Something went wrong"): the client-side router raced.
    """
    href = link.get_attribute("href")
    if href is None:
        link.click()
    else:
        link.page.goto(href, wait_until="commit")
    link.page.wait_for_url(url, timeout=timeout_s * 1000, wait_until="commit")


def events_path(resource_prefix: str, since: datetime, until: datetime) -> str:
    """The event feed of the resources whose id starts with `resource_prefix`, in a time range.

    The feed's own ranges ("Past day") end at the start of the current minute: an event is not
    in them until the minute it occurred in is over.
    """
    query = {
        "resource": json.dumps([resource_prefix]),
        "rangeType": "range",
        "start": since.astimezone(UTC).isoformat(),
        "end": until.astimezone(UTC).isoformat(),
    }
    return f"{V2}/events?{urlencode(query)}"


@dataclass(frozen=True)
class RenderedTable:
    """A table artifact as the UI shows it: header cells and the rows on screen."""

    columns: list[str]
    rows: list[list[str]]
    text: str

    def records(self) -> list[dict[str, str]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def open_artifact(page: Page, key: str, search: str | None = None) -> RenderedTable:
    """Open the artifact `key`, then its latest version, and read its table.

    The table shows 10 rows a page: `search` types into its search box, so that the rows
    showing that text are the ones read.
    """
    page.goto(f"{V2}/artifacts/key/{key}")
    main = page.get_by_role("main")
    latest = main.get_by_role("link", name=_ARTIFACT_VERSION).first
    follow(latest, re.compile(r"/artifacts/artifact/[0-9a-f-]+"))
    table = main.get_by_role("table")
    expect(table).to_be_visible()
    body_rows = table.get_by_role("row").filter(has=page.get_by_role("cell"))
    if search is not None:
        _search(main.get_by_role("textbox", name="Search"), search, body_rows)
    columns = [c.strip() for c in table.get_by_role("columnheader").all_inner_texts()]
    rows = [
        [c.strip() for c in row.get_by_role("cell").all_inner_texts()] for row in body_rows.all()
    ]
    return RenderedTable(columns, rows, table.inner_text())


@dataclass(frozen=True)
class PrefectUi:
    """A test's page on the stack's Prefect UI and where its screenshots go."""

    page: Page
    screenshots: Screenshots

    def shot(self, what: str) -> Path:
        return self.screenshots.take(self.page, what)

    def record_failure(self) -> None:
        """A last screenshot, and the trace of every action (`playwright show-trace` opens it)."""
        self.shot("failure")
        self.page.context.tracing.stop(path=self.screenshots.directory / "trace.zip")


def _search(box: Locator, text: str, rows: Locator, timeout_s: float = TIMEOUT_S) -> None:
    """Type `text` into the table's search box until only rows showing it are left.

    Seen under load: the box empty again and every row shown after the search was typed (the
    page fetches the artifact twice, and renders the table again).
    """
    others = rows.filter(has_not_text=text)
    deadline = time.monotonic() + timeout_s
    while True:
        box.fill(text)
        with contextlib.suppress(AssertionError):
            expect(others).to_have_count(0, timeout=_RETRY_S * 1000)
            if box.input_value() == text:
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"the table never showed only the rows with {text!r}")
        _log.info("searching %r, the table's box holds %r: typing again", text, box.input_value())

"""Reports seen through headless Chromium: a screenshot of the first screen, what that screen
shows (the text and place of chosen elements), the page's height and its printed page count.

Used by ``docs/make_figures.py`` (the report figure of the docs) and by the report tests; it
needs a Chromium binary (``apt-get install chromium``), found by :func:`find_chromium`.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: The first screen: a laptop browser window.
VIEWPORT = (1280, 800)

_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)

_PROBE = """<script>
window.addEventListener('load', function () { setTimeout(function () {
  var ids = %s, out = {height: document.documentElement.scrollHeight,
                       viewport: [window.innerWidth, window.innerHeight], elements: {}};
  ids.forEach(function (id) {
    var e = document.getElementById(id);
    if (!e) { return; }
    var r = e.getBoundingClientRect();
    out.elements[id] = {text: e.innerText, top: r.top, bottom: r.bottom,
                        left: r.left, right: r.right};
  });
  var m = document.createElement('div');
  m.id = 'postloan-probe';
  m.setAttribute('data-seen', JSON.stringify(out));
  document.body.appendChild(m); }, 500); });
</script>"""


@dataclass(frozen=True)
class Seen:
    """What a window of ``viewport`` pixels showed of a page."""

    height: int
    viewport: tuple[int, int]
    elements: dict[str, dict]

    def in_first_screen(self, element_id: str) -> bool:
        """The element exists and lies wholly inside the first screen."""
        e = self.elements.get(element_id)
        if e is None:
            return False
        w, h = self.viewport
        return e["top"] >= 0 and e["bottom"] <= h and e["left"] >= 0 and e["right"] <= w


def find_chromium() -> str | None:
    """The path of a Chromium (or Chrome) binary, None when there is none."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def _run(args: list[str], work: Path) -> subprocess.CompletedProcess:
    browser = find_chromium()
    if browser is None:
        raise RuntimeError("headless Chromium is not installed (apt-get install chromium)")
    cmd = [browser, *_FLAGS, f"--user-data-dir={work / 'profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def _window(viewport: tuple[int, int]) -> str:
    return f"--window-size={viewport[0]},{viewport[1]}"


def look(page: Path, ids: list[str], viewport: tuple[int, int] = VIEWPORT) -> Seen:
    """Open ``page`` in a window of ``viewport`` pixels; the text and box of each element of
    ``ids`` (positions relative to the first screen) and the page's full height."""
    with tempfile.TemporaryDirectory(prefix="postloan-look-") as tmp:
        work = Path(tmp)
        probe = work / "page.html"
        text = Path(page).read_text(encoding="utf-8")
        probe.write_text(text.replace("<head>", "<head>" + _PROBE % json.dumps(ids), 1))
        out = _run([_window(viewport), "--virtual-time-budget=15000", "--dump-dom",
                    probe.as_uri()], work)  # fmt: skip
    m = re.search(r'<div id="postloan-probe" data-seen="([^"]*)"', out.stdout)
    if not m:
        raise RuntimeError(f"the page's scripts did not run: {out.stderr[-2000:]}")
    seen = json.loads(html.unescape(m.group(1)))
    return Seen(int(seen["height"]), tuple(seen["viewport"]), seen["elements"])


def screenshot(page: Path, png: Path, viewport: tuple[int, int] = VIEWPORT) -> Path:
    """A PNG of the first screen of ``page`` (``viewport`` pixels); returns its path."""
    png = Path(png).resolve()
    with tempfile.TemporaryDirectory(prefix="postloan-shot-") as tmp:
        out = _run([_window(viewport), "--virtual-time-budget=15000",
                    f"--screenshot={png}", Path(page).resolve().as_uri()], Path(tmp))  # fmt: skip
    if not png.exists():
        raise RuntimeError(f"no screenshot written: {out.stderr[-2000:]}")
    return png


def printed_pages(page: Path) -> int:
    """How many pages the browser prints ``page`` on (its own page size, A4 for the reports)."""
    with tempfile.TemporaryDirectory(prefix="postloan-print-") as tmp:
        pdf = Path(tmp) / "page.pdf"
        _run(["--no-pdf-header-footer", "--virtual-time-budget=15000",
              f"--print-to-pdf={pdf}", Path(page).resolve().as_uri()], Path(tmp))  # fmt: skip
        if not pdf.exists():
            raise RuntimeError(f"{page}: the browser printed nothing")
        return len(re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes()))


def png_size(png: Path) -> tuple[int, int]:
    """Width and height of a PNG file, from its header."""
    head = Path(png).read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{png}: not a PNG file")
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")

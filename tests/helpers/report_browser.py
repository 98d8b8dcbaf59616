"""Open a Snakemake report in headless Chromium and show every result, as a reader would.

A Snakemake HTML report is one file whose results are shown by JavaScript (React): an image is
in the page only once its entry is clicked. So this drives the page over the Chrome DevTools
Protocol (a websocket; ``websocket-client``): it loads the report, opens every category and
subcategory, clicks each result's view button, and reports, per result, whether an ``<img>``
with that result's data appeared and decoded (``naturalWidth > 0``), together with every
console error, uncaught exception and failed load the page produced.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import websocket

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--remote-debugging-port=0",  # any free port; Chromium writes it to DevToolsActivePort
)

# Runs in the page. `app` (the report's React root component), `categories` and `results` are
# globals of the report. Every subcategory is opened from the menu, as a click on it would, and
# every result's first button (the eye: "show") is clicked.
SHOW_EVERY_RESULT = """
(async () => {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const until = async (cond, ms) => {
    const t0 = Date.now();
    while (!cond()) {
      if (Date.now() - t0 > ms) return false;
      await sleep(25);
    }
    return true;
  };
  const started = await until(
    () => typeof app !== "undefined" && app !== undefined &&
      document.querySelector("#loading-screen").style.display === "none",
    20000,
  );
  if (!started) return { error: "the report's app did not start" };
  const shown = [];
  for (const category of Object.keys(categories)) {
    for (const subcategory of Object.keys(categories[category])) {
      const paths = categories[category][subcategory];
      app.setView({ navbarMode: "menu" });
      await sleep(50);
      app.showCategory(category);
      await sleep(50);
      app.setView({ navbarMode: "subcategory", category: category, subcategory: subcategory });
      const rows = () => document.querySelectorAll("tbody div[role=group]");
      if (!(await until(() => rows().length === paths.length, 10000))) {
        shown.push({ category, subcategory, error: `${rows().length} rows for ${paths.length}` });
        continue;
      }
      for (let i = 0; i < paths.length; i++) {
        rows()[i].querySelector("a").click();
        await until(() => paths.includes(app.state.resultPath) &&
          !shown.some((s) => s.path === app.state.resultPath), 5000);
        const path = app.state.resultPath;
        const entry = results[path];
        let img = null;
        await until(() => {
          img = Array.from(document.images).find((im) => im.getAttribute("src") === entry.data_uri);
          return img !== undefined && img.complete;
        }, 10000);
        shown.push({
          category, subcategory, path,
          mime: entry.mime_type,
          caption: entry.caption.length,
          found: Boolean(img),
          complete: Boolean(img && img.complete),
          width: img ? img.naturalWidth : 0,
          height: img ? img.naturalHeight : 0,
        });
      }
    }
  }
  return { shown, results: Object.keys(results) };
})()
"""


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


class DevTools:
    """A minimal Chrome DevTools Protocol client: commands and the events between them."""

    def __init__(self, ws_url: str, timeout: float = 60):
        self.ws = websocket.create_connection(ws_url, timeout=timeout, suppress_origin=True)
        self.events: list[dict] = []
        self._id = 0

    def send(self, method: str, **params) -> dict:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, method: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event.get("method") == method:
                    return event
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method} within {timeout} s")
            self.events.append(json.loads(self.ws.recv()))

    def close(self) -> None:
        self.ws.close()

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads seen so far."""
        out = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                text = details.get("exception", {}).get("description") or details.get("text")
                out.append(f"exception: {text}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                args = [a.get("value", a.get("description", "")) for a in params.get("args", [])]
                out.append(f"console.{params['type']}: {' '.join(map(str, args))}")
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                e = params["entry"]
                out.append(f"log ({e.get('source')}): {e.get('text')} {e.get('url', '')}")
            elif method == "Network.loadingFailed":
                out.append(f"load failed: {params.get('errorText')} ({params.get('type')})")
        return out


def show_every_result(report: Path, profile_dir: Path, timeout: float = 120) -> dict:
    """Open ``report`` in headless Chromium, show every result; return what the page showed
    (``shown``: one entry per result clicked; ``results``: every result path) and
    ``problems`` (console errors, exceptions, failed loads)."""
    binary = find_chromium()
    if binary is None:
        raise FileNotFoundError("no chromium binary on PATH")
    profile_dir.mkdir(parents=True, exist_ok=True)
    log = open(profile_dir / "chromium.log", "w")
    proc = subprocess.Popen(
        [binary, *FLAGS, f"--user-data-dir={profile_dir}", "about:blank"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        port_file = profile_dir / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                raise RuntimeError(
                    f"chromium did not start: {(profile_dir / 'chromium.log').read_text()[-2000:]}"
                )
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            pages = [t for t in json.load(r) if t.get("type") == "page"]
        tools = DevTools(pages[0]["webSocketDebuggerUrl"], timeout=timeout)
        try:
            for domain in ("Runtime", "Log", "Page", "Network"):
                tools.send(f"{domain}.enable")
            tools.send("Page.navigate", url=report.resolve().as_uri())
            tools.wait_for("Page.loadEventFired", timeout=timeout)
            value = tools.send(
                "Runtime.evaluate",
                expression=SHOW_EVERY_RESULT,
                awaitPromise=True,
                returnByValue=True,
                timeout=timeout * 1000,
            )
            if "exceptionDetails" in value:
                raise RuntimeError(f"the page script failed: {value['exceptionDetails']}")
            out = value["result"]["value"]
            out["problems"] = tools.problems()
            return out
        finally:
            tools.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()

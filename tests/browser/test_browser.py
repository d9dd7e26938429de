"""The browser the UI checks rely on: Debian's Chromium renders a page from a local server."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.browser.conftest import screenshot, wait_text


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html><body><h1 id='t'>rendered by a script</h1><script>document.getElementById('t')"
        body += b".textContent = 'rendered ' + (6 * 7);</script></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_chromium_runs_a_pages_script_and_saves_a_screenshot(browser, artifacts):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        browser.get(f"http://127.0.0.1:{server.server_address[1]}/")
        assert wait_text(browser, r"rendered \d+") == "rendered 42"
        shot = screenshot(browser, artifacts, "00_browser")
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        server.shutdown()

"""A loopback HTTP server that stands for a model zoo (or its mirror) in tests.

It listens on 127.0.0.1 at an ephemeral port, serves the bytes a test put
under a path, counts the requests, can cut a response short, and stops when
the test ends or after ``LIFETIME_SECONDS`` at the latest.
"""

import contextlib
import http.server
import socket
import threading

LIFETIME_SECONDS = 300


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server name
        zoo = self.server.zoo
        zoo.requests.append(self.path)
        body = zoo.files.get(self.path)
        if body is None:
            self.send_error(404, "not in this zoo")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = zoo.truncate.get(self.path)
        self.wfile.write(body if cut is None else body[:cut])
        if cut is not None:
            self.close_connection = True

    def log_message(self, *args):  # keep test output quiet
        pass


class ZooServer:
    """``files``: path -> bytes; ``truncate``: path -> bytes sent before closing;
    ``requests``: the paths asked for; ``url``: ``http://127.0.0.1:PORT``."""

    def __init__(self):
        self.files, self.truncate, self.requests = {}, {}, []
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.zoo = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._timer = threading.Timer(LIFETIME_SECONDS, self.stop)
        self._timer.daemon = True

    def start(self):
        self._thread.start()
        self._timer.start()
        return self

    def stop(self):
        self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()


@contextlib.contextmanager
def zoo_server():
    """A started :class:`ZooServer`, stopped on exit."""
    server = ZooServer().start()
    try:
        yield server
    finally:
        server.stop()


def closed_port():
    """A loopback port with nothing listening (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]

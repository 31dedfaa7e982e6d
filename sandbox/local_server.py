"""What the sandbox's HTTP stand-ins (the gateway, the UI's host) share: a threaded server on a
loopback address that starts and stops, and the hop-by-hop headers a proxy must not pass on."""

import threading
from http.server import ThreadingHTTPServer

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailer", "transfer-encoding", "upgrade", "host", "content-length"}


class LocalServer:
    def __init__(self, handler_class, port: int, host: str = "127.0.0.1"):
        self.server = ThreadingHTTPServer((host, port), handler_class)
        self.server.daemon_threads = True
        self.port = self.server.server_port
        self.url = f"http://{host}:{self.port}"
        # a short poll: stop() returns within 50 ms (shutdown waits for the loop's next poll)
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                        daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        if self._thread.is_alive():  # shutdown() waits forever for a loop that never ran
            self.server.shutdown()
        self.server.server_close()

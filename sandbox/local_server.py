"""What the sandbox's HTTP stand-ins (the gateway, the UI's host) share: a threaded server on a
loopback address that starts and stops and drops stalled connections, and the hop-by-hop
headers a proxy must not pass on."""

import threading
from http.server import ThreadingHTTPServer

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailer", "transfer-encoding", "upgrade", "host", "content-length"}


# How long a connection may send nothing (a request line, headers, the rest of a body) or take
# nothing of an answer before it is closed: a client that announces 100 bytes and sends 10 would
# otherwise hold a thread for good. Per read, not per request: an upload that keeps moving,
# however slowly, is not cut off.
READ_TIMEOUT_SECONDS = 30


class _Server(ThreadingHTTPServer):
    # Connections the kernel holds before the accept loop takes them: http.server's 5 drops
    # the sixth of many clients connecting at once ("Connection aborted"), where API Gateway
    # takes them all.
    request_queue_size = 128


class LocalServer:
    def __init__(self, handler_class, port: int, host: str = "127.0.0.1",
                 read_timeout: float = READ_TIMEOUT_SECONDS):
        # a class of this server's own, which its read timeout is set on; without Nagle's
        # algorithm: http.server writes an answer's head and body in two sends, and with it
        # the body waits for the client's ACK of the head, which the client delays (40 ms on
        # Linux) - every request through the gateway paid that wait
        handler_class = type(handler_class.__name__, (handler_class,),
                             {"disable_nagle_algorithm": True})
        self.server = _Server((host, port), handler_class)
        self.read_timeout = read_timeout
        self.server.daemon_threads = True
        self.port = self.server.server_port
        self.url = f"http://{host}:{self.port}"
        # a short poll: stop() returns within 50 ms (shutdown waits for the loop's next poll)
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                        daemon=True)

    @property
    def read_timeout(self) -> float:
        return self.server.RequestHandlerClass.timeout

    @read_timeout.setter
    def read_timeout(self, seconds: float):
        # http.server sets it on each new connection's socket (StreamRequestHandler.timeout)
        self.server.RequestHandlerClass.timeout = seconds

    def start(self):
        self._thread.start()

    def stop(self):
        if self._thread.is_alive():  # shutdown() waits forever for a loop that never ran
            self.server.shutdown()
        self.server.server_close()

"""A TCP forwarder on loopback that can be switched off and on, to make a real server (PostgreSQL) unreachable
for a while without stopping it for anyone else: `stop()` cuts every open connection and refuses new ones."""

import socket
import threading


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, port: int = 0):
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", port))
        self.port = self._listener.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._running:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        """Cut every connection and refuse new ones (they are accepted and closed at once)."""
        self._running = False
        with self._lock:
            for s in self._open:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass
            self._open.clear()

    def start(self) -> None:
        self._running = True

    def close(self) -> None:
        self.stop()
        self._listener.close()


def main() -> None:
    """Run from a process of its own (benchmarks): python -m tests.support.tcp_proxy TARGET_PORT PORT CONTROL_FILE;
    the proxy is off while CONTROL_FILE exists."""
    import os
    import sys
    import time

    target_port, port, control = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    proxy = TcpProxy("127.0.0.1", target_port, port)
    print(proxy.port, flush=True)
    while True:
        off = os.path.exists(control)
        if off and proxy._running:
            proxy.stop()
        elif not off and not proxy._running:
            proxy.start()
        time.sleep(0.05)


if __name__ == "__main__":
    main()

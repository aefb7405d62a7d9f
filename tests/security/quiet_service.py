"""A service that is given secrets on its command line and never says them: listens on `--port P`, nothing else.

Every other argument is ignored, so a test can pass it passwords, DSNs and Bearer headers
and then look for them in everything robostack wrote or printed. It exits at once with
code 3 (printing only that) when given `--fail`.
"""

from __future__ import annotations

import socket
import sys


def main() -> None:
    argv = sys.argv[1:]
    if "--fail" in argv:
        print("quiet service: failing at once, as asked", flush=True)
        sys.exit(3)
    port = int(argv[argv.index("--port") + 1])
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen()
    print("quiet service listening", flush=True)
    while True:
        connection, _ = listener.accept()
        connection.close()


if __name__ == "__main__":
    main()

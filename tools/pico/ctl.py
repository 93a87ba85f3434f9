"""Send one command to an emulated Pico's control socket and print the reply.

Usage: python tools/pico/ctl.py [--sock build/pico-rig/ctl.sock] COMMAND ...
Commands (pico_emu.mjs): time, stats, events, outputs, walk BODY_C [in|out], temp C,
ambient C, background C, present 0|1, corrupt-pec N, pin N 0|1, get N, timeline JSON,
wait-ms MS, uart-rx HEX, hang, reset, save, quit.
"""

import socket
import sys


def main(argv):
    sock_path = "build/pico-rig/ctl.sock"
    if argv[:1] == ["--sock"]:
        sock_path, argv = argv[1], argv[2:]
    if not argv:
        print(__doc__.strip())
        return 2
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(sock_path)
        sock.sendall((" ".join(argv) + "\n").encode())
        buf = b""
        while not buf.endswith(b"\n"):
            data = sock.recv(65536)
            if not data:
                break
            buf += data
    print(buf.decode().rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

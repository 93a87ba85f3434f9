"""`fevergate ports` and PORT `auto`: which serial port the gate is on.

`candidates()` lists the serial ports with their USB descriptions (pyserial's
`serial.tools.list_ports`); `probe(port)` asks one for STATUS (no PIN) and returns the gate's
identity when it answers within PROBE_TIMEOUT_S, else None; `find_gate()` is the one port a
gate answers on (EXIT_NO_PORT when none does, EXIT_USAGE naming them when several do), which
every command uses for PORT `auto` (host_tools/serialport.py).
"""

from __future__ import annotations

from host_tools.errors import EXIT_NO_PORT, EXIT_USAGE, FevergateError

__all__ = ["candidates", "probe", "find_gate", "do_ports", "argparse_ports", "PROBE_TIMEOUT_S"]

PROBE_TIMEOUT_S = 1.0


def candidates() -> list[tuple[str, str]]:
    """(device, description) of every serial port this computer has."""
    from serial.tools import list_ports

    ports = []
    for info in sorted(list_ports.comports(), key=lambda p: p.device):
        text = info.description if info.description and info.description != "n/a" else ""
        if info.manufacturer and info.manufacturer not in text:
            text = f"{text} ({info.manufacturer})" if text else info.manufacturer
        ports.append((info.device, text or "no description"))
    return ports


def probe(device: str, timeout: float = PROBE_TIMEOUT_S) -> tuple[int, int] | None:
    """(device_id, boot) of the gate answering STATUS on `device`, or None."""
    from host_tools.device import DeviceLink
    from host_tools.wire import protocol

    try:
        with DeviceLink(device, timeout=timeout) as link:
            link.busy_retry_s = 0.0
            configs = link.request(protocol.CMD_STATUS, retries=0).configs()
    except FevergateError:
        return None
    if protocol.KEY_DEVICE_ID not in configs:
        return None
    return configs[protocol.KEY_DEVICE_ID] & 0xFFFFFFFF, configs.get(protocol.KEY_BOOT_COUNT, -1)


def find_gate() -> str:
    """The one port a gate answers on."""
    found = [(device, who) for device, _ in candidates() if (who := probe(device)) is not None]
    if not found:
        raise FevergateError(
            "PORT auto: no gate answers on any serial port (is it plugged in and powered? "
            "`fevergate ports` lists the ports)",
            EXIT_NO_PORT,
        )
    if len(found) > 1:
        names = ", ".join(f"{device} (gate {who[0]:#010x})" for device, who in found)
        raise FevergateError(f"PORT auto: several gates answer: {names}; name one", EXIT_USAGE)
    return found[0][0]


def argparse_ports(parser) -> None:
    parser.description = (
        "List the serial ports with their USB descriptions, asking each for STATUS: the ones a "
        "gate answers on are marked with its device id. PORT may be `auto` in every command "
        "when exactly one gate is plugged in."
    )
    parser.epilog = "examples:\n  fevergate ports\n  fevergate service auto status"


def do_ports(state, args) -> int:
    ports = candidates()
    if not ports:
        state.print("no serial ports (is the gate's USB cable plugged in?)")
        return 0
    width = max(len(device) for device, _ in ports)
    for device, text in ports:
        who = probe(device)
        mark = f"  <- fevergate gate {who[0]:#010x}, boot {who[1]}" if who else ""
        state.print(f"{device:<{width}}  {text}{mark}")
    return 0

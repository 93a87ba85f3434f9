"""Fault injection plan: which faults the simulated gate injects and how hard.

`parse_faults("nack,pec=0.2,bounce")` gives a FaultPlan. Each fault has a sane default rate:

| name          | meaning of the value                                             | default |
|---------------|------------------------------------------------------------------|---------|
| nack          | probability that a sensor read is not acknowledged (OSError EIO)  | 0.05    |
| pec           | probability that a read word arrives with a corrupted PEC         | 0.05    |
| flag          | probability that a temperature word has the error bit 15 set      | 0.03    |
| stuck-bus     | seconds between bus lock-ups (SDA held low until bus recovery)    | 120     |
| bounce        | probability that a beam edge bounces (2..4 extra edges in <= 4 ms)| 0.5     |
| blocked-beam  | seconds beam A stays blocked (once, at 30 % of the run)           | 15      |
| uart-drop     | probability that a transmitted byte is lost on the wire           | 0.001   |
| uart-corrupt  | probability that a transmitted byte arrives with a flipped bit    | 0.001   |
| tank-empty    | seconds the tank reads empty (once, from 50 % of the run)         | 60      |
| bus-hang      | seconds the I2C bus hangs (once, from 40 % of the run): a transfer | 30      |
|               | started then never returns; MicroPython runtime only              |         |

The first stuck-bus lock-up comes at 20 % of the run.
"""

DEFAULTS = {
    "nack": 0.05,
    "pec": 0.05,
    "flag": 0.03,
    "stuck-bus": 120.0,
    "bounce": 0.5,
    "blocked-beam": 15.0,
    "uart-drop": 0.001,
    "uart-corrupt": 0.001,
    "tank-empty": 60.0,
    "bus-hang": 30.0,
}


class FaultPlan:
    """The faults to inject: `plan.rate("nack")` is 0.0 when the fault is off."""

    def __init__(self, rates=None):
        rates = dict(rates or {})
        for name in rates:
            if name not in DEFAULTS:
                raise ValueError(
                    "unknown fault {!r}; known faults: {}".format(
                        name, ", ".join(sorted(DEFAULTS))
                    )
                )
        self.rates = rates

    def __contains__(self, name):
        return name in self.rates

    def __bool__(self):
        return bool(self.rates)

    def rate(self, name):
        return float(self.rates.get(name, 0.0))

    def names(self):
        return sorted(self.rates)

    def as_dict(self):
        return {name: self.rates[name] for name in sorted(self.rates)}


def parse_faults(text):
    """'nack,pec=0.2' -> FaultPlan({'nack': 0.05, 'pec': 0.2}); '' or None -> no faults."""
    rates = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        name, _, value = item.partition("=")
        name = name.strip()
        if name not in DEFAULTS:
            raise ValueError(
                "unknown fault {!r}; known faults: {}".format(name, ", ".join(sorted(DEFAULTS)))
            )
        try:
            rates[name] = float(value) if value else DEFAULTS[name]
        except ValueError:
            raise ValueError(f"fault {name}: {value!r} is not a number") from None
        if rates[name] < 0:
            raise ValueError(f"fault {name}: the value must not be negative")
    return FaultPlan(rates)

"""A RecordWriter stand-in that keeps the calls in preallocated arrays (allocates nothing).

It has the record methods Control uses (`passage`, `alarm`, `fault`, plus `status`), each
returning a sequence number like the real writer. The accessors that return tuples or lists
(`passage_at`, `faults_list`, ...) allocate: call them only outside heap_lock sections.
The last _KEEP calls of each kind are kept; the counts count all of them.
"""

from array import array

_KEEP = 64


class FakeWriter:
    def __init__(self):
        self.t_cs = 0
        self.seq = 0
        self.passages = 0
        self.alarms = 0
        self.faults = 0
        self.statuses = 0
        self._passage = array("i", [0] * (_KEEP * 4))
        self._alarm = array("i", [0] * (_KEEP * 2))
        self._fault = array("i", [0] * (_KEEP * 3))

    def _next(self):
        self.seq = (self.seq + 1) & 0xFFFF
        return self.seq

    def passage(self, verdict, direction, temp_cc, transit_cs):
        i = (self.passages % _KEEP) * 4
        p = self._passage
        p[i] = verdict
        p[i + 1] = direction
        p[i + 2] = temp_cc
        p[i + 3] = transit_cs
        self.passages += 1
        return self._next()

    def alarm(self, kind, temp_cc):
        i = (self.alarms % _KEEP) * 2
        self._alarm[i] = kind
        self._alarm[i + 1] = temp_cc
        self.alarms += 1
        return self._next()

    def fault(self, code, active, detail):
        i = (self.faults % _KEEP) * 3
        f = self._fault
        f[i] = code
        f[i + 1] = active
        f[i + 2] = detail
        self.faults += 1
        return self._next()

    def status(self, people_in, people_out, fevers, remeasures, uptime_s, mem_free, errors):
        self.statuses += 1
        return self._next()

    # -- accessors for assertions (these allocate) --
    def passage_at(self, k):
        """(verdict, direction, temp_cc, transit_cs) of passage k (negative: from the end)."""
        if k < 0:
            k += self.passages
        i = (k % _KEEP) * 4
        p = self._passage
        return (p[i], p[i + 1], p[i + 2], p[i + 3])

    def alarm_at(self, k):
        if k < 0:
            k += self.alarms
        i = (k % _KEEP) * 2
        return (self._alarm[i], self._alarm[i + 1])

    def faults_list(self):
        """(code, active, detail) of the kept fault calls, oldest first."""
        first = self.faults - _KEEP if self.faults > _KEEP else 0
        out = []
        for k in range(first, self.faults):
            i = (k % _KEEP) * 3
            out.append((self._fault[i], self._fault[i + 1], self._fault[i + 2]))
        return out

    def verdicts(self):
        first = self.passages - _KEEP if self.passages > _KEEP else 0
        return [self.passage_at(k)[0] for k in range(first, self.passages)]

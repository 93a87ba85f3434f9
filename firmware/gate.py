"""The gate application: wires a board to the sensor, beams, control loop and record stream.

`Gate(board)` builds everything from the board object (see docs/ARCHITECTURE.md), writes the
boot record, and `tick(now)` runs one control tick: beams, control, at most one sensor read,
commands (only when bytes wait), outputs, periodic status, and a UART drain bounded by what
the baud rate has moved since the last tick (a credit that holds at least the longest frame,
so every tick_ms streams every frame). `tick` does no flash I/O and allocates nothing,
storage on or off (a sensor failure allocates its exception; a TIME_SYNC its big unix time;
neither is steady state): the tests run it under micropython.heap_lock() on the unix port and on an
emulated Pico. `run()` is the forever loop with a fixed period and a watchdog; each tick gets
the board's real ticks_ms, the time its beam edges are stamped in, however late the loop runs.
Between samples, every AMBIENT_MS, the tick reads the sensor's ambient (Ta) for the
measurement's ambient correction (measure.py).

With a `storage.Storage` (main.py opens it before the Gate), the boot count and settings come
from flash and every record is also appended to the flash journal's RAM buffer. The flash work
is in `after_tick(now)`, which `run()` calls after the tick, outside it: at most one piece a
loop, each bounded, only when due and, but for the flush of a passage or an alarm (on flash
before the next tick's sample, so a power cut loses none), only while the channel is idle
(nobody inside, beams clear: `channel_idle`; unless the journal's RAM buffer is nearly full or
the work has waited FLASH_WAIT_MAX_MS): a journal segment change (a pass of its own), or a
journal flush (one write and sync, up to the newest segment's end) every FLUSH_RECORDS
records, FLUSH_MS or half a buffer, else a commit of the persisted counters (counters.py:
people today and in total, out, fevers, re-measures, restored at boot so that STATUS goes on
across reboots) every COMMIT_MS when they changed (or at once
after a counter reset). A flush allocates nothing on MicroPython unless it rotates the segment
(opening a file); a commit allocates a few hundred bytes (paths, file objects, rename), every
COMMIT_MS at most. A flash erase still stalls the chip while it runs (45 ms a 4 KiB sector,
more than a tick period): the tick after it runs late, with the true time, and the beam edges
keep theirs (hard IRQs; one inside an erase is stamped when it ends); waiting for an idle
channel keeps all but a passage's own flush away from walkers.
`after_tick` also samples gc.mem_free() every MEM_FREE_MS for the STATUS records (it walks the
whole heap: about 8 ms on a Pico, too slow for a tick).
`step(now)` is `tick` and `after_tick` together (tests, the simulator's lock-step).
A boot after a session that never shut down says RESET_POWER_CUT in its
BOOT record; records the journal had to delete before they were downloaded are reported as
FAULT_JOURNAL_LOSS, a storage failure as FAULT_STORAGE. Records the transmit ring had to drop
are told in a FAULT_TX_OVERFLOW (detail: how many) once it has room again; beam IRQ log
overflows, beam events dropped and short UART writes go out in every STATUS. A backlog
download (backlog.py) uses what the UART credit leaves after the live records.
"""

from micropython import const

import persist
import protocol
from backlog import Backlog
from beam import BeamCounter
from commands import Commands
from config import Config
from control import Control
from counters import Counters
from mlx90614 import MLX90614, SensorError
from records import RecordWriter
from ticks import ticks_add, ticks_diff

_MAX_FRAME = protocol.MAX_REPLAY_FRAME  # the longest frame on the wire
_T_CS_MASK = protocol.T_CS_MASK  # a small int on 32-bit ports (T_CS_WRAP is not)
_SETTLE_UNKNOWN_MS = const(650)  # the slowest factory setting (medical DCI) if 0x25 is unreadable
_FAILS_BEFORE_RECOVERY = const(3)
_RECOVERY_BACKOFF_MAX_MS = const(8000)
WATCHDOG_MS = const(5000)
AMBIENT_MS = const(10000)  # the sensor's ambient (Ta) is read this often, between samples
_AMBIENT_FAILS_FORGET = const(6)  # Ta reads failed in a row before the correction stops
FLUSH_RECORDS = const(16)
FLUSH_MS = const(5000)
COMMIT_MS = const(10000)
WORK_FLUSH = const(1)  # work_due(): a journal flush is due
WORK_COMMIT = const(2)  # a counter commit is due
WORK_MEM_FREE = const(3)  # a gc.mem_free() sample is due (it walks the heap: ~8 ms on a Pico)
MEM_FREE_MS = const(5000)
FLASH_WAIT_MAX_MS = const(30000)  # flash work waits for an idle channel at most this long


class Gate:
    def __init__(
        self, board, config=None, boot_count=0, settings_store=None, storage=None, watchdog=None
    ):
        self.board = board
        self._wdt = watchdog  # armed by main.py before the first flash or bus access
        self.config = config if config is not None else Config()
        self.writer = RecordWriter()
        self.storage = storage
        self.journal = None
        cause = board.reset_cause()
        if storage is not None:
            boot_count = storage.boot_count
            settings_store = storage.settings
            self.journal = storage.journal
            self.writer.journal = storage.journal
            self.writer.boot_id = boot_count & 0xFFFF
            if storage.last_shutdown == persist.SHUTDOWN_CUT and (
                cause == protocol.RESET_POWER_ON or cause == protocol.RESET_UNKNOWN
            ):
                cause = protocol.RESET_POWER_CUT
        self.boot_count = boot_count
        self.sensor = MLX90614(board.i2c, sleep_ms=board.sleep_ms)
        now = board.ticks_ms()
        self._last = now
        self._ms_rem = 0
        self._s_rem_cs = 0
        self.uptime_cs = 0
        self.uptime_s = 0
        self.writer.t_cs = 0
        self.writer.boot(cause, boot_count, board.device_id() & 0xFFFFFFFF, protocol.FW_VERSION)
        if self.config.site_rejected:
            self.writer.fault(protocol.FAULT_CONFIG, 1, self.config.site_rejected)
        if cause == protocol.RESET_WATCHDOG:
            self.writer.fault(protocol.FAULT_WATCHDOG, 1, 0)  # the last session hung
        if storage is not None and storage.failed:
            self.writer.fault(protocol.FAULT_STORAGE, 1, storage.failed)
        if self.journal is not None:
            self.journal.flush()  # the boot is on flash even if what follows hangs
        # service commands; loads the persisted settings before anything below reads them
        self.commands = Commands(board.uart, self.writer, self.config, settings_store)
        if self.commands.cal_reference_cc:
            self.commands.send_calibration()  # the calibration in force, for the day's report
        if self.journal is not None and self.journal.last_boot >= 0:
            # how far the previous boots' journal got (found when the journal was opened): a
            # host lists what it lacks up to there; on flash with the first flash work
            end = (self.journal.last_boot & 0xFFFF) << 16 | (self.journal.last_seq & 0xFFFF)
            self.writer.config(protocol.KEY_JOURNAL_END, end - (1 << 32) if end >> 31 else end)
            self.journal.urgent = True
        settle_ms = self._read_settle_ms()
        cfg = self.config
        self.beam = BeamCounter(
            board.beam_a,
            board.beam_b,
            board.BEAM_BLOCKED,
            board.IRQ_BOTH,
            board.ticks_ms,
            cfg.debounce_ms,
            cfg.beam_stuck_ms,
            cfg.vacate_ms,
            getattr(board, "disable_irq", None),
            getattr(board, "enable_irq", None),
            getattr(board, "IRQ_HARD", False),
        )
        self.control = Control(cfg, self.writer, settle_ms)
        # the persisted counts restored: STATUS goes on from where the last boot left them
        self.counters = Counters(
            self.control, self.writer, storage.persist if storage is not None else None
        )
        self.commands.attach(self.sensor, self.control, self.beam, self._status)
        self.commands.counters = self.counters
        self.commands.boot_count = boot_count
        self.commands.device_id = board.device_id()
        self.backlog = None
        if self.journal is not None:
            self.backlog = Backlog(self.journal, self.writer)
            self.commands.backlog = self.backlog
        # The UART moves UART_BAUD / 10 bytes a second (8N1): a credit in 1/10,000 byte units
        # grows by UART_BAUD a millisecond and is spent by what is sent. It holds at most one
        # tick's bytes or the longest frame, whichever is more, so any tick_ms streams every
        # frame (at 1 ms a tick moves 11 bytes, a frame is up to 38) and never outruns the line.
        self._uart_any = board.uart.any  # bound once: referencing a bound method allocates
        self._tx_baud = board.UART_BAUD
        self._tx_cap = max(board.UART_BAUD * cfg.tick_ms, _MAX_FRAME * 10_000)
        self._tx_cap_ms = self._tx_cap // board.UART_BAUD + 1
        self._tx_credit = self._tx_cap  # the line was idle before the boot
        self._tx_last = now
        self._pump = 0
        self._buzzer = 0
        self._tank = board.tank_ok
        self._tank_level = board.TANK_OK
        board.pump.off()
        board.buzzer.off()
        self._next_status = ticks_add(now, cfg.status_interval_ms)
        self._fails = 0
        self._backing_off = False  # a bus recovery's back-off is running until _retry_at
        self._retry_at = now
        self._backoff_ms = 0
        self.recoveries = 0
        self.stopped = False  # after a clean stop (stop_cleanly)
        self._power_failing = getattr(board, "power_failing", None)  # optional board signal
        self._flush_due = ticks_add(now, FLUSH_MS)
        self._commit_due = ticks_add(now, COMMIT_MS)
        self.journal_lost = 0
        self.commit_errors = 0
        self.ambient_errors = 0
        self._ambient_fails = 0
        self._ambient_due = now
        self._read_ambient(now)  # Ta for the ambient correction from the first walker on
        self.mem_free = board.mem_free()  # sampled after the tick (after_tick), sent in STATUS
        self._mem_due = ticks_add(now, MEM_FREE_MS)
        self._waiting = False  # flash work due is waiting for an idle channel, since _wait_since
        self._wait_since = now
        self._tx_dropped_told = 0  # writer.dropped already reported in a FAULT_TX_OVERFLOW

    def _read_settle_ms(self):
        try:
            return self.sensor.settle_ms()
        except SensorError as exc:
            self.writer.fault(exc.args[0], 1, 0)
            return _SETTLE_UNKNOWN_MS

    def _advance_uptime(self, now):
        ms = self._ms_rem + ticks_diff(now, self._last)
        self._last = now
        if ms < 10:
            self._ms_rem = ms
            return
        cs = ms // 10
        self._ms_rem = ms - cs * 10
        if cs:
            # wraps at 2**30 without forming uptime_cs + cs (a long int past 2**30 - 1)
            room = _T_CS_MASK - cs
            if self.uptime_cs > room:
                self.uptime_cs -= room + 1
            else:
                self.uptime_cs += cs
            self._s_rem_cs += cs
            if self._s_rem_cs >= 100:
                s = self._s_rem_cs // 100
                self._s_rem_cs -= s * 100
                self.uptime_s += s
                self.commands.uptime_s = self.uptime_s  # its today() (tick() may not run)
        self.writer.t_cs = self.uptime_cs

    def _tank_ok(self):
        tank = self._tank
        return tank is None or tank.value() == self._tank_level

    def _sample(self, now):
        control = self.control
        if self._backing_off:
            # compared only while a back-off runs: a stale _retry_at would read as "not yet"
            # for half a ticks period once it lies more than 2**29 ms behind
            if ticks_diff(now, self._retry_at) < 0:
                control.sample_skipped(now)  # backing off: no read tried, no sensor error
                return
            self._backing_off = False
        try:
            temp_cc = self.sensor.object_temp_cc()
        except SensorError as exc:
            self._sensor_failed(now, exc.args[0])
            control.sample_failed(now, exc.args[0])
            return
        if self._fails:
            self.writer.fault(protocol.FAULT_SENSOR_NACK, 0, self._fails)
            self._fails = 0
            self._backoff_ms = 0
        control.sample(now, temp_cc)

    def _read_ambient(self, now):
        """The sensor's ambient reading (Ta) for the ambient correction (measure.py), every
        AMBIENT_MS between samples; a failed read keeps the last Ta for a while."""
        self._ambient_due = ticks_add(now, AMBIENT_MS)
        if self._fails:
            return  # the bus is failing: the sample path recovers it
        measure = self.control.measure
        try:
            ta_cc = self.sensor.ambient_temp_cc()
        except SensorError:
            self.ambient_errors += 1
            self._ambient_fails += 1
            if self._ambient_fails >= _AMBIENT_FAILS_FORGET:
                measure.forget_ambient()
            return
        self._ambient_fails = 0
        measure.set_ambient(ta_cc)

    def _sensor_failed(self, now, code):
        self._fails += 1
        if self._fails == 1:
            self.writer.fault(code, 1, 0)
        if self._fails % _FAILS_BEFORE_RECOVERY == 0:
            self.sensor.recover(self.board.recover_i2c)
            self.recoveries += 1
            self.writer.fault(protocol.FAULT_BUS_STUCK, 1, self.recoveries)
            self._backoff_ms = min(max(self._backoff_ms * 2, 100), _RECOVERY_BACKOFF_MAX_MS)
            self._retry_at = ticks_add(now, self._backoff_ms)
            self._backing_off = True

    def _apply_outputs(self):
        control = self.control
        if control.pump != self._pump:
            self._pump = control.pump
            self.board.pump.value(self._pump)
        if control.buzzer != self._buzzer:
            self._buzzer = control.buzzer
            self.board.buzzer.value(self._buzzer)

    def _status(self):
        counters = self.counters
        counters.notice(self.commands.today())
        beam = self.beam
        self.writer.status(
            counters.people_in(),
            counters.people_out(),
            counters.fevers(),
            counters.remeasures(),
            self.uptime_s,
            self.mem_free,
            self.control.sensor_errors,
            counters.people_in_today(),
            beam.overflows,
            beam.events_dropped,
        )

    def _tx_overflow(self):
        """Records the transmit ring dropped, told once the ring has room again."""
        writer = self.writer
        lost = writer.dropped - self._tx_dropped_told
        self._tx_dropped_told = writer.dropped
        writer.fault(protocol.FAULT_TX_OVERFLOW, 1, lost)

    def step(self, now):
        """One control tick at ticks_ms `now`, then the work due after it (at most one piece)."""
        self.tick(now)
        self.after_tick(now)

    # -- a clean stop: CMD_STOP, or the board's power-fail signal --

    def stop_due(self):
        """True once when the technician asked for a clean stop or the board says its power
        is failing (`board.power_failing()`, where a board has a hold-up supply to sense)."""
        if self.stopped:
            return False
        if self.commands.stop_requested:
            return True
        failing = self._power_failing
        return failing is not None and failing()

    def stop_cleanly(self):
        """Outputs off, counters committed, journal flushed and closed, the session marked
        ended: the next boot is a plain power-on, not RESET_POWER_CUT. The gate then only
        drains its last records (the STOP's final REPLY) until it is reset or powered off."""
        self.stopped = True
        ok = self.shutdown()
        self.writer.journal = None  # the session on flash is over
        self.backlog = None
        self.commands.backlog = None
        commands = self.commands
        if commands.stop_requested:
            commands.stop_requested = False
            status = protocol.REPLY_OK if ok else protocol.REPLY_FAILED
            reason = protocol.REASON_NONE if ok else protocol.REASON_STORAGE
            commands.reply_to(protocol.CMD_STOP, commands.stop_tag, status, reason)

    def tick(self, now):
        """One control tick at ticks_ms `now`: no flash I/O, no allocation."""
        self._advance_uptime(now)
        if self.stopped:  # after a clean stop: only the last records go out
            self._transmit(now)
            return
        beam = self.beam
        event = beam.poll(now)
        control = self.control
        tank = self._tank
        tank_ok = tank is None or tank.value() == self._tank_level
        control.tick(now, event, beam.occupied, beam.direction, tank_ok, beam.event_ms)
        if control.people_in != self.counters._seen_in:
            self.counters.notice(self.commands.today())
        if control.want_sample:
            self._sample(now)
        elif ticks_diff(now, self._ambient_due) >= 0:
            self._read_ambient(now)
        commands = self.commands
        if commands.active or self._uart_any():
            commands.tick(now, self.uptime_s)  # may add pump prime / buzzer test to outputs
        if control.pump != self._pump or control.buzzer != self._buzzer:
            self._apply_outputs()
        if ticks_diff(now, self._next_status) >= 0:
            self._next_status = ticks_add(self._next_status, self.config.status_interval_ms)
            self._status()
        self._transmit(now)

    def _transmit(self, now):
        """Sends what the UART credit allows: live records first, then a backlog download."""
        writer = self.writer
        if writer.dropped != self._tx_dropped_told and not writer.frames():
            self._tx_overflow()
        if not writer._frames and self._tx_credit >= self._tx_cap:
            backlog = self.backlog
            if (backlog is None or not backlog.active) and not writer._resync:
                self._tx_last = now  # most ticks: nothing to send, the credit is full
                return
        elapsed = ticks_diff(now, self._tx_last)
        self._tx_last = now
        if elapsed > self._tx_cap_ms:
            elapsed = self._tx_cap_ms
        credit = self._tx_credit + elapsed * self._tx_baud if elapsed > 0 else self._tx_credit
        if credit > self._tx_cap:
            credit = self._tx_cap
        budget = credit // 10_000
        uart = self.board.uart
        sent = writer.drain(uart, budget)
        backlog = self.backlog
        if backlog is not None and backlog.active:
            sent += backlog.pump(uart, budget - sent)
        self._tx_credit = credit - sent * 10_000

    # -- flash: journal flushes and counter commits, outside the tick --

    def channel_idle(self, now):
        """True when flash work may stall the loop now: nobody inside, no verdict pending,
        every beam clear (BeamCounter.quiet), or the channel has been busy FLASH_WAIT_MAX_MS
        (a queue that never ends, a stuck beam: the work cannot wait for ever)."""
        if self.beam.quiet() and not self.control.inside:
            self._waiting = False
            return True
        if not self._waiting:
            self._waiting = True
            self._wait_since = now
            return False
        if ticks_diff(now, self._wait_since) >= FLASH_WAIT_MAX_MS:
            self._wait_since = ticks_add(now, -FLASH_WAIT_MAX_MS)  # never stale past 2**29
            return True
        return False

    def work_due(self, now):
        """The work due after the tick at `now`: WORK_FLUSH, WORK_COMMIT, WORK_MEM_FREE or 0.

        A passage or an alarm is flushed at once, before the next tick's sample, whoever is in
        the channel: a power cut loses none (STORAGE.md). Other flash work (a flush, a commit)
        stalls the chip while littlefs erases (45 ms a sector on a Pico, several periods): it
        waits for an idle channel (channel_idle), so a walker's beams and readings never share
        a tick with it, unless the journal's RAM buffer is nearly full (a flush now, or
        append() would flush inside a tick) or the wait has been FLASH_WAIT_MAX_MS. The
        gc.mem_free() sample (8 ms on a Pico) waits likewise."""
        journal = self.journal
        storage_due = self.storage is not None
        idle = -1  # not looked at yet
        if journal is not None and journal.pending:
            if journal.nearly_full() or journal.urgent:  # urgent: a passage or an alarm
                return WORK_FLUSH
            if (
                journal.pending >= FLUSH_RECORDS
                or journal.half_full()
                or ticks_diff(now, self._flush_due) >= 0
            ):
                idle = self.channel_idle(now)
                if idle:
                    return WORK_FLUSH
        if storage_due and (self.counters.urgent or ticks_diff(now, self._commit_due) >= 0):
            if idle < 0:
                idle = self.channel_idle(now)
            if idle:
                return WORK_COMMIT
        if ticks_diff(now, self._mem_due) >= 0:
            if idle < 0:
                idle = self.channel_idle(now)
            if idle:
                return WORK_MEM_FREE
        return 0

    def after_tick(self, now):
        """At most one bounded piece of the work due at `now` (work_due): a journal segment
        change, a journal flush, a counter commit or a gc.mem_free() sample; True if one was
        done. A clean stop asked for (stop_due) is done here instead."""
        if self.stopped:
            return False
        if self.stop_due():
            self.stop_cleanly()
            return True
        due = self.work_due(now)
        if due == WORK_FLUSH:
            journal = self.journal
            if not journal.rotation_due():
                self.flush_journal(now, True)  # one write, up to the segment's end
            elif not journal.rotate():  # a segment change is a pass of its own
                self.flush_journal(now)  # the filesystem failed: this reports what is lost
        elif due == WORK_COMMIT:
            self._commit_due = ticks_add(now, COMMIT_MS)
            self.commit_counters()
        elif due == WORK_MEM_FREE:
            self._mem_due = ticks_add(now, MEM_FREE_MS)
            self.mem_free = self.board.mem_free()
        return due != 0

    def flush_journal(self, now, one_segment=False):
        """The journal's RAM buffer to flash (with `one_segment`, up to the newest segment's
        end: Journal.flush); a loss the journal had to make is reported."""
        journal = self.journal
        self._flush_due = ticks_add(now, FLUSH_MS)
        journal.flush(one_segment)
        lost = journal.take_dropped()
        if lost:
            self.journal_lost += lost
            self.writer.fault(protocol.FAULT_JOURNAL_LOSS, 1, lost)

    def commit_counters(self):
        """Commits the counts (counters.py) if they changed; True if a commit was made."""
        storage = self.storage
        counters = self.counters
        counters.notice(self.commands.today())
        try:
            return counters.commit()
        except OSError:
            self.commit_errors += 1
            if not storage.failed & 4:
                storage.failed |= 4
                self.writer.fault(protocol.FAULT_STORAGE, 1, storage.failed)
            return False

    def shutdown(self):
        """A clean end: outputs off, counters committed, journal closed, session ended;
        False if the storage could not be closed (the next boot then reads a power cut)."""
        self.stop_outputs()
        if self.storage is not None:
            self.commit_counters()
            self.writer.mark_chatter()  # the last run of link chatter: accounted for on flash
            try:
                self.storage.close()
            except OSError:
                return False
        return True

    def stop_outputs(self):
        self.board.pump.off()
        self.board.buzzer.off()
        self._pump = self._buzzer = 0

    def run(self, max_ticks=-1):
        """The forever loop (or max_ticks ticks): fixed period, watchdog fed every tick.

        Each tick runs at the board's real ticks_ms (not the schedule): its beam edges carry
        real interrupt times, so a late loop must not pair them with an earlier `now`. The
        flash work due follows the tick, in the time left before the next one."""
        board = self.board
        period = self.config.tick_ms
        wdt = self._wdt if self._wdt is not None else board.watchdog(WATCHDOG_MS)
        ticks_ms = board.ticks_ms
        due = ticks_ms()
        try:
            while max_ticks != 0:
                now = ticks_ms()
                self.tick(now)
                if wdt is not None:
                    wdt.feed()
                self.after_tick(now)
                due = ticks_add(due, period)
                wait = ticks_diff(due, ticks_ms())
                if wait > 0:
                    board.sleep_ms(wait)
                elif wait < -period:
                    due = ticks_ms()  # overran by more than a tick: do not try to catch up
                if max_ticks > 0:
                    max_ticks -= 1
        finally:
            self.stop_outputs()

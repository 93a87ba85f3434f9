// pico_emu.mjs: run a MicroPython UF2 (or Intel HEX) on rp2040js (the emulated Pico of the Pico
// test tier; adopted from ../shared/pico/harness, see tools/pico/README.md), with
//  - the USB CDC REPL on a Unix socket (--cdc-sock) that pico_rig.py bridges to a pty for
//    mpremote (or on the terminal with --stdin),
//  - flash writes (littlefs) emulated by hooking the bootrom's flash_range_erase/program, and
//    the filesystem region written through to --flash-file as each write happens (so killing
//    the process is a power cut: the file holds exactly what the flash held),
//  - an MLX90614 I2C target at 0x5A on I2C0 (RAM 0x06/0x07, EEPROM 0x25 etc, SMBus PEC),
//  - UART0 TX captured to --uart0-out (raw bytes) and sent to the client of --uart0-sock,
//    UART0 RX fed (paced at the baud rate) from that client or from the control socket,
//  - GPIO inputs (beams GP14/GP15, tank GP13) driven from a control socket (--ctl) with
//    scenarios scheduled in *emulated* time (walk = A low, B low 200 ms later, ...),
//  - a watchdog that really resets the chip (new RP2040, flash kept, reset reason WDT).
// Usage: node pico_emu.mjs --image FW.uf2 --bootrom ROM.bin [--cdc-sock S] [--flash-file F]
//        [--uart0-out F] [--uart0-sock S] [--uart0-stdout] [--ctl SOCKET] [--stats-every S]
//        [--i2c-timing 1|0] [--flash-timing 1|0] [--realtime] [--no-wdt-reset] [--stdin]
//        [--exit-with-stdin]
// With --exit-with-stdin the emulator stops when its standard input closes (its parent died).
import fs from 'fs';
import net from 'net';
import { Simulator, USBCDC, ConsoleLogger, LogLevel, I2CMode, BasePeripheral } from 'rp2040js';
import path from 'path';
import { fileURLToPath } from 'url';

// ---------- args ----------
const args = {};
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a.startsWith('--')) {
    const key = a.slice(2);
    const next = process.argv[i + 1];
    if (next === undefined || next.startsWith('--')) args[key] = true;
    else { args[key] = next; i++; }
  }
}
// the RP2040 B1 bootrom (16 KiB) and the MicroPython image: FEVERGATE_PICO_DIR by default
const PICO_DIR = process.env.FEVERGATE_PICO_DIR ||
  path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'pico'); // pico_rig.py always passes both
const BOOTROM = args.bootrom || path.join(PICO_DIR, 'rp2040-bootrom-b1.bin');
const IMAGE = args.image || path.join(PICO_DIR, 'rp2-pico-v1.29.0-preview.736.g7f59a8dc2a.uf2');
const romBytes = fs.readFileSync(BOOTROM);
const bootromB1 = new Uint32Array(romBytes.buffer, romBytes.byteOffset, romBytes.length / 4);
const FS_START = 0xa0000; // MicroPython rp2 Pico: 2 MB flash, 1408 KB filesystem at the top
const FS_END = 0x200000;
const log = (...m) => process.stderr.write(`[emu ${(nowNs() / 1e9).toFixed(3)}s] ${m.join(' ')}\n`);

// ---------- image loading ----------
function loadUF2(path, flash) {
  const buf = fs.readFileSync(path);
  let n = 0;
  for (let off = 0; off + 512 <= buf.length; off += 512) {
    const m0 = buf.readUInt32LE(off), m1 = buf.readUInt32LE(off + 4);
    if (m0 !== 0x0a324655 || m1 !== 0x9e5d5157) continue;
    const addr = buf.readUInt32LE(off + 12), size = buf.readUInt32LE(off + 16);
    flash.set(buf.subarray(off + 32, off + 32 + size), addr - 0x10000000);
    n++;
  }
  return n;
}
function loadHex(path, flash) {
  let upper = 0, n = 0;
  for (const line of fs.readFileSync(path, 'utf8').split(/\r?\n/)) {
    if (!line.startsWith(':')) continue;
    const b = Buffer.from(line.slice(1), 'hex');
    const len = b[0], addr = (b[1] << 8) | b[2], type = b[3];
    if (type === 0) {
      const full = upper + addr;
      if (full >= 0x10000000 && full < 0x11000000) { flash.set(b.subarray(4, 4 + len), full - 0x10000000); n += len; }
    } else if (type === 4) upper = ((b[4] << 8) | b[5]) << 16;
    else if (type === 2) upper = ((b[4] << 8) | b[5]) << 4;
  }
  return n;
}

// ---------- bootrom: flash write hooks ----------
const bootrom = new Uint32Array(bootromB1);
const rd16 = (a) => (bootrom[a >> 2] >>> ((a & 2) * 8)) & 0xffff;
const wr16 = (a, v) => {
  const sh = (a & 2) * 8;
  bootrom[a >> 2] = ((bootrom[a >> 2] & ~(0xffff << sh)) | ((v & 0xffff) << sh)) >>> 0;
};
const romFuncs = {};
for (let p = rd16(0x14); ; p += 4) {
  const code = rd16(p);
  if (!code) break;
  romFuncs[String.fromCharCode(code & 0xff, code >> 8)] = rd16(p + 2);
}
const BK_ERASE = 0x51, BK_PROGRAM = 0x52;
// flash_range_erase / flash_range_program -> BKPT #n ; BX LR
wr16(romFuncs.RE & ~1, 0xbe00 | BK_ERASE); wr16((romFuncs.RE & ~1) + 2, 0x4770);
wr16(romFuncs.RP & ~1, 0xbe00 | BK_PROGRAM); wr16((romFuncs.RP & ~1) + 2, 0x4770);

// ---------- persistent state across (watchdog) resets ----------
let sim, mcu, cdc;
let flashImage = null; // Uint8Array(16 MB) carried across resets
let resetReason = 'POR';
let resetPending = false;
const stats = { instr: 0, cycles: 0, execCycles: 0, wallStart: Date.now(), erases: 0, programs: 0, wdtResets: 0, i2cReads: 0 };
// emulated time since the emulator started, carried across chip resets (each reset builds a new
// simulator whose clock starts at 0)
let emuBaseNs = 0;
function nowNs() { return emuBaseNs + (sim ? sim.clock.nanos : 0); }

// ---------- MLX90614 model ----------
const mlx = {
  address: 0x5a,
  present: true,
  ta_c: 25.0,
  tobj_c: 22.0, // background the sensor sees with nobody in the gate
  eeprom: { 0x20: 0x9993, 0x21: 0x62e3, 0x22: 0x0201, 0x23: 0xf71c, 0x24: 0xffff, 0x25: 0x9fb4,
    0x2e: 0xbe5a, 0x2f: 0x0000, 0x3c: 0x1234, 0x3d: 0x5678, 0x3e: 0x9abc, 0x3f: 0xdef0 },
  corruptPec: 0,
  // transaction state
  cmd: -1, mode: 'idle', outBytes: [], outIdx: 0, wbuf: [],
};
const rawOf = (c) => Math.round((c + 273.15) * 50) & 0xffff;
function crc8(bytes) {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = crc & 0x80 ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
  }
  return crc;
}
function mlxWord(cmd) {
  if (cmd === 0x06) return rawOf(mlx.ta_c);
  if (cmd === 0x07) return rawOf(mlx.tobj_c);
  if (cmd === 0x08) return rawOf(mlx.tobj_c);
  if (cmd === 0x04 || cmd === 0x05) return 0x0100;
  if (cmd >= 0x20 && cmd <= 0x3f) return mlx.eeprom[cmd] ?? 0x0000;
  return 0x0000;
}

function attachI2C(i2c) {
  const bitNs = () => {
    const period = (i2c.fsClockHighPeriod + i2c.fsClockLowPeriod) || 1250;
    return (period / mcu.clkSys) * 1e9; // one SCL bit
  };
  const later = (bits, fn) => {
    if (!args['i2c-timing'] || args['i2c-timing'] === '0') { fn(); return; }
    const alarm = sim.clock.createAlarm(fn);
    alarm.schedule(bits * bitNs());
  };
  let addrW = 0;
  i2c.onStart = (repeated) => later(1, () => i2c.completeStart());
  i2c.onConnect = (address, mode) => {
    const ack = mlx.present && address === mlx.address;
    if (ack) {
      if (mode === I2CMode.Write) { mlx.mode = 'write'; mlx.wbuf = []; }
      else {
        mlx.mode = 'read';
        const cmd = mlx.wbuf.length ? mlx.wbuf[0] : mlx.cmd;
        const w = mlxWord(cmd);
        const lsb = w & 0xff, msb = w >> 8;
        let pec = crc8([address << 1, cmd, (address << 1) | 1, lsb, msb]);
        if (mlx.corruptPec > 0) { pec ^= 0x5a; mlx.corruptPec--; }
        mlx.outBytes = [lsb, msb, pec];
        mlx.outIdx = 0;
        stats.i2cReads++;
        if (cmd === 0x07) stats.tobjReads = (stats.tobjReads || 0) + 1;
      }
    }
    later(9, () => i2c.completeConnect(ack));
  };
  i2c.onWriteByte = (v) => {
    mlx.wbuf.push(v);
    if (mlx.wbuf.length === 1) mlx.cmd = v;
    later(9, () => i2c.completeWrite(true));
  };
  i2c.onReadByte = (ack) => {
    const v = mlx.outIdx < mlx.outBytes.length ? mlx.outBytes[mlx.outIdx++] : 0xff;
    later(9, () => i2c.completeRead(v));
  };
  i2c.onStop = () => {
    if (mlx.mode === 'write' && mlx.wbuf.length >= 4) {
      // EEPROM write: command, lsb, msb, pec
      const [cmd, lsb, msb, pec] = mlx.wbuf;
      if (crc8([mlx.address << 1, cmd, lsb, msb]) === pec && cmd >= 0x20 && cmd <= 0x3f) {
        mlx.eeprom[cmd] = lsb | (msb << 8);
        log(`MLX90614 EEPROM write 0x${cmd.toString(16)} = 0x${(lsb | (msb << 8)).toString(16)}`);
      }
    }
    mlx.mode = 'idle';
    later(1, () => i2c.completeStop());
  };
}


// ---------- UART TX model ----------
// rp2040js 1.4.1 RPUART.checkInterrupts() forces UARTTXINTR on at every call, so with the TX
// interrupt unmasked (MicroPython rp2 does that for machine.UART) the core is stuck in the UART
// IRQ forever. This replaces the TX side: a 32-entry FIFO drained at the baud rate (10 bits per
// byte), TXFE/TXFF/BUSY flags, UARTIFLS, and a TX interrupt raised when the FIFO level drops to
// the trigger level (PL011 behaviour), cleared by ICR or by filling the FIFO above the level.
function attachUART(uart, onTx) {
  const UARTDR = 0x0, UARTFR = 0x18, UARTIFLS = 0x34, TXINTR = 1 << 5;
  const TXFE = 1 << 7, TXFF = 1 << 5, RXFF = 1 << 6, RXFE = 1 << 4, BUSY = 1 << 3;
  const LEVELS = [4, 8, 16, 24, 28];
  let ifls = 0x12;
  const txq = [];
  let shifting = false;
  const cap = () => (uart.fifosEnabled ? 32 : 1);
  const trigger = () => (uart.fifosEnabled ? (LEVELS[ifls & 7] ?? 16) : 0);
  uart.checkInterrupts = function () { mcu.setInterrupt(this.irq, !!(this.interruptStatus & this.interruptMask)); };
  const flags = () => (uart.rxFIFO.full ? RXFF : 0) | (uart.rxFIFO.empty ? RXFE : 0) |
    (txq.length === 0 ? TXFE : 0) | (txq.length >= cap() ? TXFF : 0) | (shifting || txq.length ? BUSY : 0);
  const byteNs = () => { const baud = uart.baudRate || 115200; return (10 / (isFinite(baud) && baud > 0 ? baud : 115200)) * 1e9; };
  const startNext = () => {
    if (!txq.length) { shifting = false; return; }
    const before = txq.length;
    const b = txq.shift();
    shifting = true;
    if (before > trigger() && txq.length <= trigger()) { uart.interruptStatus |= TXINTR; uart.checkInterrupts(); }
    const alarm = sim.clock.createAlarm(() => { onTx(b); startNext(); });
    alarm.schedule(byteNs());
  };
  const origWrite = uart.writeUint32.bind(uart), origRead = uart.readUint32.bind(uart);
  uart.writeUint32 = (offset, value) => {
    if (offset === UARTDR) {
      if (txq.length < cap()) txq.push(value & 0xff);
      if (txq.length > trigger() && (uart.interruptStatus & TXINTR)) { uart.interruptStatus &= ~TXINTR; uart.checkInterrupts(); }
      if (!shifting) startNext();
      return;
    }
    if (offset === UARTIFLS) { ifls = value & 0x3f; return; }
    origWrite(offset, value);
  };
  uart.readUint32 = (offset) => (offset === UARTFR ? flags() : offset === UARTIFLS ? ifls : origRead(offset));
  uart.interruptStatus &= ~TXINTR;
}

// ---------- flash unique ID ----------
// rp2040js has no flash unique ID (machine.unique_id() would read zeros, which no real board
// does): the SSI answers the RUID command (0x4B, 4 dummy bytes, then 8 ID bytes) with --uid
// (16 hex digits), as pico-sdk's flash_get_unique_id reads it at boot.
const UID = Buffer.from((args.uid && args.uid !== true ? args.uid : 'e6614104032f4e2c').padStart(16, '0').slice(-16), 'hex');
function attachUniqueId(ssi) {
  let idx = -1;
  const origWrite = ssi.writeUint32.bind(ssi), origRead = ssi.readUint32.bind(ssi);
  ssi.writeUint32 = (offset, value) => {
    if (offset === 0x60) { if (idx < 0) { if ((value & 0xff) === 0x4b) idx = 0; } else idx++; }
    origWrite(offset, value);
  };
  ssi.readUint32 = (offset) => {
    if (offset === 0x60 && idx >= 0) {
      const v = idx >= 5 && idx < 13 ? UID[idx - 5] : 0;
      if (idx >= 12) idx = -1;
      return v;
    }
    return origRead(offset);
  };
}

// ---------- VREG_AND_CHIP_RESET (reset cause for machine.reset_cause()) ----------
class ChipReset extends BasePeripheral {
  readUint32(offset) {
    if (offset === 0x08) {
      // CHIP_RESET: HAD_POR bit 8, HAD_RUN bit 16, HAD_PSM_RESTART bit 20; watchdog: none of them
      if (resetReason === 'POR') return 1 << 8;
      if (resetReason === 'RUN') return 1 << 16;
      return 0;
    }
    if (offset === 0x00) return 0xb1; // VREG default
    if (offset === 0x04) return 0x01; // BOD
    return 0;
  }
  writeUint32() {}
}

// ---------- UART0 capture, UART0 on a Unix socket, paced RX ----------
const uartOut = args['uart0-out'] ? fs.openSync(args['uart0-out'], 'a') : null;
let uartBytes = 0;
let uartClient = null;
if (args['uart0-sock']) {
  socketServer(args['uart0-sock'], (d) => queueUartRx(d), (sock, gone) => {
    if (sock) { if (uartClient) uartClient.destroy(); uartClient = sock; } else if (uartClient === gone) uartClient = null;
  });
}
// bytes for UART0 RX enter its 32-byte FIFO one per byte time (10 bits at the baud rate), and
// wait while the FIFO is full: a host never overruns it faster than the wire could.
const uartRxQueue = [];
let uartRxBusy = false;
function queueUartRx(buf) { for (const b of buf) uartRxQueue.push(b); if (!uartRxBusy) uartRxNext(); }
function uartRxNext() {
  if (!uartRxQueue.length || !mcu) { uartRxBusy = false; return; }
  uartRxBusy = true;
  const uart = mcu.uart[0];
  const baud = uart.baudRate || 115200;
  const ns = (10 / (isFinite(baud) && baud > 0 ? baud : 115200)) * 1e9;
  const g = gen;
  atNs(ns, () => {
    if (g !== gen) { uartRxBusy = false; uartRxNext(); return; } // the chip was reset meanwhile
    if (!mcu.uart[0].rxFIFO.full) mcu.uart[0].feedByte(uartRxQueue.shift());
    uartRxNext();
  });
}

// ---------- USB CDC on a Unix socket (pico_rig.py bridges it to a pty) ----------
let cdcClient = null;
const inputQueue = [];
let pendingRead = null;
function queueInput(buf) {
  for (const b of buf) inputQueue.push(b);
  serviceRead();
}
function serviceRead() {
  if (!pendingRead || !inputQueue.length || !mcu) return;
  const { endpoint, size } = pendingRead;
  pendingRead = null;
  const n = Math.min(size, inputQueue.length);
  const chunk = new Uint8Array(inputQueue.splice(0, n));
  mcu.usbCtrl.endpointReadDone(endpoint, chunk);
}
// One client at a time (the newest wins); with nobody connected the device's output is lost,
// as it is on a Pico whose USB port has no host reading it.
function socketServer(file, onData, onClient) {
  try { fs.unlinkSync(file); } catch {}
  const server = net.createServer((sock) => {
    onClient(sock);
    sock.on('data', onData);
    sock.on('error', () => {});
    sock.on('close', () => onClient(null, sock));
  });
  server.listen(file);
  return server;
}
if (args['cdc-sock']) {
  socketServer(args['cdc-sock'], (d) => queueInput(d), (sock, gone) => {
    if (sock) { if (cdcClient) cdcClient.destroy(); cdcClient = sock; } else if (cdcClient === gone) cdcClient = null;
  });
}
function writeHost(buf) {
  if (cdcClient) cdcClient.write(Buffer.from(buf));
  if (args.stdin || args['cdc-stdout']) process.stdout.write(Buffer.from(buf));
}

// ---------- scenario / GPIO control ----------
const BEAM_A = 14, BEAM_B = 15, TANK = 13, PUMP = 16, BUZZER = 17;
const inputs = { [BEAM_A]: true, [BEAM_B]: true, [TANK]: false, 1: true }; // idle: beams clear (pulled up), tank has water (0)
function setPin(n, v) { inputs[n] = v; if (mcu) mcu.gpio[n].setInputValue(v); }
function atMs(ms, fn) { const a = sim.clock.createAlarm(fn); a.schedule(ms * 1e6); }
function atNs(ns, fn) { const a = sim.clock.createAlarm(fn); a.schedule(ns); }
// the world's events (walkers, waits) at absolute emulated times, re-armed on every chip reset
const worldEvents = new Set();
function armWorld(w) {
  const a = sim.clock.createAlarm(() => { worldEvents.delete(w); w.fn(); });
  a.schedule(Math.max(0, w.atNs - nowNs()));
}
function atWorldMs(ms, fn) { const w = { atNs: nowNs() + ms * 1e6, fn }; worldEvents.add(w); armWorld(w); }
const events = [];
function ev(s) { const line = `${(nowNs() / 1e6).toFixed(1)}ms ${s}`; events.push(line); if (args['log-events']) log(s); }
function walk(bodyC, dir = 'in', opts = {}) {
  const skin = bodyC - (opts.offset ?? 0.5);
  const first = dir === 'in' ? BEAM_A : BEAM_B, second = dir === 'in' ? BEAM_B : BEAM_A;
  const gap = opts.gap ?? 200, hold = opts.hold ?? 400;
  ev(`walk start body=${bodyC} skin=${skin.toFixed(2)} dir=${dir}`);
  setPin(first, false); mlx.tobj_c = skin;
  atMs(gap, () => setPin(second, false));
  atMs(hold, () => setPin(first, true));
  atMs(gap + hold, () => { setPin(second, true); mlx.tobj_c = mlx.background ?? 22.0; ev('walk end'); });
}
function timelineStep(it) {
  const kind = it[1];
  if (kind === 'pin') setPin(it[2], !!it[3]);
  else if (kind === 'tobj') mlx.tobj_c = it[2];
  else if (kind === 'ambient') mlx.ta_c = it[2];
  else if (kind === 'mark') ev(`mark ${it[2]}`);
  else if (kind === 'uart') queueUartRx(Buffer.from(it[2], 'hex')); // bytes into UART0 RX
}
function runScenario(list) {
  // list: [[delay_ms, body_c, dir], ...] delays relative to the previous walker's start
  let t = 0;
  for (const [d, body, dir] of list) { t += d; atMs(t, () => walk(body, dir || 'in')); }
  return t;
}

// ---------- control socket ----------
const waiters = [];
function handleCommand(line, reply) {
  const p = line.trim().split(/\s+/);
  const c = p[0];
  try {
    switch (c) {
      case 'time': reply(`${nowNs()}`); break;
      case 'stats': reply(JSON.stringify(statsNow())); break;
      case 'temp': mlx.tobj_c = parseFloat(p[1]); reply('ok'); break;
      case 'ambient': mlx.ta_c = parseFloat(p[1]); reply('ok'); break;
      case 'background': mlx.background = parseFloat(p[1]); mlx.tobj_c = mlx.background; reply('ok'); break;
      case 'present': mlx.present = p[1] !== '0'; reply('ok'); break;
      case 'corrupt-pec': mlx.corruptPec = parseInt(p[1] || '1'); reply('ok'); break;
      case 'pin': setPin(parseInt(p[1]), p[2] === '1'); reply('ok'); break;
      case 'get': reply(`${mcu.gpio[parseInt(p[1])].outputValue ? 1 : 0}`); break;
      case 'walk': walk(parseFloat(p[1]), p[2] || 'in'); reply('ok'); break;
      case 'scenario': { // scenario JSON  e.g. [[500,36.6],[1500,38.5,"in"]]
        const total = runScenario(JSON.parse(p.slice(1).join(' ')));
        reply(`ok ${total}`); break;
      }
      case 'wait-ms': { // wait until this much emulated time has passed (reply then)
        const ms = parseFloat(p[1]);
        atWorldMs(ms, () => reply(`ok ${nowNs()}`));
        break;
      }
      case 'uart-rx': queueUartRx(Buffer.from(p.slice(1).join(''), 'hex')); reply('ok'); break;
      case 'timeline': { // timeline JSON [[t_ms, "pin", n, 0|1], [t_ms, "tobj", c], [t_ms, "ambient", c], [t_ms, "uart", hex]]
        const items = JSON.parse(p.slice(1).join(' '));
        let last = 0;
        for (const it of items) { last = Math.max(last, it[0]); atWorldMs(it[0], () => timelineStep(it)); }
        reply(`ok ${last}`); break;
      }
      case 'events': reply(JSON.stringify(events)); break; // one line: a JSON list
      case 'outputs': {
        const o = {};
        for (const n of [PUMP, BUZZER]) o[n] = mcu.gpio[n].outputValue ? 1 : 0;
        reply(JSON.stringify(o)); break;
      }
      case 'regs': {
        const c = mcu.core, r = Array.from(c.registers).map((v) => '0x' + (v >>> 0).toString(16));
        reply(JSON.stringify({ PC: '0x' + (c.PC >>> 0).toString(16), LR: '0x' + (c.LR >>> 0).toString(16), SP: '0x' + (c.SP >>> 0).toString(16), PM: c.PM, waiting: c.waiting, IPSR: c.IPSR, r })); break;
      }
      case 'profile': { // sample the PC for N wall ms: top addresses
        const ms = parseFloat(p[1] || '2000'); const hist = new Map();
        profiler = (pc) => hist.set(pc, (hist.get(pc) || 0) + 1);
        setTimeout(() => { profiler = null; const top = [...hist.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25);
          reply(JSON.stringify(top.map(([a, n]) => ['0x' + a.toString(16), n]))); }, ms);
        break;
      }
      case 'mem': { // mem ADDR LEN -> hex
        const a = parseInt(p[1]), n = parseInt(p[2] || '64'); const out = [];
        for (let i = 0; i < n; i++) out.push(mcu.readUint8(a + i).toString(16).padStart(2, '0'));
        reply(out.join('')); break;
      }
      case 'realtime': {
        REALTIME = p[1] !== '0';
        rtWall0 = performance.now(); rtEmu0 = sim.clock.nanos;
        reply('ok'); break;
      }
      case 'hang': { // the firmware hangs: interrupts off, the core spins on `b .` in SRAM
        const spin = 0x20041ff0; // top of SRAM bank 5 (core 1's stack: unused by MicroPython)
        mcu.writeUint16(spin, 0xe7fe);
        mcu.core.PM = true; mcu.core.PC = spin; mcu.core.waiting = false;
        ev('HANG'); reply('ok'); break;
      }
      case 'save': saveFlash(); reply('ok'); break;
      case 'reset': hardReset('RUN'); reply('ok'); break;
      case 'quit': reply('bye'); shutdown(0); break;
      default: reply(`? ${c}`);
    }
  } catch (e) { reply(`error ${e.message}`); }
}
if (args.ctl) {
  try { fs.unlinkSync(args.ctl); } catch {}
  net.createServer((sock) => {
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i); buf = buf.slice(i + 1);
        if (line.trim()) handleCommand(line, (r) => { if (!sock.destroyed) sock.write(r + '\n'); });
      }
    });
    sock.on('error', () => {});
  }).listen(args.ctl);
}

// ---------- output toggles ----------
const outputLog = [];
function watchOutputs() {
  for (const n of [PUMP, BUZZER]) {
    let last = null;
    mcu.gpio[n].addListener(() => {
      const v = mcu.gpio[n].outputValue ? 1 : 0;
      if (v !== last) { last = v; ev(`GP${n} (${n === PUMP ? 'pump' : 'buzzer'}) -> ${v}`); }
    });
  }
}

// ---------- boot / reset ----------
let flashFd = null;
function saveFlash() {
  if (args['flash-file'] && mcu) fs.writeFileSync(args['flash-file'], mcu.flash.subarray(FS_START, FS_END));
}
// write-through: every erase/program reaches --flash-file at once (a kill is a power cut)
function flashThrough(off, count) {
  if (!args['flash-file']) return;
  const lo = Math.max(off, FS_START), hi = Math.min(off + count, FS_END);
  if (hi <= lo) return;
  if (flashFd === null) flashFd = fs.openSync(args['flash-file'], 'r+');
  fs.writeSync(flashFd, mcu.flash, lo, hi - lo, lo - FS_START);
}
function boot() {
  sim = new Simulator();
  mcu = sim.rp2040;
  mcu.logger = new ConsoleLogger(args.verbose ? LogLevel.Warn : LogLevel.Error);
  mcu.loadBootrom(bootrom); // also resets (flash <- 0xff)
  if (flashImage) mcu.flash.set(flashImage);
  else {
    if (IMAGE.endsWith('.hex')) log('hex bytes', loadHex(IMAGE, mcu.flash));
    else log('uf2 blocks', loadUF2(IMAGE, mcu.flash));
    if (args['flash-file'] && fs.existsSync(args['flash-file'])) {
      mcu.flash.set(fs.readFileSync(args['flash-file']), FS_START);
      log('filesystem image loaded from', args['flash-file']);
    } else saveFlash(); // a new flash file holds the image's filesystem region
  }
  mcu.peripherals[0x40064] = new ChipReset(mcu, 'VREG_AND_CHIP_RESET');
  attachUniqueId(mcu.peripherals[0x18000]);
  mcu.onBreak = (code) => {
    const r = mcu.core.registers;
    if (code === BK_ERASE) {
      const off = r[0] >>> 0, count = r[1] >>> 0;
      mcu.flash.fill(0xff, off, off + count);
      flashThrough(off, count);
      stats.erases++;
      if (args['flash-timing']) { // W25Q16JV typical: 4 KB sector erase 45 ms, 64 KB block 150 ms
        const blocks = (off % 65536 === 0) ? Math.floor(count / 65536) : 0;
        const sectors = Math.ceil((count - blocks * 65536) / 4096);
        const ns = (blocks * 150 + sectors * 45) * 1e6; stats.flashNs = (stats.flashNs || 0) + ns; sim.clock.tick(ns);
      }
    } else if (code === BK_PROGRAM) {
      const off = r[0] >>> 0, data = r[1] >>> 0, count = r[2] >>> 0;
      for (let i = 0; i < count; i++) mcu.flash[off + i] &= mcu.readUint8(data + i);
      flashThrough(off, count);
      stats.programs++;
      if (args['flash-timing']) { // page program typical 0.4 ms per 256 bytes
        const ns = Math.ceil(count / 256) * 0.4e6; stats.flashNs = (stats.flashNs || 0) + ns; sim.clock.tick(ns);
      }
    } else {
      log(`BKPT ${code} at PC=0x${(mcu.core.PC - 2).toString(16)}`);
      if (args['stop-on-bkpt']) shutdown(3);
    }
  };
  const wd = mcu.peripherals[0x40058];
  wd.onWatchdogTrigger = () => {
    // the periodic alarm would fire again and again at the same instant: stop it, reset once
    wd.alarm.enable = false; wd.timer.enable = false;
    if (resetPending) return;
    stats.wdtResets++;
    ev('WATCHDOG RESET');
    log('watchdog fired: resetting the chip');
    if (!args['no-wdt-reset']) { resetPending = true; gen++; setImmediate(() => hardReset('WDT')); }
  };
  attachI2C(mcu.i2c[0]);
  const onTx0 = (b) => {
    if (stats.firstTxChipNs === undefined) stats.firstTxChipNs = sim.clock.nanos;
    uartBytes++;
    if (uartOut) fs.writeSync(uartOut, Buffer.from([b]));
    if (uartClient) uartClient.write(Buffer.from([b]));
    if (args['uart0-stdout']) process.stdout.write(Buffer.from([b]));
  };
  if (args['stock-uart']) mcu.uart[0].onByte = onTx0;
  else { attachUART(mcu.uart[0], onTx0); attachUART(mcu.uart[1], () => {}); }
  for (const [n, v] of Object.entries(inputs)) mcu.gpio[n].setInputValue(v);
  cdc = new USBCDC(mcu.usbCtrl);
  cdc.onDeviceConnected = () => { log('USB CDC connected'); };
  cdc.onSerialData = (value) => writeHost(value);
  // hold the OUT endpoint until the host really has data (like a real host: no ZLP storm)
  mcu.usbCtrl.onEndpointRead = (endpoint, size) => {
    if (endpoint === cdc.outEndpoint) { pendingRead = { endpoint, size }; serviceRead(); }
    else mcu.usbCtrl.endpointReadDone(endpoint, new Uint8Array(0));
  };
  pendingRead = null;
  watchOutputs();
  mcu.core.PC = 0x10000000;
}
function hardReset(reason) {
  resetPending = false;
  stats.firstTxChipNs = undefined;
  flashImage = new Uint8Array(mcu.flash);
  resetReason = reason;
  // WATCHDOG.REASON survives a watchdog reset (machine.reset_cause() reads it), not a RUN-pin one
  const wdReason = reason === 'WDT' ? mcu.peripherals[0x40058].reason : 0;
  running = false;
  emuBaseNs += sim.clock.nanos;
  boot();
  for (const w of worldEvents) armWorld(w);
  uartRxBusy = false; uartRxNext();
  mcu.peripherals[0x40058].reason = wdReason;
  rtWall0 = performance.now(); rtEmu0 = 0;
  running = true;
  gen++;
  setImmediate(() => loop(gen));
}

// ---------- run loop ----------
const CYCLE_NS = 8; // 125 MHz
let running = true;
let profiler = null;
// --realtime: never let emulated time run ahead of wall time (idle WFE/WFI waits are slept
// through instead of skipped), and never catch up more than 100 ms after a busy stretch.
// (`realtime 0|1` on the control socket switches it while running)
let REALTIME = !!args.realtime && args.realtime !== '0';
let rtWall0 = performance.now(), rtEmu0 = 0;
let gen = 0;
function loop(g = gen) {
  if (!running || g !== gen) return;
  const core = mcu.core, clock = sim.clock;
  const t0 = Date.now();
  let cycles = 0, instr = 0, exec = 0, yieldMs = 0;
  outer: do {
    for (let i = 0; i < 20000; i++) {
      if (core.waiting) {
        let dt = clock.nanosToNextAlarm;
        if (dt <= 0) dt = 1000;
        if (REALTIME) {
          const allowed = rtEmu0 + (performance.now() - rtWall0) * 1e6 - clock.nanos;
          if (allowed <= 0) { yieldMs = 1; break outer; }
          if (dt > allowed) dt = allowed;
        }
        clock.tick(dt); cycles += dt / CYCLE_NS;
      } else {
        if (profiler && (i & 63) === 0) profiler(core.PC >>> 0);
        const c = core.executeInstruction();
        clock.tick(c * CYCLE_NS); cycles += c; exec += c; instr++;
      }
    }
  } while (Date.now() - t0 < 25 && running && g === gen);
  stats.instr += instr; stats.cycles += cycles; stats.execCycles += exec;
  if (REALTIME) {
    const wallNs = (performance.now() - rtWall0) * 1e6;
    if (clock.nanos < rtEmu0 + wallNs - 100e6) rtEmu0 = clock.nanos + 100e6 - wallNs;
  }
  if (yieldMs) setTimeout(() => loop(g), yieldMs); else setImmediate(() => loop(g));
}
function statsNow() {
  const wall = (Date.now() - stats.wallStart) / 1000;
  return { emulated_s: +(nowNs() / 1e9).toFixed(3), wall_s: +wall.toFixed(3),
    chip_ms: sim ? +(sim.clock.nanos / 1e6).toFixed(3) : 0, // since the chip's last reset
    // the chip's first UART0 byte since its last reset (the gate's first tick sends its BOOT)
    first_uart0_tx_chip_ms: stats.firstTxChipNs === undefined ? null : +(stats.firstTxChipNs / 1e6).toFixed(3),
    ratio_emulated_per_wall: +((nowNs() / 1e9) / wall).toFixed(4),
    cycles_per_wall_s: Math.round(stats.cycles / wall), executed_cycles: stats.execCycles, executed_instr: stats.instr,
    instr_per_wall_s: Math.round(stats.instr / wall), flash_erases: stats.erases,
    flash_programs: stats.programs, flash_busy_ms: Math.round((stats.flashNs || 0) / 1e6), wdt_resets: stats.wdtResets, i2c_reads: stats.i2cReads,
    tobj_reads: stats.tobjReads || 0, uart0_tx_bytes: uartBytes, reset_reason: resetReason };
}
function shutdown(code) {
  running = false;
  saveFlash();
  log('stats', JSON.stringify(statsNow()));
  for (const f of [args.ctl, args['cdc-sock'], args['uart0-sock']]) { if (f && f !== true) { try { fs.unlinkSync(f); } catch {} } }
  setTimeout(() => process.exit(code), 50);
}
process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));
if (args['stats-every']) setInterval(() => log('stats', JSON.stringify(statsNow())), parseFloat(args['stats-every']) * 1000);
if (args['run-for']) setTimeout(() => shutdown(0), parseFloat(args['run-for']) * 1000);
if (args['stdin']) {
  if (process.stdin.isTTY) process.stdin.setRawMode(true);
  process.stdin.on('data', (d) => queueInput(d));
}
if (args['uart-stdin']) process.stdin.on('data', (d) => queueUartRx(d));
if (args['exit-with-stdin']) { process.stdin.on('end', () => shutdown(0)); process.stdin.on('error', () => shutdown(0)); process.stdin.resume(); }

boot();
log('rom funcs RE=0x' + romFuncs.RE.toString(16) + ' RP=0x' + romFuncs.RP.toString(16));
loop();

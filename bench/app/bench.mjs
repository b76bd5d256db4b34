// The desktop app's own costs, measured on the real app (bench/app/README.md): memory and CPU of
// the running app idle with N tickets on the board, time from "Sign in" (and from a cold start
// that resumes the session from the keychain) to the full board painted, and time to apply a
// burst of events. Run through bench/app/run.sh, which runs this inside tests/e2e/run.sh's
// session (Xvfb, tauri-driver + WebKitWebDriver, private D-Bus, gnome-keyring, demo server).
//
// Times that end "painted" are taken in the page: a frame loop notes the wall clock of the frame
// after the one where the lane header counts first equal what the server has (the same clock as
// this script's, both read on this machine). The app talks to the server through a small TCP
// proxy here that can hold the server's bytes back: that is how a burst arrives all at once.

import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, readlinkSync, realpathSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

import { ADMIN, Api, DEMO_PASSWORD, env, keychainUsers, openApp, until } from '../../tests/e2e/support.mjs';

/** WebKit's compositing as the app runs it (src-tauri/src/rendering.rs decides when not told). */
function compositingMode() {
  if (process.env.WEBKIT_DISABLE_COMPOSITING_MODE === '1') return 'off (WEBKIT_DISABLE_COMPOSITING_MODE=1): WebKit paints on the CPU';
  if (process.env.DESKBELL_COMPOSITING === 'on') return "on (DESKBELL_COMPOSITING=on): OpenGL through Mesa's llvmpipe, Xvfb has no GPU";
  let gpu = false;
  try {
    gpu = readdirSync('/dev/dri').some((n) => n.startsWith('renderD'));
  } catch {
    gpu = false;
  }
  return gpu
    ? "on (the app's choice: a GPU render node is there)"
    : "off (the app's choice: no GPU render node, so WebKit paints on the CPU)";
}

// --- configuration --------------------------------------------------------------------------------

function positiveInts(name, fallback) {
  const raw = process.env[name] ?? fallback;
  const values = raw.split(',').map((s) => s.trim());
  for (const v of values) {
    if (!/^[1-9][0-9]*$/.test(v)) throw new Error(`${name}=${raw}: expected positive integers, comma-separated`);
  }
  return values.map(Number);
}

const config = {
  sizes: positiveInts('BENCH_APP_SIZES', '1000,10000'),
  burst: positiveInts('BENCH_APP_BURST', '1000')[0],
  idleSeconds: positiveInts('BENCH_APP_IDLE_SECONDS', '20')[0],
  settleSeconds: positiveInts('BENCH_APP_SETTLE_SECONDS', '5')[0],
  writers: positiveInts('BENCH_APP_WRITERS', '8')[0],
  rounds: positiveInts('BENCH_APP_ROUNDS', '3')[0],
  out: process.env.BENCH_APP_OUT || env('E2E_SHOTS'),
  profile: process.env.BENCH_APP_PROFILE || 'debug',
};
if (config.burst > Math.min(...config.sizes)) {
  throw new Error(`BENCH_APP_BURST=${config.burst} is larger than the smallest board `
    + `(${Math.min(...config.sizes)}): each event of a burst changes a different ticket`);
}
const TIMEOUT = { ui: 60_000, board: 300_000 };
const app = env('E2E_APP');
const serverUrl = env('E2E_SERVER_URL');
mkdirSync(config.out, { recursive: true });

const log = (msg) => console.log(`bench/app: ${msg}`);

// --- a TCP proxy that can hold back what the server sends ----------------------------------------

class HoldingProxy {
  constructor(target) {
    this.target = new URL(target);
    this.holding = false;
    this.links = new Set();
  }

  async start() {
    this.server = net.createServer((client) => {
      const link = { client, upstream: net.connect(Number(this.target.port), this.target.hostname), held: [] };
      this.links.add(link);
      client.setNoDelay(true);
      link.upstream.setNoDelay(true);
      client.on('data', (chunk) => link.upstream.write(chunk));
      link.upstream.on('data', (chunk) => {
        if (this.holding) link.held.push(chunk);
        else client.write(chunk);
      });
      const close = () => {
        this.links.delete(link);
        client.destroy();
        link.upstream.destroy();
      };
      for (const s of [client, link.upstream]) {
        s.on('close', close);
        s.on('error', close);
      }
    });
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${this.server.address().port}`;
  }

  hold() {
    this.holding = true;
  }

  /** Sends everything held, one write per connection; returns the number of bytes released. */
  release() {
    this.holding = false;
    let bytes = 0;
    for (const link of this.links) {
      if (link.held.length === 0) continue;
      const all = Buffer.concat(link.held);
      link.held = [];
      bytes += all.length;
      link.client.write(all);
    }
    return bytes;
  }

  close() {
    for (const link of this.links) {
      link.client.destroy();
      link.upstream.destroy();
    }
    this.server.close();
  }
}

// --- the app's processes: the shell and the WebKit processes it starts ---------------------------

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
const PAGE_KB = Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).trim()) / 1024;

function procStat(pid) {
  const raw = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which may contain spaces: field k is rest[k - 3].
  const rest = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
  return {
    ppid: Number(rest[1]),
    ticks: Number(rest[11]) + Number(rest[12]),
    startTicks: Number(rest[19]),
    rssKb: Number(rest[21]) * PAGE_KB,
  };
}

function procKb(pid, file, field) {
  const m = readFileSync(`/proc/${pid}/${file}`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  return m ? Number(m[1]) : 0;
}

function kind(pid) {
  const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  if (comm.startsWith('WebKitWebProces')) return 'web';
  if (comm.startsWith('WebKitNetworkPr')) return 'network';
  return comm;
}

/** The app's main process and every descendant, as [{pid, kind}] (main first). The main process
 *  is the one of this session: a descendant of the shell that runs this script (tests/e2e/run.sh
 *  starts tauri-driver, which starts WebKitWebDriver, which starts the app). Not any process of
 *  the same binary: an end-to-end test run at the same time runs the same debug build. */
function appProcesses() {
  const exe = realpathSync(app);
  const parents = new Map();
  const candidates = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      parents.set(pid, procStat(pid).ppid);
      if (readlinkSync(`/proc/${pid}/exe`) === exe) candidates.push(pid);
    } catch { /* gone, or not ours to read */ }
  }
  const ours = (pid) => {
    for (let p = parents.get(pid); p !== undefined && p > 1; p = parents.get(p)) {
      if (p === process.ppid) return true;
    }
    return false;
  };
  const main = candidates.find(ours) ?? null;
  if (main === null) throw new Error(`no running process of ${exe} in this session`);
  const tree = [{ pid: main, kind: 'main' }];
  for (let i = 0; i < tree.length; i++) {
    for (const [pid, ppid] of parents) {
      if (ppid === tree[i].pid) tree.push({ pid, kind: kind(pid) });
    }
  }
  return tree;
}

/** Memory of the app's processes now: RSS and PSS (shared pages split between the processes
 *  that map them, so the sum does not count the shared libraries once per process), and for the
 *  web process where its PSS lies (`pssBreakdown`), to tell a growing JS heap from caches. */
function memory(tree) {
  const by = {};
  let rssKb = 0;
  let pssKb = 0;
  let web = null;
  for (const { pid, kind: k } of tree) {
    try {
      const rss = procKb(pid, 'status', 'VmRSS');
      const pss = procKb(pid, 'smaps_rollup', 'Pss');
      rssKb += rss;
      pssKb += pss;
      by[k] = { rssMb: mb((by[k]?.rssMb ?? 0) * 1024 + rss), pssMb: mb((by[k]?.pssMb ?? 0) * 1024 + pss) };
      if (k === 'web' && web === null) web = pid;
    } catch { /* exited */ }
  }
  const out = { rssMb: mb(rssKb), pssMb: mb(pssKb), by, webKitSharers: webKitSharers(tree) };
  if (web !== null) {
    try {
      out.webPss = pssBreakdown(web);
    } catch { /* exited */ }
  }
  return out;
}

/** Processes outside the app that map WebKitGTK's library now (as "comm:pid"). PSS splits a
 *  shared page between every process mapping it, the app's or not: another WebKit process on the
 *  machine (another app, a test run) lowers the app's PSS by tens of MB. WebKitWebDriver (the
 *  harness) maps it all the time, so it is part of every reading alike. */
function webKitSharers(tree) {
  const ours = new Set(tree.map((p) => String(p.pid)));
  const out = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry) || ours.has(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/maps`, 'utf8').includes('libwebkit2gtk-')) {
        out.push(`${readFileSync(`/proc/${entry}/comm`, 'utf8').trim()}:${entry}`);
      }
    } catch { /* gone, or not ours to read */ }
  }
  return out;
}

/** Where a process's PSS is, in MB: the kernel's split (smaps_rollup: Pss_Anon, Pss_File,
 *  Pss_Shmem) and, from smaps, by kind of mapping — the malloc heap ([heap]), anonymous mmaps
 *  (JavaScriptCore's heap, bmalloc/libpas and large malloc blocks live there: no name), shared
 *  memory (memfd, /dev/shm: WebKit's buffers shared with the other processes), files (code,
 *  fonts, caches) and the rest (stacks, [vvar]…). Reading smaps walks every mapping: a few ms,
 *  taken after the CPU window, never inside it. */
function pssBreakdown(pid) {
  const rollup = (field) => mb(procKb(pid, 'smaps_rollup', field));
  const kb = { heap: 0, anonMmap: 0, shmem: 0, file: 0, other: 0 };
  let where = 'other';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    // A mapping's header: "start-end perms offset dev inode [path]"; its fields follow.
    const header = line.match(/^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/);
    if (header) {
      const path = header[1].trim();
      if (path === '[heap]') where = 'heap';
      else if (path === '' || path.startsWith('[anon:')) where = 'anonMmap';
      else if (path.startsWith('/memfd:') || path.startsWith('/dev/shm/') || path.startsWith('/SYSV')) where = 'shmem';
      else if (path.startsWith('/')) where = 'file';
      else where = 'other';
      continue;
    }
    const pss = line.match(/^Pss:\s+(\d+) kB/);
    if (pss) kb[where] += Number(pss[1]);
  }
  return {
    pssAnonMb: rollup('Pss_Anon'),
    pssFileMb: rollup('Pss_File'),
    pssShmemMb: rollup('Pss_Shmem'),
    ...Object.fromEntries(Object.entries(kb).map(([k, v]) => [`${k}Mb`, mb(v)])),
  };
}

const mb = (kb) => Math.round((kb / 1024) * 10) / 10;

function cpuTicks(tree) {
  const by = {};
  for (const { pid, kind: k } of tree) {
    try {
      by[k] = (by[k] ?? 0) + procStat(pid).ticks;
    } catch { /* exited */ }
  }
  return by;
}

/** CPU ticks of the web process's threads, by thread name ("llvmpipe-1" counts as "llvmpipe"):
 *  tells script and layout (the main thread) from painting (the compositor, llvmpipe). */
function webThreadTicks(tree) {
  const by = {};
  for (const { pid, kind: k } of tree) {
    if (k !== 'web') continue;
    try {
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        try {
          const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim().replace(/-?[0-9]+$/, '');
          by[name] = (by[name] ?? 0) + procStat(`${pid}/task/${tid}`).ticks;
        } catch { /* thread gone */ }
      }
    } catch { /* exited */ }
  }
  return by;
}

/** CPU of the app's processes over `seconds`, in % of one core, total and by process kind. */
async function cpuOver(tree, seconds) {
  const before = cpuTicks(tree);
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, seconds * 1000)); // the measurement window itself
  const after = cpuTicks(tree);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const pct = (ticks) => Math.round((ticks / CLK_TCK / wall) * 1000) / 10;
  const by = {};
  let total = 0;
  for (const k of Object.keys(after)) {
    const d = after[k] - (before[k] ?? 0);
    by[k] = pct(d);
    total += d;
  }
  return { seconds: Math.round(wall * 10) / 10, pct: pct(total), by };
}

/** When the process started, in ms since the epoch (to the clock tick). */
function startedAtMs(pid) {
  const uptimeS = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  const bootMs = Date.now() - uptimeS * 1000;
  return bootMs + (procStat(pid).startTicks / CLK_TCK) * 1000;
}

// --- "never blank": the app's window as the X server has it, from the moment it is mapped -------
//
// The app's top-level window is a child of Xvfb's root window (there is no window manager), so
// `xev -root -event substructure` is told the moment it is mapped (MapNotify). From then on, its
// pixels are read back one capture after the other (`xwd -id <window>`: the X server's
// GetImage, whatever is in the window's drawable — with no compositor, what a screen would show)
// until a capture shows something, and every capture before that is a frame shown blank.

const execFileP = promisify(execFile);

function hasTool(name) {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The tools missing to watch the window (none, normally): xev and xprop come with x11-utils,
 *  xwd with x11-apps (scripts/setup.sh installs both). Without them the run goes on, unjudged. */
const CAPTURE_MISSING = ['xev', 'xprop', 'xwd'].filter((t) => !hasTool(t));
const WINDOW_TITLE = 'Deskbell'; // tauri.conf.json's window title
/** A capture is blank when at most this share of its pixels differ from its most common colour:
 *  one colour (Xvfb's black before anything is drawn, GTK's window background before the webview
 *  draws — #f6f5f4 here —, white, or the page's background before anything is laid out), give or
 *  take a stray pixel or a text caret (96 pixels at 1200×800). A splash line of text, a login
 *  form or a board differ in thousands of pixels. */
const BLANK_MAX_OTHER_SHARE = 0.0001;
/** How long after the map a window may stay blank before the watch gives up on it. */
const BLANK_WATCH_MS = 30_000;
/** A root-window property set to tell when xev listens (its PropertyNotify comes back). */
const READY_ATOM = '_DESKBELL_BENCH_XEV_READY';

/** An XWD dump (X11/XWDFile.h: 25 big-endian 32-bit header fields, the window's name up to
 *  header_size, `ncolors` 12-byte colormap entries, then the rows of pixels in the server's byte
 *  order) → what is on it: the window's name, size, the most common colour and how many pixels
 *  are not that colour. `pixels` reads them back, for `savePng`. */
function parseXwd(buf) {
  const f = (i) => buf.readUInt32BE(i * 4);
  const h = {
    headerSize: f(0), version: f(1), format: f(2), width: f(4), height: f(5), byteOrder: f(7),
    bpp: f(11), bytesPerLine: f(12), red: f(14), green: f(15), blue: f(16), ncolors: f(19),
  };
  if (h.version !== 7 || h.format !== 2 || h.bpp !== 32) {
    throw new Error(`xwd: a dump this parser does not read (version ${h.version}, format ${h.format}, ${h.bpp} bits per pixel)`);
  }
  const name = buf.toString('latin1', 100, h.headerSize).replace(/\0[\s\S]*$/, '');
  const start = h.headerSize + h.ncolors * 12;
  const mask = (h.red | h.green | h.blue) >>> 0;
  // The pixels as 32-bit words: in this machine's byte order and without row padding, all at
  // once (a copy: the dump's pixels need not be 4-byte aligned in `buf`); else one by one.
  const n = h.width * h.height;
  let words;
  if ((h.byteOrder === 0) === (os.endianness() === 'LE') && h.bytesPerLine === h.width * 4) {
    const copy = Buffer.allocUnsafeSlow(n * 4); // its own, aligned memory
    buf.copy(copy, 0, start, start + n * 4);
    words = new Uint32Array(copy.buffer, copy.byteOffset, n);
  } else {
    words = new Uint32Array(n);
    const read = h.byteOrder === 0 ? (o) => buf.readUInt32LE(o) : (o) => buf.readUInt32BE(o);
    for (let y = 0; y < h.height; y++) {
      for (let x = 0; x < h.width; x++) words[y * h.width + x] = read(start + y * h.bytesPerLine + x * 4);
    }
  }
  const pixel = (x, y) => (words[y * h.width + x] & mask) >>> 0;
  // Runs of one colour (most of a blank or nearly blank window) cost one map update each.
  const counts = new Map();
  let prev = n ? (words[0] & mask) >>> 0 : 0;
  let run = 0;
  for (let i = 0; i < n; i++) {
    const p = (words[i] & mask) >>> 0;
    if (p === prev) {
      run += 1;
    } else {
      counts.set(prev, (counts.get(prev) ?? 0) + run);
      prev = p;
      run = 1;
    }
  }
  if (run) counts.set(prev, (counts.get(prev) ?? 0) + run);
  let dominant = 0;
  let most = 0;
  for (const [c, k] of counts) {
    if (k > most) {
      most = k;
      dominant = c;
    }
  }
  const total = n;
  const channel = (c, m) => (m ? Math.round((((c & m) >>> 0) / m) * 255) : 0);
  const rgb = (c) => [channel(c, h.red), channel(c, h.green), channel(c, h.blue)];
  return {
    name,
    width: h.width,
    height: h.height,
    colours: counts.size,
    dominant: `#${rgb(dominant).map((v) => v.toString(16).padStart(2, '0')).join('')}`,
    otherPixels: total - most,
    blank: total === 0 || (total - most) / total <= BLANK_MAX_OTHER_SHARE,
    pixels: { width: h.width, height: h.height, pixel, rgb },
  };
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (buf) => {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};

/** Writes a capture as a PNG (8-bit RGB), for the reader to see what "blank" and "content"
 *  were. Done after the capture loop, never inside it. */
function savePng(path, { width, height, pixel, rgb }) {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1); // filter byte 0 (none), then the row
    for (let x = 0; x < width; x++) {
      const [r, g, b] = rgb(pixel(x, y));
      raw[row + 1 + x * 3] = r;
      raw[row + 2 + x * 3] = g;
      raw[row + 3 + x * 3] = b;
    }
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8 bits, RGB, deflate, no filter, no interlace
  writeFileSync(path, Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0)),
  ]));
}

/** CPU ticks of this script's children that have exited (cutime + cstime: xev, xwd, xprop). */
function childTicks() {
  const rest = readFileSync('/proc/self/stat', 'utf8');
  const f = rest.slice(rest.lastIndexOf(')') + 2).split(' ');
  return Number(f[13]) + Number(f[14]);
}

/** Xvfb's pid: the X server tests/e2e/run.sh started, a sibling of this script (the same parent). */
function xvfbPid() {
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'Xvfb' && procStat(entry).ppid === process.ppid) return Number(entry);
    } catch { /* gone */ }
  }
  return null;
}

/** Watches for the app's window to be mapped, from before the app is launched (`start` returns
 *  once xev listens), then captures it until it shows something: `done()` gives the frames. */
class WindowWatch {
  constructor(label) {
    this.label = label;
    this.maps = []; // every top-level window mapped while watching: {id, override, at}
    this.ready = false;
    this.target = null; // the app's window once a capture of it has its title
    this.others = []; // other windows mapped: {id, override, name | error}
    this.frames = [];
    this.parseCpuUs = 0;
    this.keep = {}; // the pixels of the first capture and of the first one with content
  }

  async start() {
    if (CAPTURE_MISSING.length) return this;
    this.ticks0 = childTicks();
    this.xvfb = xvfbPid();
    this.xvfbTicks0 = this.xvfb ? procStat(this.xvfb).ticks : null;
    this.xevFailures = [];
    this.spawnXev();
    // xev selects its events some time after it starts: a property it is told about proves it
    // listens, so that no map can come before it does. Right after an app has quit, xev has been
    // seen to fail to connect ("unable to open display") while xprop connected: it is started
    // again then (a few times), and each failure is kept in the results.
    let n = 0;
    try {
      await until(async () => {
        if (this.xevGone() && !this.ready && this.xevFailures.length < 5) {
          this.xevFailures.push(`exit ${this.xev.exitCode ?? this.xev.signalCode}: ${this.xevErr.trim().slice(0, 200)}`);
          this.spawnXev();
        }
        if (!this.ready) await execFileP('xprop', ['-root', '-f', READY_ATOM, '8s', '-set', READY_ATOM, String(++n)]);
        return this.ready;
      }, { timeout: 10_000, interval: 50, message: 'xev to listen on the root window' });
    } catch (e) {
      await this.stop();
      throw new Error(`${e.message}; xev ${this.xevGone() ? 'exited' : 'running'}, failures: ${JSON.stringify(this.xevFailures)}`);
    }
    if (this.xevFailures.length) log(`  xev had to be started again: ${this.xevFailures.join('; ')}`);
    return this;
  }

  xevGone() {
    return this.xev.exitCode !== null || this.xev.signalCode !== null;
  }

  spawnXev() {
    const xev = spawn('xev', ['-root', '-event', 'substructure', '-event', 'property'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.xev = xev;
    this.xevErr = '';
    xev.stderr.setEncoding('utf8');
    xev.stderr.on('data', (chunk) => { this.xevErr += chunk; });
    this.exited = new Promise((res) => xev.on('exit', res));
    // xev prints an event as "\n<Name> event, serial …" and then its fields, and flushes each
    // one: read line by line (an event's end is only known when the next one begins, so the
    // line that completes what is needed is acted on at once).
    let text = '';
    let current = null;
    xev.stdout.setEncoding('latin1');
    xev.stdout.on('data', (chunk) => {
      const at = Date.now();
      text += chunk;
      for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n')) {
        const line = text.slice(0, end);
        text = text.slice(end + 1);
        const head = line.match(/^(\w+) event, serial/);
        if (head) current = head[1];
        else if (current) this.onLine(current, line, at);
      }
    });
  }

  onLine(event, line, at) {
    if (event === 'PropertyNotify' && line.includes(`(${READY_ATOM})`)) this.ready = true;
    // MapNotify's second line: "    event 0x<root>, window 0x<mapped>, override NO".
    const m = event === 'MapNotify' && line.match(/event 0x[0-9a-f]+, window (0x[0-9a-f]+), override (YES|NO)/);
    if (!m) return;
    const map = { id: m[1], override: m[2] === 'YES', at };
    this.maps.push(map);
    // Menus and tooltips (override-redirect) are not the app's window; a mapped top-level one
    // is captured at once and is the app's when the capture carries its title.
    if (map.override) this.others.push({ id: map.id, override: true });
    else if (this.target !== null) this.others.push({ id: map.id, override: false, note: "mapped after the app's window" });
    else this.examining = (this.examining ?? Promise.resolve()).then(() => this.examine(map));
  }

  async capture(id) {
    const t0 = Date.now();
    let out;
    try {
      out = (await execFileP('xwd', ['-id', id, '-silent'], { encoding: 'buffer', maxBuffer: 256 << 20 })).stdout;
    } catch (e) {
      return { startMs: t0, endMs: Date.now(), error: (e.stderr?.toString() || e.message).trim().split('\n')[0] };
    }
    const t1 = Date.now();
    const cpu = process.cpuUsage();
    let shot;
    try {
      shot = parseXwd(out);
    } catch (e) {
      shot = { error: e.message };
    }
    const used = process.cpuUsage(cpu);
    this.parseCpuUs += used.user + used.system;
    return { startMs: t0, endMs: t1, ...shot };
  }

  async examine(map) {
    if (this.target !== null) {
      this.others.push({ id: map.id, override: false, note: "mapped after the app's window" });
      return;
    }
    // A capture can fail for a moment as a connection to the X server can (see start): a few
    // tries before the window is given up as not the app's; the failures count as frames.
    const failed = [];
    let first = await this.capture(map.id);
    while (first.error && failed.length < 4 && !this.stopped) {
      failed.push(first);
      first = await this.capture(map.id);
    }
    if (first.error || first.name !== WINDOW_TITLE) {
      this.others.push({ id: map.id, override: false, ...(first.error ? { error: first.error } : { name: first.name }) });
      return;
    }
    this.target = map;
    this.keep.first = first.pixels;
    const record = (shot) => {
      const { pixels, ...rest } = shot;
      this.frames.push({ ...rest, startMs: rest.startMs - map.at, endMs: rest.endMs - map.at });
      return shot;
    };
    for (const f of failed) record(f);
    let shot = record(first);
    // Back to back, one capture at a time: as often as the X server and xwd allow, no more.
    while ((shot.error || shot.blank) && !this.stopped && Date.now() - map.at < BLANK_WATCH_MS) {
      shot = record(await this.capture(map.id));
    }
    if (!shot.error && !shot.blank) this.keep.content = shot.pixels;
  }

  /** Waits for the capture loop to end (something shown, or BLANK_WATCH_MS after the map), stops
   *  xev and returns what was seen. `startedAt`: the app process's start (ms, wall clock). */
  async done(startedAt) {
    if (CAPTURE_MISSING.length) return { notMeasured: `${CAPTURE_MISSING.join(', ')} not installed (scripts/setup.sh: x11-utils, x11-apps)` };
    if (this.startError) return { notMeasured: `the watch could not start: ${this.startError}` };
    // Called once the page is known to be on screen, so its window has been mapped: wait for the
    // examination of every window mapped so far (the app's: its capture loop) to end.
    await until(() => this.examining !== undefined, {
      timeout: TIMEOUT.ui, interval: 50, message: 'a top-level window to be mapped',
    }).catch(() => null);
    for (let p = null; p !== this.examining;) {
      p = this.examining;
      await p;
    }
    await this.stop();
    const cost = {
      // xev, the xwd captures and the xprop calls, as the kernel counts their CPU.
      toolsCpuMs: Math.round(((childTicks() - this.ticks0) * 1000) / CLK_TCK),
      xvfbCpuMs: this.xvfb ? Math.round(((procStat(this.xvfb).ticks - this.xvfbTicks0) * 1000) / CLK_TCK) : null,
      parseCpuMs: Math.round(this.parseCpuUs / 1000),
    };
    if (this.target === null) {
      return { error: `no window titled "${WINDOW_TITLE}" was mapped`, maps: this.maps.length, others: this.others, xevFailures: this.xevFailures, cost };
    }
    // Whose window it is: GTK sets _NET_WM_PID; it must be this session's app (its main process).
    let ownerPid = null;
    try {
      const { stdout } = await execFileP('xprop', ['-id', this.target.id, '_NET_WM_PID']);
      ownerPid = Number(stdout.match(/= (\d+)/)?.[1]) || null;
    } catch { /* gone */ }
    let ownedByApp = false;
    try {
      ownedByApp = ownerPid !== null && ownerPid === appProcesses()[0].pid;
    } catch { /* gone */ }
    const frames = this.frames.map(({ name, width, height, ...f }) => (f.error ? f : { ...f, size: `${width}×${height}` }));
    const firstContent = frames.findIndex((f) => !f.error && !f.blank);
    const captureMs = frames.map((f) => f.endMs - f.startMs);
    for (const [which, px] of Object.entries(this.keep)) {
      try {
        savePng(join(env('E2E_SHOTS'), `window-${this.label}-${which}.png`), px);
      } catch (e) {
        log(`saving the ${which} capture failed: ${e.message}`);
      }
    }
    return {
      window: this.target.id,
      ownerPid,
      ownedByApp,
      mappedAfterStartMs: startedAt ? Math.round(this.target.at - startedAt) : null,
      captures: frames.length,
      blankBeforeContent: firstContent < 0 ? frames.filter((f) => f.blank).length : frames.slice(0, firstContent).filter((f) => f.blank).length,
      failedCaptures: frames.filter((f) => f.error).length,
      // What the first capture that worked showed, and how many failed before it (then the
      // first moments after the map were not seen).
      firstCaptureBlank: frames.find((f) => !f.error)?.blank ?? null,
      failedBeforeFirst: Math.max(0, frames.findIndex((f) => !f.error)),
      contentAfterMs: firstContent < 0 ? null : frames[firstContent].endMs,
      captureMsMean: Math.round(captureMs.reduce((a, b) => a + b, 0) / captureMs.length),
      cost,
      // The first captures in full (a window blank for long would make thousands).
      frames: frames.slice(0, 40),
      framesOmitted: Math.max(0, frames.length - 40),
      otherWindows: this.others,
      xevFailures: this.xevFailures,
    };
  }

  async stop() {
    this.stopped = true;
    if (this.xev && !this.xevGone()) {
      this.xev.kill();
      await this.exited;
    }
  }
}

/** Starts watching for the app's window before a launch (see WindowWatch). */
async function watchWindow(label) {
  const watch = new WindowWatch(label);
  try {
    return await watch.start();
  } catch (e) {
    // The watch is an observer: the launch is still measured, and the report says why the
    // window was not.
    watch.startError = e instanceof Error ? e.message : String(e);
    log(`  window watch for ${label} could not start: ${watch.startError}`);
    return watch;
  }
}

// --- in the page: "the board shows these counts", noted on the frame it is painted ---------------

const SEL = {
  lane: '[data-testid^="lane-"][data-lane-id]',
  laneCount: '[data-testid="lane-count"]',
  card: '[data-testid^="card-"][data-ticket-id]',
};

/** Starts a frame loop in the page that records in `window.__deskbellBench[key].paintedAt` the
 *  wall clock of the first frame after the lanes' header counts equal `want` ({laneKey: count},
 *  laneKey = lane id or "none") and a card is on screen. */
async function watchBoard(browser, key, want) {
  return browser.execute((key, want, sel) => {
    const bench = (window.__deskbellBench ??= {});
    const counts = () => {
      const got = {};
      for (const lane of document.querySelectorAll(sel.lane)) {
        const count = lane.querySelector(sel.laneCount);
        // "total", or "shown/total" while a filter is on.
        if (count) got[lane.getAttribute('data-lane-id')] = Number((count.textContent || '').split('/').pop().replace(/[^0-9]/g, ''));
      }
      return got;
    };
    const holds = () => {
      const got = counts();
      const keys = Object.keys(want);
      return Object.keys(got).length === keys.length && keys.every((k) => got[k] === want[k])
        && document.querySelector(sel.card) !== null;
    };
    const initial = JSON.stringify(counts());
    const entry = { paintedAt: null, firstChangeAt: null, already: holds(), frames: 0, counts };
    bench[key] = entry;
    const frame = () => {
      entry.frames += 1;
      if (entry.firstChangeAt === null && JSON.stringify(counts()) !== initial) entry.firstChangeAt = Date.now();
      if (holds()) {
        requestAnimationFrame(() => { entry.paintedAt = Date.now(); });
      } else {
        requestAnimationFrame(frame);
      }
    };
    requestAnimationFrame(frame);
    return entry.already;
  }, key, want, SEL);
}

/** Waits for `watchBoard(key)` to have seen its board painted; returns {paintedAt,
 *  firstChangeAt} (wall clock, ms; firstChangeAt: the first frame whose counts had changed). */
async function painted(browser, key, timeout) {
  let last = null;
  try {
    return await until(async () => {
      last = await browser.execute((k) => {
        const e = window.__deskbellBench?.[k];
        return e ? { paintedAt: e.paintedAt, firstChangeAt: e.firstChangeAt, frames: e.frames, counts: e.counts() } : null;
      }, key);
      return last?.paintedAt ? last : null;
    }, { timeout, interval: 100, message: `the board "${key}" painted` });
  } catch (e) {
    throw new Error(`${e.message}; the page shows lane counts ${JSON.stringify(last?.counts)} after ${last?.frames} frames`);
  }
}

// --- the server side -------------------------------------------------------------------------------

const admin = new Api(serverUrl);

/** Lane counts as the UI shows them by default ("none" for no lane), for a board snapshot:
 *  closed tickets are hidden unless the user shows them, and the counts count what is shown. */
function laneCounts(board) {
  const counts = { none: 0 };
  for (const lane of board.lanes) counts[String(lane.id)] = 0;
  for (const t of board.tickets) {
    if (t.status !== 'closed') counts[t.laneId == null ? 'none' : String(t.laneId)] += 1;
  }
  return counts;
}

/** Runs `jobs` (functions returning promises) on `width` concurrent writers; `progress(done)`
 *  is told every so often. */
async function runJobs(jobs, width, progress) {
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next++];
      await job();
      done += 1;
      if (progress && done % 1000 === 0) progress(done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, jobs.length) }, worker));
}

const FIRST = ['Ana', 'Ben', 'Chloé', 'Dmitri', 'Eve', 'Farid', 'Grace', 'Hiro', 'Ines', 'Jon', 'Kemal', 'Lena'];
const LAST = ['Novak', 'Okafor', 'Petit', 'Quinn', 'Rossi', 'Sato', 'Tanaka', 'Ueda', 'Vargas', 'Weber'];
const ASKS = [
  'Cannot sign in after password reset', 'Invoice shows the wrong VAT rate', 'Export to CSV times out',
  'Two-factor codes arrive late', 'Refund not received', 'Mobile app crashes on upload',
  'Webhook deliveries failing with 502', 'Need more seats on our plan', 'Dark mode unreadable in reports',
  'Calendar sync duplicates events', 'API rate limit too low for our import', 'Cannot delete old project',
];
const PRIORITIES = ['low', 'normal', 'normal', 'normal', 'high'];

/** Creates tickets until admin sees `size` of them (lanes and assignees spread like a real desk). */
async function seedTo(size) {
  const board = await admin.board();
  const have = board.tickets.length;
  if (have > size) {
    throw new Error(`the board already has ${have} tickets, more than ${size}: list BENCH_APP_SIZES in increasing order, each at least the demo's own tickets`);
  }
  const users = (await admin.request('GET', '/api/users')).body;
  const lanes = [null, ...board.lanes.map((l) => l.id)];
  const assignees = [null, ...users.filter((u) => u.active !== false).map((u) => u.id)];
  const started = Date.now();
  const jobs = Array.from({ length: size - have }, (_, i) => () => {
    const n = have + i;
    const name = `${FIRST[n % FIRST.length]} ${LAST[(n * 7) % LAST.length]}`;
    return admin.createTicket({
      title: `${ASKS[n % ASKS.length]} (#${n})`,
      requester: { name, contact: `${name.split(' ')[0].toLowerCase()}.${n}@example.test` },
      priority: PRIORITIES[n % PRIORITIES.length],
      laneId: lanes[n % lanes.length],
      assigneeId: assignees[(n * 3) % assignees.length],
      message: `Hello, ${ASKS[(n + 3) % ASKS.length].toLowerCase()} since this morning. Can you help?`,
    });
  });
  await runJobs(jobs, config.writers, (done) => log(`  seeding: ${have + done} / ${size}`));
  const now = (await admin.board()).tickets.length;
  if (now !== size) throw new Error(`seeding ended with ${now} tickets on the board, not ${size}`);
  log(`board has ${size} tickets (${size - have} created in ${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

/** A burst: `count` writes on distinct tickets, 70 % moves to another lane and 30 % priority
 *  changes, each one ticket event. Returns the jobs and the lane counts once all are applied. */
function planBurst(board, count, round) {
  const lanes = [null, ...[...board.lanes].sort((a, b) => a.position - b.position).map((l) => l.id)];
  const tickets = [...board.tickets].sort((a, b) => a.id - b.id);
  const after = new Map(tickets.map((t) => [t.id, t.laneId ?? null]));
  const status = new Map(tickets.map((t) => [t.id, t.status]));
  const jobs = [];
  for (let i = 0; i < count; i++) {
    const t = tickets[(i + round * 97) % tickets.length];
    if (i % 10 < 7) {
      const at = lanes.indexOf(t.laneId ?? null);
      const to = lanes[(at + 1 + (i % (lanes.length - 1))) % lanes.length];
      after.set(t.id, to);
      jobs.push(() => admin.moveTicket(t, to));
    } else {
      const priority = t.priority === 'low' ? 'normal' : 'low';
      jobs.push(() => admin.patchTicket(t, { priority }));
    }
  }
  const want = laneCounts({
    lanes: board.lanes,
    tickets: [...after].map(([id, laneId]) => ({ laneId, status: status.get(id) })),
  });
  return { jobs, want };
}

async function checkServerCounts(want, what) {
  const got = laneCounts(await admin.board());
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    throw new Error(`${what}: the server's lane counts ${JSON.stringify(got)} are not the planned ${JSON.stringify(want)} (someone else writing?)`);
  }
}

// --- the scenario ----------------------------------------------------------------------------------

async function waitDisplayed(browser, selector, what) {
  await browser.waitUntil(async () => (await browser.$(selector)).isDisplayed(), {
    timeout: TIMEOUT.ui, interval: 100, timeoutMsg: `${what} never showed`,
  });
}

async function shot(browser, name) {
  try {
    await browser.saveScreenshot(join(env("E2E_SHOTS"), `${name}.png`));
  } catch (e) {
    log(`screenshot ${name} failed: ${e.message}`);
  }
}

async function signIn(browser, proxyUrl, size) {
  await waitDisplayed(browser, '[data-testid="login-email"]', 'the sign-in form');
  const serverField = await browser.$('[data-testid="login-server"]');
  await serverField.clearValue();
  await serverField.setValue(proxyUrl);
  await (await browser.$('[data-testid="login-email"]')).setValue(ADMIN);
  await (await browser.$('[data-testid="login-password"]')).setValue(DEMO_PASSWORD);
  const want = laneCounts(await admin.board());
  if (await watchBoard(browser, 'signin', want)) throw new Error('the board showed before signing in');
  const clickedAt = await browser.execute(() => {
    const at = Date.now();
    document.querySelector('[data-testid="login-submit"]').click();
    return at;
  });
  const at = (await painted(browser, 'signin', TIMEOUT.board)).paintedAt;
  log(`  sign in → ${size} tickets painted: ${at - clickedAt} ms`);
  return at - clickedAt;
}

async function signOut(browser) {
  await (await browser.$('[data-testid="user-menu"]')).click();
  await waitDisplayed(browser, '[data-testid="sign-out"]', 'Sign out');
  await (await browser.$('[data-testid="sign-out"]')).click();
  await until(async () => (await keychainUsers()).length === 0, {
    timeout: TIMEOUT.ui, message: 'the keychain entry to go after signing out',
  });
}

/** CPU time (ms) each kind of app process used between two `cpuTicks` readings. */
function cpuMsBetween(before, after) {
  const out = {};
  for (const k of Object.keys(after)) out[k] = Math.round(((after[k] - (before[k] ?? 0)) * 1000) / CLK_TCK);
  return out;
}

/** For the log: only what used any CPU. */
const busy = (cpuMs) => JSON.stringify(Object.fromEntries(Object.entries(cpuMs).filter(([, ms]) => ms > 0)));

async function burst(browser, proxy, tree, round, held) {
  const board = await admin.board();
  const { jobs, want } = planBurst(board, config.burst, round);
  const key = `burst-${round}`;
  const seqBefore = board.seq;
  let result;
  if (held) {
    proxy.hold();
    const writesStarted = Date.now();
    try {
      await runJobs(jobs, config.writers);
    } catch (e) {
      proxy.release();
      throw e;
    }
    const writesMs = Date.now() - writesStarted;
    await checkServerCounts(want, 'held burst');
    if (await watchBoard(browser, key, want)) {
      proxy.release();
      throw new Error('the board showed the burst while the proxy held it back');
    }
    const ticks = cpuTicks(tree);
    const threads = webThreadTicks(tree);
    const releasedAt = Date.now();
    const bytes = proxy.release();
    const { paintedAt: at, firstChangeAt } = await painted(browser, key, TIMEOUT.board);
    result = {
      events: (await admin.board()).seq - seqBefore,
      paintedAt: at,
      bytes,
      writesMs,
      appliedMs: at - releasedAt,
      firstChangeMs: firstChangeAt - releasedAt,
      cpuMs: cpuMsBetween(ticks, cpuTicks(tree)),
      webThreadsCpuMs: cpuMsBetween(threads, webThreadTicks(tree)),
    };
    log(`  burst of ${result.events} events held back (${(bytes / 1024).toFixed(0)} KiB), then released: first change painted after ${result.firstChangeMs} ms, all after ${result.appliedMs} ms; CPU ms ${busy(result.cpuMs)}, web threads ${busy(result.webThreadsCpuMs)}`);
  } else {
    if (await watchBoard(browser, key, want)) throw new Error('the board showed the burst before it was written');
    const ticks = cpuTicks(tree);
    const threads = webThreadTicks(tree);
    const writesStarted = Date.now();
    await runJobs(jobs, config.writers);
    const lastAck = Date.now();
    await checkServerCounts(want, 'live burst');
    const at = (await painted(browser, key, TIMEOUT.board)).paintedAt;
    result = {
      events: (await admin.board()).seq - seqBefore,
      paintedAt: at,
      writesMs: lastAck - writesStarted,
      appliedMs: at - writesStarted,
      lagAfterLastWriteMs: at - lastAck,
      cpuMs: cpuMsBetween(ticks, cpuTicks(tree)),
      webThreadsCpuMs: cpuMsBetween(threads, webThreadTicks(tree)),
    };
    log(`  burst of ${result.events} events written live in ${result.writesMs} ms: painted ${result.lagAfterLastWriteMs} ms after the last write; CPU ms ${busy(result.cpuMs)}, web threads ${busy(result.webThreadsCpuMs)}`);
  }
  return result;
}

const appGone = () => until(() => { try { appProcesses(); return false; } catch { return true; } }, {
  timeout: TIMEOUT.ui, message: 'the app to exit',
});

/** One round on a board of `size`: launch signed out and sign in, (the first round: idle
 *  CPU and memory), a held and a live burst, quit; cold start with the saved session, sign out. */
async function round(proxy, size, no, out) {
  const r = {};
  let browser = await openApp();
  try {
    r.signInMs = await signIn(browser, proxy.url, size);
    const tree = appProcesses();
    if (no === 1) {
      await shot(browser, `board-${size}`);
      log(`  app processes: ${tree.map((p) => `${p.kind}:${p.pid}`).join(' ')}`);
      await settle(); // start-up work ends
      out.idle = { cpu: await cpuOver(tree, config.idleSeconds), memory: memory(tree) };
      log(`  idle: CPU ${out.idle.cpu.pct} % over ${out.idle.cpu.seconds} s, PSS ${out.idle.memory.pssMb} MB, RSS ${out.idle.memory.rssMb} MB`);
    }
    r.burstHeld = await burst(browser, proxy, tree, no * 2 - 1, true);
    r.burstLive = await burst(browser, proxy, tree, no * 2, false);
    if (no === 1) {
      // Not right after the paint: the burst's garbage and WebKit's post-paint work would make
      // it a reading of the moment. The same settle as before the idle reading, from the paint.
      await settle();
      const at = Date.now();
      out.afterBursts = { memory: memory(tree), msAfterLastBurstPainted: at - r.burstLive.paintedAt };
      log(`  after the bursts (${out.afterBursts.msAfterLastBurstPainted} ms after the last one painted): PSS ${out.afterBursts.memory.pssMb} MB (${signed(out.afterBursts.memory.pssMb - out.idle.memory.pssMb)} MB on idle)`);
      await shot(browser, `after-bursts-${size}`);
    }
  } finally {
    // Ends the app without signing out: the session stays in the keychain.
    await browser.deleteSession().catch(() => {});
  }
  await appGone();

  r.coldStart = await coldStart(size);
  return r;
}

/** Launches the app with a session in the keychain — a cold start: the session resumes and the
 *  board loads — then signs out. With a `watch` (WindowWatch), the window is watched from its map
 *  (`window`). */
async function coldStart(size, watch = null) {
  const want = laneCounts(await admin.board());
  const asked = Date.now();
  const browser = await openApp();
  let out;
  try {
    const sessionAt = Date.now();
    const startedAt = startedAtMs(appProcesses()[0].pid);
    const already = await watchBoard(browser, 'resume', want);
    const at = already ? Date.now() : (await painted(browser, 'resume', TIMEOUT.board)).paintedAt;
    out = {
      processStartToPaintedMs: Math.round(at - startedAt),
      webdriverSessionMs: sessionAt - asked,
      paintedBeforeSessionReady: already,
    };
    log(`  cold start (session from the keychain) → board painted: ${out.processStartToPaintedMs} ms after the process started${already ? ' (at most: painted before WebDriver was ready)' : ''}${watch ? ' (watched: not one of the timed ones)' : ''}`);
    if (watch) {
      out.window = await watch.done(startedAt);
      logWindow(out.window);
    }
    await signOut(browser);
  } finally {
    await browser.deleteSession().catch(() => {});
  }
  await appGone();
  return out;
}

/** A cold start with the window watched (never blank), apart from the timed ones: the capture
 *  loop takes CPU from the starting app (see the report), so it would slow the cold starts it
 *  times. Signs in first, so that the session is in the keychain, as at the end of a round. */
async function watchedColdStart(proxy, size) {
  log(' a watched cold start (never blank)');
  const browser = await openApp();
  try {
    await signIn(browser, proxy.url, size);
  } finally {
    await browser.deleteSession().catch(() => {});
  }
  await appGone();
  const watch = await watchWindow(`cold-start-${size}`);
  try {
    return await coldStart(size, watch);
  } finally {
    await watch.stop();
  }
}

const settle = () => new Promise((res) => setTimeout(res, config.settleSeconds * 1000)); // a measurement's settle time, not a wait for something
const signed = (n) => `${n >= 0 ? '+' : '−'}${Math.abs(Math.round(n * 10) / 10)}`;

function logWindow(w) {
  if (w.notMeasured || w.error) {
    log(`  window: ${w.notMeasured ? `not measured: ${w.notMeasured}` : w.error}`);
    return;
  }
  log(`  window ${w.window} (pid ${w.ownerPid}${w.ownedByApp ? ', the app' : ', NOT the app'}) mapped ${w.mappedAfterStartMs} ms after the process started: `
    + `${w.blankBeforeContent} blank capture(s) before content, content ${w.contentAfterMs ?? 'never'} ms after the map; `
    + `${w.captures} capture(s) of ~${w.captureMsMean} ms; cost: tools ${w.cost.toolsCpuMs} ms CPU, Xvfb ${w.cost.xvfbCpuMs} ms, parsing ${w.cost.parseCpuMs} ms`
    + `${w.otherWindows.length ? `; other windows mapped: ${JSON.stringify(w.otherWindows)}` : ''}`);
}

/** The baseline: the same app (binary, session, compositing) launched signed out and left on its
 *  login screen — what the app costs before it holds any board. Memory and idle CPU are taken as
 *  for the board (`round`): the same settle, the same CPU window, the same functions. */
async function baseline() {
  log('--- baseline: the app signed out, on its login screen');
  const signedIn = await keychainUsers();
  if (signedIn.length) throw new Error(`the keychain holds a session (${signedIn.join(', ')}): the baseline is the signed-out app`);
  const out = {};
  const watch = await watchWindow('baseline');
  try {
    const browser = await openApp();
    try {
      await waitDisplayed(browser, '[data-testid="login-email"]', 'the sign-in form');
      // Displayed is laid out; the frame after the next one is painted.
      await browser.execute(() => {
        window.__deskbellBenchLogin = null;
        requestAnimationFrame(() => requestAnimationFrame(() => { window.__deskbellBenchLogin = Date.now(); }));
      });
      const paintedAt = await until(() => browser.execute(() => window.__deskbellBenchLogin), {
        timeout: TIMEOUT.ui, interval: 50, message: 'the login form painted',
      });
      const tree = appProcesses();
      const startedAt = startedAtMs(tree[0].pid);
      out.loginPaintedMs = Math.round(paintedAt - startedAt);
      out.window = await watch.done(startedAt);
      log(`  login form painted ${out.loginPaintedMs} ms after the process started (at most: seen through WebDriver)`);
      logWindow(out.window);
      await shot(browser, 'baseline-login');
      log(`  app processes: ${tree.map((p) => `${p.kind}:${p.pid}`).join(' ')}`);
      await settle(); // start-up work ends, as before the board's idle reading
      out.idle = { cpu: await cpuOver(tree, config.idleSeconds), memory: memory(tree) };
      out.keychainUsers = (await keychainUsers()).length;
      if (out.keychainUsers) throw new Error('a session appeared in the keychain during the baseline');
      log(`  baseline idle: CPU ${out.idle.cpu.pct} % over ${out.idle.cpu.seconds} s, PSS ${out.idle.memory.pssMb} MB, RSS ${out.idle.memory.rssMb} MB`);
    } finally {
      await browser.deleteSession().catch(() => {});
    }
  } finally {
    await watch.stop();
  }
  await appGone();
  return out;
}

function median(values) {
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : Math.round((v[mid - 1] + v[mid]) / 2);
}

async function measureSize(proxy, size) {
  log(`--- ${size} tickets`);
  await seedTo(size);
  const out = { tickets: size, rounds: [] };
  for (let no = 1; no <= config.rounds; no++) {
    log(` round ${no} / ${config.rounds}`);
    out.rounds.push(await round(proxy, size, no, out));
  }
  out.watchedColdStart = await watchedColdStart(proxy, size);
  const of = (f) => median(out.rounds.map(f));
  out.median = {
    signInMs: of((r) => r.signInMs),
    coldStartMs: of((r) => r.coldStart.processStartToPaintedMs),
    coldStartAtMost: out.rounds.some((r) => r.coldStart.paintedBeforeSessionReady),
    heldFirstChangeMs: of((r) => r.burstHeld.firstChangeMs),
    heldAppliedMs: of((r) => r.burstHeld.appliedMs),
    heldEvents: of((r) => r.burstHeld.events),
    heldKiB: Math.round(of((r) => r.burstHeld.bytes) / 1024),
    liveWritesMs: of((r) => r.burstLive.writesMs),
    liveLagMs: of((r) => r.burstLive.lagAfterLastWriteMs),
  };
  for (const [name, pick] of [['held', (r) => r.burstHeld], ['live', (r) => r.burstLive]]) {
    const split = (r) => {
      const b = pick(r);
      const t = b.webThreadsCpuMs;
      const painting = Object.entries(t)
        .filter(([k]) => /llvmpipe|Skia|Compositor|eadedCompositor/.test(k))
        .reduce((a, [, v]) => a + v, 0);
      const script = t.WebKitWebProces ?? 0;
      return { main: b.cpuMs.main ?? 0, script, painting, otherWeb: (b.cpuMs.web ?? 0) - script - painting };
    };
    out.median[`${name}Cpu`] = Object.fromEntries(['main', 'script', 'painting', 'otherWeb'].map((k) => [k, of((r) => split(r)[k])]));
  }
  return out;
}

// --- the report ------------------------------------------------------------------------------------

function sh(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

function machine() {
  const cpu = os.cpus();
  const dirty = sh('git', ['status', '--porcelain', '--', 'crates', 'src-tauri', 'ui/src']) !== '';
  return {
    cpu: `${cpu.length} × ${cpu[0]?.model ?? 'unknown'}`,
    memoryMb: Math.round(os.totalmem() / 1024 / 1024),
    kernel: os.release(),
    webkitgtk: sh('dpkg-query', ['-W', '-f', '${Version}', 'libwebkit2gtk-4.1-0']),
    commit: sh('git', ['rev-parse', '--short', 'HEAD']) + (dirty ? ' (+ uncommitted changes)' : ''),
    profile: config.profile,
    rustc: sh('rustc', ['--version']),
    display: 'Xvfb 1400×900×24, window 1200×800',
    compositing: compositingMode(),
  };
}

const fmt = (n) => (typeof n === 'number' ? n.toLocaleString('en-US').replace(/,/g, ' ') : String(n));
const round1 = (n) => Math.round(n * 10) / 10;

/** The issue's goals, each judged on this run's numbers. */
const GOAL = { overBaselineMb: 40, growthMb: 10, coldStartMs: 1000 };

/** Every launch whose window was watched: the baseline's and every cold start. */
function launches(results) {
  return [
    { what: 'baseline (signed out → login form)', window: results.baseline.window },
    ...results.sizes.map((s) => ({
      what: `cold start, ${fmt(s.tickets)} tickets (signed in → board)`, window: s.watchedColdStart.window,
    })),
  ];
}

function goals(results) {
  const verdict = (pass) => (pass ? 'pass' : 'fail');
  const base = results.baseline.idle.memory.pssMb;
  const largest = results.sizes.reduce((a, b) => (b.tickets > a.tickets ? b : a));
  const over = round1(largest.idle.memory.pssMb - base);
  const growth = results.sizes.map((s) => ({ tickets: s.tickets, mb: round1(s.afterBursts.memory.pssMb - s.idle.memory.pssMb) }));
  const watched = launches(results);
  const seen = watched.filter((l) => l.window && !l.window.notMeasured && !l.window.error
    && l.window.firstCaptureBlank !== null && l.window.failedBeforeFirst === 0);
  const unseen = watched.length - seen.length;
  const firstNotBlank = seen.filter((l) => l.window.firstCaptureBlank === false).length;
  const maxBlank = Math.max(0, ...seen.map((l) => l.window.blankBeforeContent));
  const cold = results.sizes.map((s) => ({ tickets: s.tickets, ms: s.median.coldStartMs, atMost: s.median.coldStartAtMost }));
  const coldPass = cold.every((c) => c.ms < GOAL.coldStartMs);
  let coldVerdict;
  if (results.config.profile !== 'release') coldVerdict = `not judged: ${results.config.profile} build`;
  else if (!coldPass && cold.some((c) => c.ms >= GOAL.coldStartMs && c.atMost)) coldVerdict = 'not judged: an upper bound (painted before WebDriver was ready) is over the goal';
  else coldVerdict = verdict(coldPass);
  let blankVerdict;
  if (seen.length === 0) blankVerdict = `not judged: ${watched[0].window?.notMeasured ?? watched[0].window?.error ?? 'no launch watched'}`;
  else if (firstNotBlank < seen.length) blankVerdict = 'fail';
  else blankVerdict = unseen ? `pass at the ${seen.length} launches seen (${unseen} not seen)` : 'pass';
  return [
    {
      goal: `Idle PSS at the largest board ≤ baseline + ${GOAL.overBaselineMb} MB`,
      measured: `${signed(over)} MB at ${fmt(largest.tickets)} tickets (${largest.idle.memory.pssMb} MB idle, baseline ${base} MB)`,
      value: over,
      verdict: verdict(over <= GOAL.overBaselineMb),
    },
    {
      goal: `No growth after bursts beyond ${GOAL.growthMb} MB (every size)`,
      measured: growth.map((g) => `${signed(g.mb)} MB at ${fmt(g.tickets)}`).join(', '),
      value: growth,
      verdict: verdict(growth.every((g) => g.mb <= GOAL.growthMb)),
    },
    {
      goal: 'The window never shown blank (the first capture after it is mapped already shows something)',
      measured: seen.length
        ? `first capture not blank at ${firstNotBlank} of ${seen.length} launches; at most ${maxBlank} blank capture(s) before content`
        : '–',
      value: { launches: seen.length, firstCaptureNotBlank: firstNotBlank, maxBlankBeforeContent: maxBlank },
      verdict: blankVerdict,
    },
    {
      goal: `Cold start → board painted < ${fmt(GOAL.coldStartMs)} ms (median, every size, release build)`,
      measured: cold.map((c) => `${fmt(c.ms)} ms${c.atMost ? ' (at most)' : ''} at ${fmt(c.tickets)}`).join(', '),
      value: cold,
      verdict: coldVerdict,
    },
  ];
}

/** Says which memory readings had WebKit processes outside the app sharing its pages (their PSS
 *  is then lower than on a quiet machine), or that none had. */
function sharersNote(results) {
  const readings = [
    ['baseline', results.baseline.idle.memory],
    ...results.sizes.flatMap((s) => [[`${fmt(s.tickets)} idle`, s.idle.memory], [`${fmt(s.tickets)} after bursts`, s.afterBursts.memory]]),
  ].filter(([, m]) => m.webKitSharers?.length);
  if (readings.length === 0) return 'No process outside the app mapped WebKitGTK at any of these readings.\n';
  return `**Not a quiet machine:** processes outside the app mapped WebKitGTK at ${readings.map(([w, m]) => `${w} (${m.webKitSharers.join(', ')})`).join('; ')}: they take a share of its pages, so those PSS readings are lower than alone.\n`;
}

/** One launch's window, for the never-blank table. */
function windowRow({ what, window: w }) {
  if (!w || w.notMeasured || w.error) return `| ${what} | ${w?.notMeasured ? `not measured: ${w.notMeasured}` : (w?.error ?? 'not watched')} | | | | | |`;
  const first = w.frames[0];
  const firstSays = first.error ? `capture failed (${first.error})` : `${first.blank ? 'blank' : 'content'}: ${first.dominant} on ${fmt(Math.round((1 - first.otherPixels / (first.size.split('×').reduce((a, b) => a * b, 1))) * 1000) / 10)} %, ${fmt(first.colours)} colour(s)`;
  const owner = w.ownedByApp ? '' : ' (not the app\'s process!)';
  return `| ${what} | ${fmt(w.mappedAfterStartMs)}${owner} | ${w.blankBeforeContent} | ${firstSays} | ${w.contentAfterMs === null ? `never within ${BLANK_WATCH_MS / 1000} s` : fmt(w.contentAfterMs)} | ${w.captures} (${w.captureMsMean} ms each) | ${w.cost.toolsCpuMs} / ${w.cost.xvfbCpuMs ?? '–'} / ${w.cost.parseCpuMs} |`;
}

function report(results, seconds) {
  const m = results.machine;
  const rows = (f) => results.sizes.map(f).join('\n');
  const kinds = [...new Set(results.sizes.flatMap((s) => Object.keys(s.idle.memory.by)))];
  const b = results.baseline;
  const web = (mem) => mem.webPss;
  const breakdownRow = (what, mem) => {
    const w = web(mem);
    return w ? `| ${what} | ${mem.by.web?.pssMb ?? '–'} | ${w.pssAnonMb} | ${w.pssFileMb} | ${w.pssShmemMb} | ${w.heapMb} | ${w.anonMmapMb} | ${w.shmemMb} | ${w.fileMb} | ${w.otherMb} |` : `| ${what} | – | | | | | | | | |`;
  };
  return `# Desktop app benchmark

Generated by \`bench/app/run.sh\` on ${results.generated} in ${seconds} s. Raw numbers: [\`results.json\`](results.json).
This is a report, not a timed test: the numbers move with the machine and with whatever else runs on it.

## Goals

The issue's goals, judged on this run (the baseline is the same app, in the same run, signed out
on its login screen; how each number is taken is below).

| goal | measured | verdict |
|---|---|---|
${results.goals.map((g) => `| ${g.goal} | ${g.measured} | ${g.verdict.startsWith('not judged') ? g.verdict : `**${g.verdict}**`} |`).join('\n')}

## What is measured

The real app (\`${m.profile}\` build) under Xvfb, driven over WebDriver (tauri-driver +
WebKitWebDriver), signed in as \`admin@acme.test\` (who sees every ticket of the company) to a
demo server seeded to N tickets, on loopback, with a private D-Bus session, gnome-keyring and a
capturing notification server. "The app" is its main process and the processes it starts
(WebKitGTK's web and network processes).

- **Sign in → painted**: from the click on "Sign in" to the frame after the one where every lane
  header shows the server's count (login, token to the keychain, board snapshot over REST, socket
  connected, lanes rendered). Read in the page.
- **Cold start → painted**: from the app process's start (its \`/proc\` start time) to the same
  frame, with the session resumed from the keychain.
- **Idle**: CPU over ${config.idleSeconds} s, ${config.settleSeconds} s after the board showed, connected and Live, nothing
  happening. PSS shares each shared page between the processes mapping it (the honest sum); RSS
  counts shared libraries once per process. Memory is read right after the CPU window. PSS also
  splits WebKitGTK's pages with any process outside the app mapping them (another WebKit app, an
  end-to-end test run): each reading lists such processes (\`webKitSharers\` in
  \`results.json\`), and the memory table below names them when there were any.
- **Baseline**: the same binary in the same session and compositing mode, launched signed out
  (no session in the keychain: checked before the launch and after the reading) and left on its
  login screen, once per run before the boards: from the login form displayed and painted, the
  same ${config.settleSeconds} s settle, then CPU over ${config.idleSeconds} s and memory exactly as for idle (the same
  functions). **Over baseline** = idle PSS − baseline PSS.
- **After bursts**: PSS of the same processes in the first round, ${config.settleSeconds} s after the live burst (the
  second of two) was painted — not in the middle of the burst's garbage collection; the table
  gives the exact delay. **Growth** = PSS after bursts − idle PSS (the idle reading was taken
  before the bursts, on the same app).
- **Never blank**: at the baseline launch and at one more cold start per size (after the rounds:
  sign in, quit, launch with the session in the keychain), \`xev\` on Xvfb's root window
  reports when the app's top-level window is mapped (there is no window manager: it is a child
  of the root window); from then on its pixels are read back one capture after the other
  (\`xwd -id\`, the X server's own copy of the window, parsed here) until one shows something. A
  capture is **blank** when at most ${BLANK_MAX_OTHER_SHARE * 100} % of its pixels (${Math.round(1200 * 800 * BLANK_MAX_OTHER_SHARE)} at 1200×800) differ from
  its most common colour: one colour — Xvfb's black for a window nothing has drawn into, GTK's
  window background (#f6f5f4) before the webview draws, white, or the page's background before
  anything is laid out — give or take a stray pixel or a caret; a line of text, the login form or
  a board differ in thousands. The window is the first mapped
  one whose capture carries the title "${WINDOW_TITLE}", checked to belong to the app's process
  (\`_NET_WM_PID\`); any other window mapped meanwhile is listed in \`results.json\`. The times
  are from the map (as xev reports it) to the end of the first capture with content, so they are
  late by up to one capture. The watch runs while the app starts and takes CPU from it (its cost
  is in the table), so that cold start is not one of the timed ones: the cold-start times are
  taken without it. The first
  capture and the first one with content are saved as \`window-<launch>-first.png\` and
  \`-content.png\` next to the screenshots.
- **Burst, held back**: ${config.burst} ticket events (70 % moves to another lane, 30 % priority
  changes, each on a different ticket) written while a proxy between app and server holds the
  server's bytes back, then released in one write: time from the release to the board painted with
  every move applied (and to the first frame showing any of it). This is the "laptop back on the
  network" case.
- **Burst, live**: the same kind of burst written as fast as ${config.writers} concurrent writers can,
  with the app connected: time from the last write's response to the board painted (how far the
  app lags behind the server).

## Machine

| | |
|---|---|
| CPU | ${m.cpu} (the app, WebKit, the server and the writers share them) |
| Memory | ${m.memoryMb} MB |
| Kernel | Linux ${m.kernel} |
| WebKitGTK | ${m.webkitgtk} |
| Deskbell | commit ${m.commit}, ${m.profile} build, ${m.rustc} |
| Display | ${m.display} |
| WebKit accelerated compositing | ${m.compositing} |

## Results

Each cell is the **median of ${config.rounds} rounds** (a round: launch signed out, sign in, a held
burst, a live burst, quit, cold start, sign out), except idle and memory, taken once in the first
round. Every round's numbers are in the spread table and in \`results.json\`.

| tickets | sign in → painted ms | cold start → painted ms | idle CPU % (of one core) | idle PSS MB | idle RSS MB | burst held: events (bytes) | burst held: first change / all painted, ms after release | burst live: writes ms | burst live: painted, ms after the last write | PSS after bursts MB |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${rows((s) => `| ${fmt(s.tickets)} | ${fmt(s.median.signInMs)} | ${fmt(s.median.coldStartMs)}${s.median.coldStartAtMost ? ' (at most)' : ''} | ${s.idle.cpu.pct} | ${s.idle.memory.pssMb} | ${s.idle.memory.rssMb} | ${fmt(s.median.heldEvents)} (${fmt(s.median.heldKiB)} KiB) | ${fmt(s.median.heldFirstChangeMs)} / ${fmt(s.median.heldAppliedMs)} | ${fmt(s.median.liveWritesMs)} | ${fmt(s.median.liveLagMs)} | ${s.afterBursts.memory.pssMb} |`)}

### Where a burst's CPU goes

CPU time used during the burst (from the release, or the first write, to the board painted) by
the app's main process (the core and the shell: socket, reducer, alert policy, IPC to the
webview), and by the web process's main thread (script, style, layout) versus its painting
threads (llvmpipe — Xvfb has no GPU, so WebKit paints with Mesa's software OpenGL — Skia
workers, the compositor). Medians, ms.

| tickets | burst | main process | web: script + layout | web: painting | web: other |
|---:|---|---:|---:|---:|---:|
${results.sizes.flatMap((s) => [['held', s.median.heldCpu], ['live', s.median.liveCpu]].map(([n, c]) => `| ${fmt(s.tickets)} | ${n} | ${fmt(c.main)} | ${fmt(c.script)} | ${fmt(c.painting)} | ${fmt(c.otherWeb)} |`)).join('\n')}

### Memory against the baseline

The baseline (the app signed out on its login screen, taken once, before the boards): PSS
**${b.idle.memory.pssMb} MB**, RSS ${b.idle.memory.rssMb} MB, idle CPU ${b.idle.cpu.pct} % over ${b.idle.cpu.seconds} s; its login form was painted at
most ${fmt(b.loginPaintedMs)} ms after the process started (seen through WebDriver, so an upper bound).

| tickets | idle PSS MB | over baseline MB | PSS after bursts MB | taken, ms after the last burst painted | growth after bursts MB |
|---:|---:|---:|---:|---:|---:|
| baseline | ${b.idle.memory.pssMb} | – | – | – | – |
${rows((s) => `| ${fmt(s.tickets)} | ${s.idle.memory.pssMb} | ${signed(s.idle.memory.pssMb - b.idle.memory.pssMb)} | ${s.afterBursts.memory.pssMb} | ${fmt(s.afterBursts.msAfterLastBurstPainted)} | ${signed(s.afterBursts.memory.pssMb - s.idle.memory.pssMb)} |`)}

${sharersNote(results)}
### By process (idle)

| tickets | ${kinds.map((k) => `${k}: CPU % / PSS MB / RSS MB`).join(' | ')} |
|---:|${kinds.map(() => '---:').join('|')}|
| baseline (login screen) | ${kinds.map((k) => `${b.idle.cpu.by[k] ?? '–'} / ${b.idle.memory.by[k]?.pssMb ?? '–'} / ${b.idle.memory.by[k]?.rssMb ?? '–'}`).join(' | ')} |
${rows((s) => `| ${fmt(s.tickets)} | ${kinds.map((k) => `${s.idle.cpu.by[k] ?? '–'} / ${s.idle.memory.by[k]?.pssMb ?? '–'} / ${s.idle.memory.by[k]?.rssMb ?? '–'}`).join(' | ')} |`)}

### Where the web process's memory is

PSS of the web process, MB: the kernel's split by kind of page (\`smaps_rollup\`: anonymous,
file-backed, shared memory) and, from \`smaps\`, by kind of mapping — the malloc heap
(\`[heap]\`), anonymous mmaps (JavaScriptCore's heap and WebKit's allocators live there),
shared memory (memfd, /dev/shm: buffers shared with the other processes), mapped files (code,
fonts, and the libraries' written data, which the kernel counts as anonymous pages: why "files"
exceeds "file" and "anon" exceeds the anonymous mappings) and the rest (stacks…). Taken with the
memory readings above.

| reading | PSS | anon | file | shmem | [heap] | anon mmaps | memfd / shm | files | other |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${[breakdownRow('baseline (login screen)', b.idle.memory), ...results.sizes.flatMap((s) => [breakdownRow(`${fmt(s.tickets)} tickets, idle`, s.idle.memory), breakdownRow(`${fmt(s.tickets)} tickets, after bursts`, s.afterBursts.memory)])].join('\n')}

### Never blank

From the window's map to the first capture with content, at each launch watched. "First
capture": what the first capture after the map showed (its most common colour and the share of
pixels in it). Cost: CPU the watch used while the app started — xev + xwd (as the kernel counts
its children) / Xvfb (answering the captures, and whatever else it drew meanwhile) / parsing the
captures here, ms.

| launch | window mapped, ms after the process started | blank captures before content | first capture | content, ms after the map | captures (time each) | cost: tools / Xvfb / parsing, CPU ms |
|---|---:|---:|---|---:|---:|---:|
${launches(results).map(windowRow).join('\n')}

### Spread over the rounds

Round 1 / round 2 / …

| tickets | sign in → painted ms | cold start → painted ms | burst held: all painted ms | burst live: painted after last write ms |
|---:|---|---|---|---|
${rows((s) => `| ${fmt(s.tickets)} | ${s.rounds.map((r) => fmt(r.signInMs)).join(' / ')} | ${s.rounds.map((r) => fmt(r.coldStart.processStartToPaintedMs)).join(' / ')} | ${s.rounds.map((r) => fmt(r.burstHeld.appliedMs)).join(' / ')} | ${s.rounds.map((r) => fmt(r.burstLive.lagAfterLastWriteMs)).join(' / ')} |`)}
`;
}

// --- main ------------------------------------------------------------------------------------------

const started = Date.now();
const proxy = new HoldingProxy(serverUrl);
await proxy.start();
log(`server ${serverUrl}, app reaches it through ${proxy.url}; sizes ${config.sizes.join(', ')}, bursts of ${config.burst}`);
await admin.login(ADMIN);
const results = { generated: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC', config, machine: machine(), sizes: [] };
try {
  results.baseline = await baseline();
  for (const size of [...config.sizes].sort((a, b) => a - b)) {
    results.sizes.push(await measureSize(proxy, size));
    writeFileSync(join(config.out, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  }
} finally {
  proxy.close();
}
const seconds = Math.round((Date.now() - started) / 1000);
results.goals = goals(results);
writeFileSync(join(config.out, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(join(config.out, 'REPORT.md'), report(results, seconds));
for (const g of results.goals) log(`goal: ${g.goal}: ${g.measured} → ${g.verdict}`);
log(`done in ${seconds} s: ${join(config.out, 'REPORT.md')}`);

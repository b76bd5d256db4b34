// A reference Node socket.io 4 server speaking Deskbell's realtime protocol (SPEC.md, "Realtime
// wire protocol"), for crates/client/tests/transport_node.rs and gap_node.rs. Not a Deskbell
// server: no database, fixed tokens, and a small HTTP control API so a test can drive it.
//
//   node server.mjs [--port 0] [--ping-interval 25000] [--ping-timeout 20000]
//
// Prints one line `{"port": N}` on stdout once listening; exits when stdin closes.
//
// Namespaces `/workspace-{id}`, each behind an auth middleware. Tokens (auth.token):
//   "company-{id}"          valid for /workspace-{id}; "forbidden" on any other workspace
//   "expired"               → token_expired
//   anything else / none    → unauthorized
// Any other namespace (root included) → invalid_namespace.
//
// Each workspace keeps an event log, seen by one user: user 2, an agent (see `visible`). On
// connect with a numeric `auth.lastSeq` it replays the visible events after it, in order, then
// emits `company-{id}-sync {mode: "replay", head}`; without one, `{mode: "reset", head}` (head 0
// while nothing is logged).
//
// REST, enough for the client core (Authorization: Bearer company-{id}):
//   POST /api/auth/login                 signs in user 2 of company 1 (token "company-1")
//   GET  /api/board                      the board as user 2 sees it: the fold of the visible
//                                        events (tickets by version, lanes), seq = head
//
// Control API (JSON):
//   POST /emit  {ns, event, data, raw?}  emit to every socket of ns (raw: bypasses socket.io's
//                                          reserved-name check, e.g. to send an event "connect")
//   POST /kick  {ns, close?}             disconnect every socket of ns (close: also the transport)
//   GET  /count?ns=/workspace-1          {sockets: <connected on ns>, clients: <engine.io clients>}
//   POST /event {ns, resource, event, skip?}
//                                        logs a data event (`resource`: ticket, comment, lane…):
//                                        assigns its seq, and, when `event.stream` is set, its
//                                        prevSeq (the stream's previous seq, 0 for none); emits
//                                        it to the sockets of ns that see its stream, unless
//                                        `skip` (deliberately lost live: only a replay brings
//                                        it). Answers {seq, prevSeq, sent}.
//   GET  /connects?ns=/workspace-1       the `auth.lastSeq` of every connect so far (null: none)

import http from "node:http";
import { Server } from "socket.io";

const args = process.argv.slice(2);
function arg(name, fallback) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}

/** ns name → Set of connected sockets */
const sockets = new Map();

/** The one user behind every token: an agent, id 2. */
const ME = { id: 2, name: "Agent Two", email: "agent2@acme.test", role: "agent", active: true };

/** Whether ME receives the events of `stream` (SPEC: a user receives each of their streams
 * whole). Events without a stream are visible. */
function visible(stream) {
  if (stream === undefined || stream === "all") return true;
  const m = /^(assignee|agents-except|only)-(\d+)$/.exec(stream);
  if (!m) return false;
  const user = Number(m[2]);
  return m[1] === "agents-except" ? user !== ME.id : user === ME.id;
}

/** ns name → {head, events: [{name, data}], lastOfStream: Map, connects: [lastSeq|null]} */
const logs = new Map();
function log(ns) {
  if (!logs.has(ns)) logs.set(ns, { head: 0, events: [], lastOfStream: new Map(), connects: [] });
  return logs.get(ns);
}

/** The board ME sees in ns: every visible event folded in seq order. */
function board(ns) {
  const { head, events } = log(ns);
  const lanes = new Map();
  const tickets = new Map();
  for (const { name, data } of events) {
    if (!visible(data.stream)) continue;
    const resource = name.replace(/^company-\d+-/, "");
    if (resource === "lane") {
      if (data.action === "delete") lanes.delete(data.lane.id);
      else lanes.set(data.lane.id, data.lane);
    } else if (resource === "ticket" && data.action === "delete") {
      tickets.delete(data.ticketId ?? data.ticket?.id);
    } else if (data.ticket) {
      const had = tickets.get(data.ticket.id);
      if (!had || had.version < data.ticket.version) tickets.set(data.ticket.id, data.ticket);
    }
  }
  return {
    lanes: [...lanes.values()].sort((a, b) => a.position - b.position || a.id - b.id),
    tickets: [...tickets.values()].sort((a, b) => a.id - b.id),
    seq: head,
  };
}

function json(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let data = "";
    req.on("data", (chunk) => (data += chunk));
    req.on("end", () => {
      try {
        resolve(data ? JSON.parse(data) : {});
      } catch (e) {
        reject(e);
      }
    });
    req.on("error", reject);
  });
}

const httpServer = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, "http://localhost");
    const list = (ns) => [...(sockets.get(ns) ?? [])];
    if (req.method === "POST" && url.pathname === "/emit") {
      const { ns, event, data, raw } = await readBody(req);
      const targets = list(ns);
      for (const socket of targets) {
        if (raw) {
          // Socket#packet is internal; it sets the namespace and sends an EVENT as is.
          socket.packet({ type: 2, data: [event, data] });
        } else {
          socket.emit(event, data);
        }
      }
      return json(res, 200, { sent: targets.length });
    }
    if (req.method === "POST" && url.pathname === "/kick") {
      const { ns, close } = await readBody(req);
      const targets = list(ns);
      for (const socket of targets) socket.disconnect(Boolean(close));
      return json(res, 200, { kicked: targets.length });
    }
    if (req.method === "POST" && url.pathname === "/event") {
      const { ns, resource, event, skip } = await readBody(req);
      const l = log(ns);
      const companyId = Number(ns.slice("/workspace-".length));
      const data = { ...event, seq: ++l.head, companyId };
      if (event.stream !== undefined) {
        data.prevSeq = l.lastOfStream.get(event.stream) ?? 0;
        l.lastOfStream.set(event.stream, data.seq);
      }
      const name = `company-${companyId}-${resource}`;
      l.events.push({ name, data });
      const targets = skip || !visible(event.stream) ? [] : list(ns);
      for (const socket of targets) socket.emit(name, data);
      return json(res, 200, { seq: data.seq, prevSeq: data.prevSeq ?? null, sent: targets.length });
    }
    if (req.method === "GET" && url.pathname === "/connects") {
      return json(res, 200, log(url.searchParams.get("ns") ?? "").connects);
    }
    if (req.method === "POST" && url.pathname === "/api/auth/login") {
      return json(res, 200, {
        accessToken: "company-1",
        refreshToken: "refresh-1",
        expiresIn: 900,
        user: { ...ME, companyId: 1 },
        company: { id: 1, name: "Acme" },
      });
    }
    if (req.method === "GET" && url.pathname === "/api/board") {
      const m = /^Bearer company-(\d+)$/.exec(req.headers.authorization ?? "");
      if (!m) return json(res, 401, { error: { code: "unauthorized", message: "no token" } });
      return json(res, 200, board(`/workspace-${m[1]}`));
    }
    if (req.method === "GET" && url.pathname === "/count") {
      const ns = url.searchParams.get("ns") ?? "";
      return json(res, 200, { sockets: list(ns).length, clients: io.engine.clientsCount });
    }
    json(res, 404, { error: "not found" });
  } catch (e) {
    json(res, 500, { error: String(e) });
  }
});

const io = new Server(httpServer, {
  transports: ["websocket"],
  pingInterval: Number(arg("ping-interval", "25000")),
  pingTimeout: Number(arg("ping-timeout", "20000")),
  maxHttpBufferSize: 1e6,
});

const workspaces = io.of(/^\/workspace-\d+$/);
workspaces.use((socket, next) => {
  const id = Number(socket.nsp.name.slice("/workspace-".length));
  const token = socket.handshake.auth?.token;
  if (typeof token !== "string") return next(new Error("unauthorized"));
  if (token === "expired") return next(new Error("token_expired"));
  const m = /^company-(\d+)$/.exec(token);
  if (!m) return next(new Error("unauthorized"));
  if (Number(m[1]) !== id) return next(new Error("forbidden"));
  socket.data.companyId = id;
  next();
});
workspaces.on("connection", (socket) => {
  const ns = socket.nsp.name;
  if (!sockets.has(ns)) sockets.set(ns, new Set());
  sockets.get(ns).add(socket);
  socket.on("disconnect", () => sockets.get(ns)?.delete(socket));
  const l = log(ns);
  const lastSeq = socket.handshake.auth?.lastSeq;
  const replay = Number.isInteger(lastSeq) && lastSeq >= 0;
  l.connects.push(replay ? lastSeq : null);
  if (replay) {
    for (const { name, data } of l.events) {
      if (data.seq > lastSeq && visible(data.stream)) socket.emit(name, data);
    }
  }
  socket.emit(`company-${socket.data.companyId}-sync`, {
    mode: replay ? "replay" : "reset",
    head: l.head,
  });
});

// Registered after the workspaces, so it only catches what they do not match.
const invalid = (socket, next) => next(new Error("invalid_namespace"));
io.of("/").use(invalid);
io.of(/^\/.*$/).use(invalid);

httpServer.listen(Number(arg("port", "0")), "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: httpServer.address().port }) + "\n");
});

// The test holds our stdin: when it goes away, so do we.
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();

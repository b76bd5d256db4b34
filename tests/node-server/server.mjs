// A reference Node socket.io 4 server speaking Deskbell's realtime protocol (SPEC.md, "Realtime
// wire protocol"), for crates/client/tests/transport_node.rs. Not a Deskbell server: no database,
// fixed tokens, and a small HTTP control API so a test can drive it.
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
// On connect: emits `company-{id}-sync {mode: "reset", head: 0}`.
//
// Control API (JSON):
//   POST /emit  {ns, event, data, raw?}  emit to every socket of ns (raw: bypasses socket.io's
//                                          reserved-name check, e.g. to send an event "connect")
//   POST /kick  {ns, close?}             disconnect every socket of ns (close: also the transport)
//   GET  /count?ns=/workspace-1          {sockets: <connected on ns>, clients: <engine.io clients>}

import http from "node:http";
import { Server } from "socket.io";

const args = process.argv.slice(2);
function arg(name, fallback) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}

/** ns name → Set of connected sockets */
const sockets = new Map();

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
  socket.emit(`company-${socket.data.companyId}-sync`, { mode: "reset", head: 0 });
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

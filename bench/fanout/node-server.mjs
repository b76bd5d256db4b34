// Reference Node socket.io 4 server for the fan-out benchmark (bench/fanout).
//
// It does the same *visible* job as deskbell-server for the benchmark's traffic, and less work:
//   - namespace /workspace-1, websocket transport only, heartbeat 25 s / 20 s, 1 MB payloads;
//   - a namespace auth middleware that accepts one fixed token (no JWT, no database lookup);
//   - on connect: joins the same rooms and emits `company-1-sync {mode: "reset", head}`;
//   - POST /api/tickets builds the same envelope shape as Deskbell and broadcasts it with
//     `nsp.to("members").emit("company-1-ticket", envelope)`. Tickets live in memory only:
//     no database, no transaction, no event log, no per-socket slow-consumer check.
//   - POST /api/auth/login answers the fixed token for any credentials; GET /health.
//
// With --redis-url, several of these processes serve the same clients (bench/cluster): the
// `@socket.io/redis-adapter` carries each broadcast to the other processes' sockets over Redis
// pub/sub, and `seq` is one counter for all of them (Redis INCR), so every socket still sees
// seq 1, 2, 3, … whichever process took the write. Nothing orders deliveries across processes:
// the adapter emits locally at once and the other processes emit when Redis's message reaches
// them, so two writes through two processes can reach a socket in either order (the benchmark
// counts it). No log and no replay either: a message Redis drops is gone.
//
// Usage: node node-server.mjs --port 8090 [--host 127.0.0.1] [--redis-url redis://127.0.0.1:6379]
//                             [--node-name NAME]

import http from "node:http";
import { performance } from "node:perf_hooks";
import { Server } from "socket.io";

// Loaded only with --redis-url (bench/cluster), so the single-process server needs neither.
async function redisAdapter(url) {
  const { createClient } = await import("redis");
  const { createAdapter } = await import("@socket.io/redis-adapter");
  const pubClient = createClient({ url });
  const subClient = pubClient.duplicate();
  for (const c of [pubClient, subClient]) {
    c.on("error", (e) => console.error(`redis: ${e.message ?? e}`));
  }
  await Promise.all([pubClient.connect(), subClient.connect()]);
  return { pubClient, adapter: createAdapter(pubClient, subClient) };
}

const args = process.argv.slice(2);
function arg(name, fallback) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}
const port = Number(arg("port", "8090"));
const host = arg("host", "127.0.0.1");
const redisUrl = arg("redis-url", null);
const nodeName = arg("node-name", `node-${process.pid}`);
const SEQ_KEY = "deskbell-bench:company-1:seq";
const cluster = redisUrl ? await redisAdapter(redisUrl) : null;

const TOKEN = "bench-fixed-token";
const COMPANY_ID = 1;
const ADMIN = { id: 1, companyId: COMPANY_ID, name: "Bench Admin", email: "admin@acme.test", role: "admin", active: true };

let seq = 0;
/// The next seq: this process's counter alone, or the cluster's counter in Redis.
async function nextSeq() {
  return cluster ? Number(await cluster.pubClient.incr(SEQ_KEY)) : ++seq;
}
async function headSeq() {
  return cluster ? Number((await cluster.pubClient.get(SEQ_KEY)) ?? 0) : seq;
}
let nextTicketId = 1;
let received = 0;

/// RFC 3339 with microseconds, like the Rust server's chrono timestamps (Date has only ms).
function nowRfc3339Micros() {
  const us = Math.round((performance.timeOrigin + performance.now()) * 1000);
  const ms = Math.floor(us / 1000);
  const iso = new Date(ms).toISOString(); // 2026-01-02T03:04:05.678Z
  return `${iso.slice(0, 23)}${String(us % 1000).padStart(3, "0")}Z`;
}

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function readJson(req, limit = 1024 * 1024) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (c) => {
      size += c.length;
      if (size > limit) {
        reject(Object.assign(new Error("payload too large"), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}"));
      } catch {
        reject(Object.assign(new Error("invalid JSON"), { status: 400 }));
      }
    });
    req.on("error", reject);
  });
}

function error(res, status, code, message) {
  sendJson(res, status, { error: { code, message } });
}

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, "http://localhost");
    if (req.method === "GET" && url.pathname === "/health") {
      return sendJson(res, 200, {
        status: "ok",
        db: "none",
        version: "node-reference",
        node: nodeName,
        redis: cluster ? (cluster.pubClient.isReady ? "up" : "down") : null,
      });
    }
    if (req.method === "POST" && url.pathname === "/api/auth/login") {
      await readJson(req);
      return sendJson(res, 200, {
        accessToken: TOKEN,
        refreshToken: "unused",
        expiresIn: 900,
        user: ADMIN,
        company: { id: COMPANY_ID, name: "Acme Support" },
      });
    }
    if (req.method === "POST" && url.pathname === "/api/tickets") {
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        return error(res, 401, "unauthorized", "missing or invalid token");
      }
      const body = await readJson(req);
      const title = typeof body.title === "string" ? body.title.trim() : "";
      const requesterName = typeof body?.requester?.name === "string" ? body.requester.name.trim() : "";
      if (!title || !requesterName) {
        return error(res, 422, "validation", "title and requester.name are required");
      }
      const timestamp = nowRfc3339Micros();
      const ticket = {
        id: nextTicketId++,
        companyId: COMPANY_ID,
        title,
        requester: { name: requesterName, contact: body.requester.contact ?? null },
        status: body.status ?? "open",
        priority: body.priority ?? "normal",
        assigneeId: null,
        creatorId: ADMIN.id,
        laneId: null,
        lastMessage: null,
        commentCount: 0,
        createdAt: timestamp,
        updatedAt: timestamp,
        version: 1,
      };
      const envelope = { action: "create", seq: await nextSeq(), companyId: COMPANY_ID, userId: ADMIN.id, timestamp, ticket };
      received++;
      nsp.to("members").emit(`company-${COMPANY_ID}-ticket`, envelope);
      return sendJson(res, 201, ticket);
    }
    return error(res, 404, "not_found", "no such route");
  } catch (e) {
    return error(res, e.status ?? 500, e.status ? "bad_request" : "internal", String(e.message ?? e));
  }
});

const io = new Server(server, {
  ...(cluster ? { adapter: cluster.adapter } : {}),
  transports: ["websocket"],
  pingInterval: 25_000,
  pingTimeout: 20_000,
  maxHttpBufferSize: 1_000_000,
  serveClient: false,
});

// Nothing is served on the main namespace (like Deskbell).
io.of("/").use((_socket, next) => next(new Error("invalid_namespace")));

const nsp = io.of(`/workspace-${COMPANY_ID}`);
nsp.use((socket, next) => {
  if (socket.handshake.auth?.token === TOKEN) {
    next();
  } else {
    next(new Error("unauthorized"));
  }
});
nsp.on("connection", async (socket) => {
  socket.join(["members", `user:${ADMIN.id}`, "role:admin"]);
  // Read after joining: an event committed meanwhile is both in the head and sent live, and
  // the client skips what is not above the head (no writes run while clients connect).
  socket.emit(`company-${COMPANY_ID}-sync`, { mode: "reset", head: await headSeq() });
});

server.listen(port, host, () => {
  console.log(
    `node socket.io ${process.version} reference server ${nodeName} on http://${host}:${port}` +
      (cluster ? ` with the Redis adapter on ${redisUrl}` : ""),
  );
});

function shutdown() {
  console.log(`shutting down after ${received} tickets, ${nsp.sockets.size} sockets connected`);
  io.close();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);

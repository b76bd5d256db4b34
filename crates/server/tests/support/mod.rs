//! Test support: an in-process server on an ephemeral port (SQLite, or PostgreSQL when
//! `DESKBELL_TEST_POSTGRES_URL` is set), a REST helper and a minimal Socket.IO v5 client.
#![allow(dead_code)]

use deskbell_protocol::{LoginResponse, NewTicket, Requester, Ticket};
use deskbell_server::{demo, Config, Server};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

pub const SECRET: &str = "integration-test-secret";
pub const PASSWORD: &str = demo::DEMO_PASSWORD;
pub const WAIT: Duration = Duration::from_secs(10);

pub struct TestServer {
    pub server: Option<Server>,
    pub url: String,
    pub http: reqwest::Client,
    pub data_dir: tempfile::TempDir,
}

pub struct Options {
    pub writes_per_minute: u32,
    pub max_attachment_bytes: usize,
    pub replay_limit: i64,
    pub socket_buffer: usize,
    /// Password hashes at once, and how many may wait (the server's defaults when `None`).
    pub password_checks: Option<(usize, usize)>,
    /// How long an Engine.IO connection may go without a namespace connect (the server's
    /// default when `None`).
    pub connect_timeout: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            writes_per_minute: 0,
            max_attachment_bytes: 64 * 1024,
            replay_limit: 10_000,
            socket_buffer: 4096,
            password_checks: None,
            connect_timeout: None,
        }
    }
}

/// A fresh PostgreSQL database for one test, when the suite runs against PostgreSQL.
pub async fn database_url() -> Option<String> {
    let admin = std::env::var("DESKBELL_TEST_POSTGRES_URL").ok()?;
    use sqlx::{Connection, Executor};
    let name = format!("deskbell_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("connect to DESKBELL_TEST_POSTGRES_URL");
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create test database");
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    Some(format!("{base}/{name}"))
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> TestServer {
        let data_dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config::new(data_dir.path().to_path_buf());
        config.bind = "127.0.0.1:0".parse().unwrap();
        config.jwt_secret = Some(SECRET.into());
        config.database_url = database_url().await;
        config.writes_per_minute = options.writes_per_minute;
        config.max_attachment_bytes = options.max_attachment_bytes;
        config.replay_limit = options.replay_limit;
        config.socket_buffer = options.socket_buffer;
        if let Some(timeout) = options.connect_timeout {
            config.connect_timeout = timeout;
        }
        if let Some((parallel, queue)) = options.password_checks {
            config.password_checks = parallel;
            config.password_check_queue = queue;
        }
        TestServer::start_config(config, data_dir).await
    }

    pub async fn start_config(config: Config, data_dir: tempfile::TempDir) -> TestServer {
        let state = deskbell_server::prepare(config)
            .await
            .expect("prepare server");
        demo::seed(&state).await.expect("seed");
        let server = deskbell_server::serve(state).await.expect("serve");
        TestServer {
            url: server.url(),
            server: Some(server),
            http: reqwest::Client::new(),
            data_dir,
        }
    }

    pub fn server(&self) -> &Server {
        self.server.as_ref().expect("running")
    }

    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    pub async fn login(&self, email: &str) -> LoginResponse {
        let res = self
            .http
            .post(self.api("/api/auth/login"))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "login {email}");
        res.json().await.unwrap()
    }

    /// A sign-in attempt, answered whatever it is.
    pub async fn sign_in(&self, email: &str, password: &str) -> reqwest::Response {
        self.http
            .post(self.api("/api/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let res = self
            .http
            .get(self.api(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        status_json(res).await
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        let res = self
            .http
            .post(self.api(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        status_json(res).await
    }

    pub async fn patch(
        &self,
        token: &str,
        path: &str,
        version: Option<i64>,
        body: Value,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .patch(self.api(path))
            .bearer_auth(token)
            .json(&body);
        if let Some(v) = version {
            req = req.header("If-Match", v.to_string());
        }
        status_json(req.send().await.unwrap()).await
    }

    pub async fn delete(&self, token: &str, path: &str) -> (u16, Value) {
        let res = self
            .http
            .delete(self.api(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        status_json(res).await
    }

    pub async fn create_ticket(&self, token: &str, title: &str, extra: Value) -> Ticket {
        let mut body = serde_json::to_value(NewTicket {
            title: title.into(),
            requester: Requester {
                name: "Req Uester".into(),
                contact: None,
            },
            priority: None,
            status: None,
            assignee_id: None,
            lane_id: None,
            message: None,
        })
        .unwrap();
        if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
            b.extend(e);
        }
        let (status, value) = self.post(token, "/api/tickets", body).await;
        assert_eq!(status, 201, "create ticket: {value}");
        serde_json::from_value(value).unwrap()
    }

    pub async fn connect(&self, ns: &str, auth: Value) -> Result<SioClient, String> {
        SioClient::connect(&self.url, ns, auth).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            // Best effort for tests that end without `stop`.
            drop(server);
        }
    }
}

pub async fn status_json(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, value)
}

/// Asserts a 429 `rate_limited` answer whose message names the limit (`mentions`) and whose
/// Retry-After is whole seconds from 1 to 900; returns the Retry-After.
pub async fn assert_rate_limited(res: reqwest::Response, mentions: &str) -> u64 {
    assert_eq!(res.status(), 429, "not refused by a limit");
    let retry_after: u64 = res
        .headers()
        .get("retry-after")
        .expect("429 without Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=900).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    let (_, body) = status_json(res).await;
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(mentions), "{body}");
    retry_after
}

/// Log output collected in memory (a `tracing_subscriber` writer), for tests that read the log.
#[derive(Clone, Default)]
pub struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// What the minimal client saw.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Event(String, Value),
    /// An ACK packet: its id and arguments.
    Ack(i64, Value),
    /// The server disconnected the namespace (`41`) or closed the transport.
    Closed,
}

/// A minimal Socket.IO v5 client over a websocket, for tests: one namespace, pings answered.
pub struct SioClient {
    rx: mpsc::UnboundedReceiver<Incoming>,
    out: mpsc::UnboundedSender<String>,
    task: tokio::task::JoinHandle<()>,
    pub ns: String,
}

impl SioClient {
    pub async fn connect(base: &str, ns: &str, auth: Value) -> Result<SioClient, String> {
        let ws_url = format!(
            "{}/socket.io/?EIO=4&transport=websocket",
            base.replacen("http", "ws", 1)
        );
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_url)
            .await
            .map_err(|e| format!("ws: {e}"))?;
        let open = tokio::time::timeout(WAIT, ws.next())
            .await
            .map_err(|_| "no open packet")?;
        match open {
            Some(Ok(Message::Text(t))) if t.starts_with('0') => {}
            other => return Err(format!("unexpected open: {other:?}")),
        }
        // The root namespace is implicit in packets: `40{auth}` rather than `40/ns,{auth}`.
        let ns_part = if ns == "/" {
            String::new()
        } else {
            format!("{ns},")
        };
        let connect = if auth.is_null() {
            format!("40{ns_part}")
        } else {
            format!("40{ns_part}{auth}")
        };
        ws.send(Message::text(connect))
            .await
            .map_err(|e| e.to_string())?;
        let prefix_ok = format!("40{ns_part}");
        let prefix_err = format!("44{ns_part}");
        loop {
            let msg = tokio::time::timeout(WAIT, ws.next())
                .await
                .map_err(|_| "no CONNECT answer".to_string())?;
            let text = match msg {
                Some(Ok(Message::Text(t))) => t.to_string(),
                Some(Ok(_)) => continue,
                other => return Err(format!("closed during connect: {other:?}")),
            };
            if text == "2" {
                ws.send(Message::text("3"))
                    .await
                    .map_err(|e| e.to_string())?;
            } else if text.starts_with(&prefix_ok) {
                break;
            } else if let Some(body) = text.strip_prefix(&prefix_err) {
                let v: Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
                return Err(v["message"].as_str().unwrap_or("").to_string());
            } else {
                return Err(format!("unexpected packet during connect: {text}"));
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let (out, mut out_rx) = mpsc::unbounded_channel::<String>();
        let event_prefix = format!("42{ns_part}");
        let ack_prefix = format!("43{ns_part}");
        let disconnect = format!("41{ns_part}");
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    msg = ws.next() => {
                        let text = match msg {
                            Some(Ok(Message::Text(t))) => t.to_string(),
                            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                                let _ = tx.send(Incoming::Closed);
                                return;
                            }
                            Some(Ok(_)) => continue,
                        };
                        if text == "2" {
                            if ws.send(Message::text("3")).await.is_err() {
                                let _ = tx.send(Incoming::Closed);
                                return;
                            }
                        } else if let Some(body) = text.strip_prefix(&event_prefix) {
                            if let Ok(Value::Array(mut parts)) = serde_json::from_str::<Value>(body) {
                                if parts.len() >= 2 {
                                    let data = parts.remove(1);
                                    let name = parts[0].as_str().unwrap_or("").to_string();
                                    let _ = tx.send(Incoming::Event(name, data));
                                }
                            }
                        } else if let Some(body) = text.strip_prefix(&ack_prefix) {
                            let digits: String = body.chars().take_while(char::is_ascii_digit).collect();
                            if let (Ok(id), Ok(args)) = (digits.parse(), serde_json::from_str::<Value>(&body[digits.len()..])) {
                                let _ = tx.send(Incoming::Ack(id, args));
                            }
                        } else if text.starts_with(&disconnect) || text == "1" {
                            let _ = tx.send(Incoming::Closed);
                            return;
                        }
                    }
                    Some(line) = out_rx.recv() => {
                        if ws.send(Message::text(line)).await.is_err() {
                            let _ = tx.send(Incoming::Closed);
                            return;
                        }
                    }
                }
            }
        });
        Ok(SioClient {
            rx,
            out,
            task,
            ns: ns.to_string(),
        })
    }

    /// The next thing that arrives, failing the test after `WAIT`.
    pub async fn next(&mut self) -> Incoming {
        tokio::time::timeout(WAIT, self.rx.recv())
            .await
            .expect("nothing arrived in time")
            .unwrap_or(Incoming::Closed)
    }

    /// The next event, failing the test on a close or after `WAIT`.
    pub async fn next_event(&mut self) -> (String, Value) {
        match self.next().await {
            Incoming::Event(name, data) => (name, data),
            Incoming::Closed => panic!("socket closed while waiting for an event"),
            Incoming::Ack(id, args) => panic!("unexpected ack {id}: {args}"),
        }
    }

    /// Skips events until one named `name` arrives.
    pub async fn wait_for(&mut self, name: &str, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            let (n, data) = self.next_event().await;
            if n == name && pred(&data) {
                return data;
            }
        }
    }

    /// Sends a raw packet (e.g. a client EVENT).
    pub fn send_raw(&self, packet: String) {
        let _ = self.out.send(packet);
    }

    pub fn close(self) {
        self.task.abort();
    }
}

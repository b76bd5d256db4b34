//! What the benchmarks (`bench/fanout`, `bench/client`) share, so that each reads `/proc` and
//! speaks raw Socket.IO one way: [`procfs`] (CPU time, memory and machine CPU from `/proc`) and
//! [`socketio`] (the handshake, receive and frame parsing of a minimal websocket client).
//! What each benchmark measures with them stays in that benchmark.

pub mod procfs;
pub mod socketio;

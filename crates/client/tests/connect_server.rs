//! Sign-in's way to a server ([`Api::connect`]) against real listeners: a Deskbell server, one
//! reached by an address without a scheme, a wrong path under it, a web server that is not
//! Deskbell, and https spoken to a plain-http port. Each failure must be a plain sentence.

use deskbell_client::Api;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

mod support;

/// A plain HTTP server that answers every request with `status_line` and `body`.
async fn other_web_server(status_line: &'static str, body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let reply = format!(
                    "HTTP/1.1 {status_line}\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn an_address_without_a_scheme_reaches_a_local_server() {
    let (server, _dir) = support::start_server("connect-test-secret").await;
    let url = server.url();
    let typed = url.trim_start_matches("http://");
    let api = Api::connect(typed).await.expect("connects");
    assert_eq!(
        api.base_url().as_str().trim_end_matches('/'),
        url.trim_end_matches('/')
    );
    // The address as given works as is.
    Api::connect(&url).await.expect("connects with its scheme");
}

#[tokio::test]
async fn a_wrong_path_names_the_address_that_works() {
    let (server, _dir) = support::start_server("connect-test-secret").await;
    let url = server.url();
    let root = url.trim_end_matches('/');
    let e = Api::connect(&format!("{root}/deskbell"))
        .await
        .err()
        .unwrap();
    assert_eq!(e.code(), "not_deskbell");
    let text = e.to_string();
    assert!(
        text.contains(&format!(
            "{root}/deskbell is not a Deskbell address, but {root} is"
        )),
        "{text}"
    );
}

#[tokio::test]
async fn a_web_server_that_is_not_deskbell_is_named_as_such() {
    let other = other_web_server("501 Not Implemented", "<h1>Not here</h1>").await;
    let e = Api::connect(&other).await.err().unwrap();
    assert_eq!(e.code(), "not_deskbell");
    let text = e.to_string();
    assert!(
        text.contains("answered with HTTP 501 Not Implemented: it is not a Deskbell server"),
        "{text}"
    );
    let page = other_web_server("200 OK", "<html>Welcome to nginx!</html>").await;
    let e = Api::connect(&page).await.err().unwrap();
    assert_eq!(e.code(), "not_deskbell");
    assert!(
        e.to_string().contains("with a page that is not Deskbell's"),
        "{e}"
    );
}

#[tokio::test]
async fn https_to_a_plain_http_port_is_a_tls_failure_said_plainly() {
    let (server, _dir) = support::start_server("connect-test-secret").await;
    let https = server.url().replacen("http://", "https://", 1);
    let e = Api::connect(&https).await.err().unwrap();
    assert_eq!(e.code(), "tls");
    assert!(
        e.to_string()
            .contains("the server does not speak https at this address"),
        "{e}"
    );
}

#[tokio::test]
async fn nothing_listening_is_a_network_failure() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let e = Api::connect(&format!("http://{addr}")).await.err().unwrap();
    assert_eq!(e.code(), "network");
}

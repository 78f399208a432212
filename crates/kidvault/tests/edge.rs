//! The HTTP edge against clients that stall, trickle, lie or cut out, through
//! the real server on raw sockets: nothing is held forever, nothing partial is
//! stored, and every refusal is the documented JSON error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A server whose deadlines are short enough for a test.
async fn quick_app(per_address: usize) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(dir.path());
    config.http.header_timeout_secs = 1;
    config.http.body_idle_timeout_secs = 1;
    config.http.body_grace_secs = 1;
    config.http.body_min_bytes_per_sec = 200;
    config.http.max_connections_per_address = per_address;
    start_with(dir, &config).await
}

fn addr(app: &TestApp) -> SocketAddr {
    app.base.trim_start_matches("http://").parse().unwrap()
}

/// A connection to the server from loopback address `from` (127.0.0.0/8 is all local).
async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(to).await.unwrap()
}

/// Everything the server sends until it closes (bounded: a server that holds the
/// connection fails the test instead of hanging it).
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut out))
        .await
        .expect("the server held the connection open")
        .ok();
    String::from_utf8_lossy(&out).into_owned()
}

/// The status and JSON body of a raw HTTP/1.1 response.
fn parse(raw: &str) -> (u16, Value) {
    let status = raw.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_connections_are_closed_and_never_crowd_out_others() {
    let app = quick_app(50).await;
    let to = addr(&app);

    // 1,500 clients on one address start a request and never finish its headers.
    let mut stalled = Vec::new();
    for _ in 0..1_500 {
        let mut s = connect_from([127, 0, 0, 2], to).await;
        let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: kidvault\r\nX-Slow: ").await;
        stalled.push(s);
    }
    // Everyone else is served meanwhile.
    for _ in 0..20 {
        let resp = app.http.get(format!("{}/healthz", app.base)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let (s, _) = app.get("/children", &app.guardian("ana@example.org").await).await;
    assert_eq!(s, StatusCode::OK);

    // Each stalled connection ends: the ones over the address's limit at once,
    // the others when their header deadline passes. None answers 200.
    let closes = stalled.iter_mut().map(read_to_close);
    let replies = futures::future::join_all(closes).await;
    assert!(replies.iter().all(|r| !r.contains("200 OK")));

    // Their slots are free again: the same address is served.
    let mut s = connect_from([127, 0, 0, 2], to).await;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: kidvault\r\nConnection: close\r\n\r\n").await.unwrap();
    let (status, body) = parse(&read_to_close(&mut s).await);
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
}

/// Sends a recording upload whose body is `sent` of a declared `declared` bytes,
/// then either stalls (`close_write: false`) or stops sending (`true`).
async fn partial_upload(
    app: &TestApp,
    child: &str,
    device: &str,
    declared: usize,
    sent: &[u8],
    close_write: bool,
) -> (u16, Value) {
    let mut s = TcpStream::connect(addr(app)).await.unwrap();
    let head = format!(
        "POST /api/v1/children/{child}/recordings HTTP/1.1\r\nHost: kidvault\r\nAuthorization: Bearer {device}\r\n\
         Content-Type: audio/wav\r\nContent-Length: {declared}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(sent).await.unwrap();
    if close_write {
        s.shutdown().await.unwrap();
    }
    parse(&read_to_close(&mut s).await)
}

#[tokio::test]
async fn a_body_that_stalls_trickles_or_stops_short_is_refused_and_nothing_is_stored() {
    let app = quick_app(64).await;
    let (g, child, device) = household(&app, "ana@example.org").await;
    let (wav, _) = wav(1.0, 7);

    // Promises 1,000 bytes, sends 10, then nothing: 408 after the idle deadline.
    let (status, body) = partial_upload(&app, &child, &device, 1_000, &wav[..10], false).await;
    assert_eq!((status, body["error"]["code"].as_str()), (408, Some("body_timeout")), "{body}");

    // Sends the whole recording one byte every 100 ms (10 B/s, under the
    // 200 B/s minimum): refused once the grace period is over.
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    let head = format!(
        "POST /api/v1/children/{child}/recordings HTTP/1.1\r\nHost: kidvault\r\nAuthorization: Bearer {device}\r\n\
         Content-Type: audio/wav\r\nContent-Length: {}\r\n\r\n",
        wav.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let trickle = async {
        for b in &wav {
            if s.write_all(std::slice::from_ref(b)).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    // The server answers (and closes) long before the trickle could finish.
    let _ = tokio::time::timeout(Duration::from_secs(5), trickle).await;
    let (status, body) = parse(&read_to_close(&mut s).await);
    assert_eq!((status, body["error"]["code"].as_str()), (408, Some("body_timeout")), "{body}");

    // Cut short: the client stops sending after half of what it declared.
    let (status, body) = partial_upload(&app, &child, &device, wav.len(), &wav[..wav.len() / 2], true).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("incomplete_body")), "{body}");

    // None of the three left anything behind; a whole upload still works.
    let (s, list) = app.get(&format!("/children/{child}/items"), &g).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 0, "{list}");
    let (s, _) = app.upload(&child, &device, wav, Some("audio/wav")).await;
    assert_eq!(s, StatusCode::CREATED);
}

#[tokio::test]
async fn every_refusal_is_the_documented_json_and_child_data_is_never_cached() {
    let app = spawn_app().await;
    let (g, child, device) = household(&app, "ana@example.org").await;
    let (wav, _) = wav(1.0, 3);
    let (s, rec) = app.upload(&child, &device, wav, Some("audio/wav")).await;
    assert_eq!(s, StatusCode::CREATED);
    let item = rec["item_id"].as_str().unwrap().to_owned();

    // A method the resource does not have: 405 with the JSON error and Allow.
    let resp = app.http.patch(app.url("/children")).bearer_auth(&g).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(resp.headers().get("allow").is_some(), "{:?}", resp.headers());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");

    // An id that is not UTF-8 once decoded names nothing.
    let resp = app.http.get(app.url("/items/%FF%FE")).bearer_auth(&g).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");

    // Child data: never stored by a cache, never sniffed.
    for path in [format!("/children/{child}"), format!("/children/{child}/items"), format!("/items/{item}")] {
        let resp = app.http.get(app.url(&path)).bearer_auth(&g).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(resp.headers()["cache-control"], "no-store", "{path}");
        assert_eq!(resp.headers()["x-content-type-options"], "nosniff", "{path}");
    }
    // Every response is nosniff, errors included.
    let resp = app.http.get(app.url("/nothing-here")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
}

/// The real binary with its data directory on a small filesystem of its own
/// (tmpfs, mounted in a private mount namespace: no privileges needed).
fn run_binary_on_small_disk(root: &std::path::Path, megabytes: u32) -> Proc {
    let data = root.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let config = root.join("kidvault.toml");
    std::fs::write(&config, "storage_reserve_mib = 2\n").unwrap();
    let mut cmd = std::process::Command::new("unshare");
    // Root needs no user namespace; anyone else maps themselves to root in one.
    let root_user = std::process::Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    if !root_user {
        cmd.args(["--user", "--map-root-user"]);
    }
    cmd.args(["--mount", "sh", "-c", &format!("mount -t tmpfs -o size={megabytes}m tmpfs \"$0\" && exec \"$@\"")])
        .arg(&data)
        .arg(env!("CARGO_BIN_EXE_kidvault"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .arg("--key-file")
        .arg(root.join("keys/root.key"))
        .arg("--config")
        .arg(&config)
        .env("KIDVAULT_LOG", "warn");
    spawn_serving(cmd)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_collection_with_507_and_reads_exports_and_deletions_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = run_binary_on_small_disk(dir.path(), 12);
    let app = TestApp::attach(&server.base, dir);
    let (g, child, device) = household(&app, "ana@example.org").await;
    let (healthy, _) = TestApp::send(app.http.get(format!("{}/healthz", app.base))).await;
    assert_eq!(healthy, StatusCode::OK);

    // Recordings until the disk is full: the first refusal is 507, never a 500.
    let mut stored = Vec::new();
    let refusal = loop {
        assert!(stored.len() < 2_000, "a 12 MiB disk never filled");
        let (s, body) = app.upload(&child, &device, wav(1.0, stored.len() as u32).0, Some("audio/wav")).await;
        if s != StatusCode::CREATED {
            break (s, body);
        }
        stored.push(body["item_id"].as_str().unwrap().to_owned());
    };
    assert_eq!(refusal.0, StatusCode::INSUFFICIENT_STORAGE, "{}", refusal.1);
    assert_eq!(refusal.1["error"]["code"], "insufficient_storage");
    assert!(stored.len() > 20, "only {} recordings fit", stored.len());

    // /healthz says so; new collection is refused up front.
    let (s, health) = TestApp::send(app.http.get(format!("{}/healthz", app.base))).await;
    assert_eq!(
        (s, health["status"].as_str(), health["storage"].as_str()),
        (StatusCode::OK, Some("degraded"), Some("full"))
    );
    let (s, body) = app.upload(&child, &device, wav(0.2, 1).0, Some("audio/wav")).await;
    assert_eq!((s, body["error"]["code"].as_str()), (StatusCode::INSUFFICIENT_STORAGE, Some("insufficient_storage")));

    // What a parent needs goes on: the list, playback, the export (each a
    // recorded access), and a deletion to its receipt.
    let (s, list) = app.get(&format!("/children/{child}/items"), &g).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let audio = fetch(&app.http, app.url(&format!("/items/{}/content", stored[0])), &g).await;
    assert_eq!(audio.status(), StatusCode::OK);
    assert_eq!(audio.bytes().await.unwrap(), wav(1.0, 0).0);
    let export = fetch(&app.http, app.url(&format!("/children/{child}/export")), &g).await;
    assert_eq!(export.status(), StatusCode::OK);
    let zip = export.bytes().await.unwrap();
    assert!(zip.windows(4).any(|w| w == b"PK\x05\x06"), "the export is whole, end record included");
    let (s, accepted) = app.delete(&format!("/items/{}", stored[1]), &g).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{accepted}");
    let done = await_deletion(&app, &g, accepted["deletion_id"].as_str().unwrap()).await;
    assert_eq!(done["step"], "completed");
    drop(server);
}

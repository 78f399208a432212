//! The connection edge: the accept loop that serves the router, with the limits
//! that keep slow and stalled clients from holding the server.
//!
//! - A client must send a request's headers within `header_timeout_secs`
//!   (hyper's header-read timeout; a connection that never finishes them
//!   closes). The same timer ends a keep-alive connection left idle that long:
//!   clients should let go of idle connections sooner.
//! - A request body must keep arriving: no gap longer than
//!   `body_idle_timeout_secs`, and after `body_grace_secs` at least
//!   `body_min_bytes_per_sec` on average. A body that falls behind ends with
//!   [`BodyTimeout`], which the extractors answer with `408 body_timeout`
//!   (nothing is stored: the handler never sees a partial body).
//! - One address holds at most `max_connections_per_address` connections at
//!   once; further ones are closed at accept, so one client cannot take every
//!   socket while others (and `/healthz`) are served.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// Limits on what a client may hold (configuration table `[http]`).
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct EdgeLimits {
    /// A request's start line and headers must arrive within this many seconds.
    pub header_timeout_secs: u64,
    /// The longest gap allowed between two pieces of a request body.
    pub body_idle_timeout_secs: u64,
    /// How long a body may take before the minimum rate applies.
    pub body_grace_secs: u64,
    /// The average rate a body must keep after the grace period.
    pub body_min_bytes_per_sec: u64,
    /// Connections one address may hold open at once.
    pub max_connections_per_address: usize,
}

impl Default for EdgeLimits {
    fn default() -> Self {
        Self {
            // Also how long an idle keep-alive connection is kept (hyper starts
            // the header timer when it waits for the next request).
            header_timeout_secs: 30,
            body_idle_timeout_secs: 20,
            body_grace_secs: 10,
            // A 10 MB recording may take up to ~20 minutes: far slower than any
            // device's uplink, far faster than a client holding a slot on purpose.
            body_min_bytes_per_sec: 8 * 1024,
            // Generous for a school or a family behind one NAT address.
            max_connections_per_address: 256,
        }
    }
}

/// A request body fell behind the limits (see the module docs).
#[derive(Debug)]
pub struct BodyTimeout;

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body arrived too slowly")
    }
}

impl std::error::Error for BodyTimeout {}

/// True when `err` (or anything it wraps) is a [`BodyTimeout`].
pub fn is_body_timeout(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if e.is::<BodyTimeout>() {
            return true;
        }
        cur = e.source();
    }
    false
}

/// A request body read under the idle and minimum-rate deadlines.
struct TimedBody {
    inner: Incoming,
    started: Instant,
    received: u64,
    idle: Duration,
    grace: Duration,
    min_rate: u64,
    deadline: Pin<Box<Sleep>>,
}

impl TimedBody {
    fn new(inner: Incoming, limits: &EdgeLimits) -> Self {
        let now = Instant::now();
        let idle = Duration::from_secs(limits.body_idle_timeout_secs.max(1));
        let grace = Duration::from_secs(limits.body_grace_secs);
        let deadline = Box::pin(tokio::time::sleep_until(now + idle));
        let mut body =
            Self { inner, started: now, received: 0, idle, grace, min_rate: limits.body_min_bytes_per_sec, deadline };
        body.reset(now);
        body
    }

    /// The next deadline: the idle gap from now, or the moment the average
    /// rate would fall under the minimum, whichever comes first.
    fn reset(&mut self, now: Instant) {
        let mut at = now + self.idle;
        if self.min_rate > 0 {
            let earned = Duration::from_secs_f64(self.received as f64 / self.min_rate as f64);
            at = at.min(self.started + self.grace + earned);
        }
        self.deadline.as_mut().reset(at);
    }
}

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                }
                this.reset(Instant::now());
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(axum::Error::new(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(BodyTimeout)))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Open connections per address; a slot gives its place back when dropped.
#[derive(Default)]
struct Slots(Mutex<HashMap<IpAddr, usize>>);

struct Slot {
    slots: Arc<Slots>,
    ip: IpAddr,
}

impl Slots {
    fn take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<Slot> {
        let mut open = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = open.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot { slots: Arc::clone(self), ip })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.slots.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting
/// and waits for the open connections' requests to finish (a stalled one ends
/// at its deadline).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: EdgeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(limits.header_timeout_secs.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(Slots::default());
    let limits = Arc::new(limits);
    tokio::pin!(shutdown);
    loop {
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept:
                    // keep serving the connections already open.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = slots.take(addr.ip(), limits.max_connections_per_address) else {
            tracing::debug!(%addr, "connection refused: too many from this address");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let limits = Arc::clone(&limits);
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let (mut parts, body) = req.into_parts();
            parts.extensions.insert(ConnectInfo::<SocketAddr>(addr));
            let req = hyper::Request::from_parts(parts, Body::new(TimedBody::new(body, &limits)));
            app.clone().oneshot(req)
        });
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _ = conn.await;
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

//! The answers: `GET /metrics` (and `HEAD`), a small landing page at `/`, 404 for other
//! paths, 405 for other methods, 401 without the right credentials when the web
//! configuration has users. Each answer is a prepared [`super::render::Exposition`] (each
//! format and encoding written once), so a scrape costs no /proc walk and never waits on the
//! probe's reader; it is sent in slices of the shared body ([`Chunks`]), so that a client
//! that reads slowly holds a bounded buffer, and a response not taken within
//! [`RESPONSE_TIMEOUT`] ends its connection.
use std::{
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use hyper::{
    body::{Body, Bytes, Frame, SizeHint},
    header::{self, HeaderName, HeaderValue},
    Method, Request, Response, StatusCode,
};

use super::{
    auth::Auth,
    encode::{Encoding, Format},
    Latest,
};

/// A whole response must be taken within this.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);
/// The slices a body is sent in.
const CHUNK: usize = 64 << 10;

const LANDING: &str = "<!doctype html>\n<html><head><title>ipctop</title></head><body>\n\
<h1>ipctop exporter</h1>\n\
<p>System V IPC (semaphores, shared memory, message queues) of this machine, as seen by \
ipctop's eBPF probe and /proc.</p>\n\
<p><a href=\"/metrics\">/metrics</a> (Prometheus text or OpenMetrics, by Accept header)</p>\n\
</body></html>\n";

/// A response body: slices of one shared buffer, with a deadline.
#[derive(Debug)]
pub struct Chunks {
    data: Bytes,
    deadline: Instant,
}

impl Chunks {
    pub fn new(data: Bytes) -> Self {
        Self {
            data,
            deadline: Instant::now() + RESPONSE_TIMEOUT,
        }
    }
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.data.is_empty() {
            return Poll::Ready(None);
        }
        if Instant::now() > self.deadline {
            return Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the response was not taken in time",
            ))));
        }
        let n = self.data.len().min(CHUNK);
        let chunk = self.data.split_to(n);
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.len() as u64)
    }
}

/// Requests answered, per status code (the ones [`respond`] gives).
const CODES: [u16; 5] = [200, 401, 404, 405, 500];

/// Why ipctop closed a connection itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    /// A request's headers (the first, or the next on a kept-alive connection) did not
    /// come in time: idle and slow clients alike.
    HeaderTimeout,
    /// The response was not taken in time.
    WriteTimeout,
    /// The client had too many connections: its oldest went.
    PeerLimit,
    /// Too many connections in all: the oldest of the client with the most went.
    TotalLimit,
    /// The TLS handshake failed or did not finish in time.
    Tls,
}

impl Closed {
    pub const ALL: [Closed; 5] = [
        Closed::HeaderTimeout,
        Closed::WriteTimeout,
        Closed::PeerLimit,
        Closed::TotalLimit,
        Closed::Tls,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Closed::HeaderTimeout => "header_timeout",
            Closed::WriteTimeout => "write_timeout",
            Closed::PeerLimit => "peer_limit",
            Closed::TotalLimit => "total_limit",
            Closed::Tls => "tls",
        }
    }
}

/// The HTTP side's own counts, for the exposition.
#[derive(Debug, Default)]
pub struct HttpStats {
    pub open: AtomicU64,
    closed: [AtomicU64; Closed::ALL.len()],
    requests: [AtomicU64; CODES.len()],
}

impl HttpStats {
    pub fn closed(&self, why: Closed) {
        self.closed[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    fn answered(&self, status: StatusCode) {
        if let Some(i) = CODES.iter().position(|&c| c == status.as_u16()) {
            self.requests[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Fills the HTTP part of `me`.
    pub fn fill(&self, me: &mut super::metrics::SelfStats) {
        me.connections = self.open.load(Ordering::Relaxed);
        me.closed = Closed::ALL
            .iter()
            .map(|&c| (c.as_str(), self.closed[c as usize].load(Ordering::Relaxed)))
            .collect();
        me.requests = CODES
            .iter()
            .zip(&self.requests)
            .map(|(&c, n)| (c, n.load(Ordering::Relaxed)))
            .collect();
    }
}

/// What every request is answered from.
#[derive(Debug)]
pub struct Site {
    pub latest: Latest,
    pub stats: Arc<HttpStats>,
}

/// How a connection is to be answered: the authentication and extra headers of the web
/// configuration in force when it was accepted.
#[derive(Debug, Default)]
pub struct Policy {
    pub auth: Option<Auth>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

fn plain(status: StatusCode, body: &'static str) -> Response<Chunks> {
    let mut r = Response::new(Chunks::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn header_str<B>(req: &Request<B>, h: HeaderName) -> Option<&str> {
    req.headers().get(h).and_then(|v| v.to_str().ok())
}

/// The answer to one request.
pub async fn respond<B>(site: &Site, policy: &Policy, req: &Request<B>) -> Response<Chunks> {
    let mut r = answer(site, policy, req).await;
    site.stats.answered(r.status());
    for (k, v) in &policy.headers {
        r.headers_mut().insert(k.clone(), v.clone());
    }
    r
}

async fn answer<B>(site: &Site, policy: &Policy, req: &Request<B>) -> Response<Chunks> {
    let path = req.uri().path();
    if path != "/metrics" && path != "/" {
        return plain(StatusCode::NOT_FOUND, "not found: see /metrics\n");
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    if let Some(auth) = &policy.auth {
        if !auth.allows(header_str(req, header::AUTHORIZATION)).await {
            let mut r = plain(StatusCode::UNAUTHORIZED, "unauthorized\n");
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"ipctop\", charset=\"UTF-8\""),
            );
            return r;
        }
    }
    let mut r = if path == "/" {
        let mut r = Response::new(Chunks::new(Bytes::from_static(LANDING.as_bytes())));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        r
    } else {
        let format = Format::negotiate(header_str(req, header::ACCEPT));
        let encoding = Encoding::negotiate(header_str(req, header::ACCEPT_ENCODING));
        let body = site.latest.get().body(format, encoding);
        let mut r = Response::new(Chunks::new(body));
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        );
        h.insert(
            header::VARY,
            HeaderValue::from_static("Accept, Accept-Encoding"),
        );
        if encoding == Encoding::Gzip {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        r
    };
    let len = r.body().data.len();
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if req.method() == Method::HEAD {
        r.body_mut().data = Bytes::new();
    }
    r
}

#[cfg(test)]
mod tests;

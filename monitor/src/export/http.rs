//! The HTTP side: `GET /metrics` (and `HEAD`), a small landing page at `/`, 404 for other
//! paths and 405 for other methods. Each answer is a prepared [`super::Exposition`] (encoded
//! once per format), so a scrape costs no /proc walk and never waits on the probe's reader.
//! Slow or idle clients are cut off: headers within [`HEADER_TIMEOUT`], a connection lives at
//! most [`CONNECTION_TIMEOUT`], at most [`MAX_CONNECTIONS`] at once.
use std::{convert::Infallible, future::Future, sync::Arc, time::Duration};

use http_body_util::Full;
use hyper::{
    body::{Bytes, Incoming},
    header, Method, Request, Response, StatusCode,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use super::{encode::Format, Latest};

pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);
pub const MAX_CONNECTIONS: usize = 64;

const LANDING: &str = "<!doctype html>\n<html><head><title>ipctop</title></head><body>\n\
<h1>ipctop exporter</h1>\n\
<p>System V IPC (semaphores, shared memory, message queues) of this machine, as seen by \
ipctop's eBPF probe and /proc.</p>\n\
<p><a href=\"/metrics\">/metrics</a> (Prometheus text or OpenMetrics, by Accept header)</p>\n\
</body></html>\n";

fn plain(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// The answer to one request.
pub fn respond<B>(latest: &Latest, req: &Request<B>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if path != "/metrics" && path != "/" {
        return plain(StatusCode::NOT_FOUND, "not found: see /metrics\n");
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        r.headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let (body, content_type) = if path == "/" {
        (
            Bytes::from_static(LANDING.as_bytes()),
            "text/html; charset=utf-8",
        )
    } else {
        let accept = req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok());
        let format = Format::negotiate(accept);
        (latest.get().body(format), format.content_type())
    };
    let len = body.len();
    let body = if req.method() == Method::HEAD {
        Bytes::new()
    } else {
        body
    };
    let mut r = Response::new(Full::new(body));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    h.insert(header::CONTENT_LENGTH, header::HeaderValue::from(len));
    r
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    latest: Latest,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(_) => {
                    // Out of file descriptors or the like: breathe, then go on.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => return Ok(()),
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue; // too many connections: this one is closed at once
        };
        let latest = latest.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let r = respond(&latest, &req);
                async move { Ok::<_, Infallible>(r) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), svc);
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, conn).await;
            drop(slot);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::{
        families::{Family, Sample, Value, PROBE_ATTACHED},
        Exposition,
    };

    fn latest() -> Latest {
        let l = Latest::default();
        l.set(Exposition::new(vec![Family {
            spec: &PROBE_ATTACHED,
            samples: vec![Sample {
                labels: vec![],
                value: Value::Int(1),
            }],
        }]));
        l
    }

    fn req(method: &str, path: &str, accept: Option<&str>) -> Request<()> {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(a) = accept {
            b = b.header(header::ACCEPT, a);
        }
        b.body(()).unwrap()
    }

    fn header_of(r: &Response<Full<Bytes>>, h: header::HeaderName) -> String {
        r.headers()[h].to_str().unwrap().to_string()
    }

    #[test]
    fn metrics_in_the_negotiated_format_and_nothing_else() {
        let l = latest();
        let r = respond(&l, &req("GET", "/metrics", None));
        assert_eq!(r.status(), StatusCode::OK);
        assert!(header_of(&r, header::CONTENT_TYPE).starts_with("text/plain; version=0.0.4"));
        let r = respond(
            &l,
            &req("GET", "/metrics", Some("application/openmetrics-text")),
        );
        assert!(header_of(&r, header::CONTENT_TYPE).starts_with("application/openmetrics-text"));
        let get = respond(&l, &req("GET", "/metrics", None));
        let head = respond(&l, &req("HEAD", "/metrics", None));
        assert_eq!(
            header_of(&get, header::CONTENT_LENGTH),
            header_of(&head, header::CONTENT_LENGTH)
        );
        assert!(
            header_of(&get, header::CONTENT_LENGTH)
                .parse::<usize>()
                .unwrap()
                > 20
        );
        let r = respond(&l, &req("POST", "/metrics", None));
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(header_of(&r, header::ALLOW), "GET, HEAD");
        assert_eq!(
            respond(&l, &req("GET", "/metrics/x", None)).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(respond(&l, &req("GET", "/", None)).status(), StatusCode::OK);
    }
}

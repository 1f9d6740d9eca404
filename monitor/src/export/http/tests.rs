//! The answers to requests, without a network: formats, encodings, methods, paths and
//! authentication.
use std::{collections::BTreeMap, io::Read as _};

use super::*;
use crate::export::{
    families::{Family, Sample, Value, PROBE_ATTACHED},
    Exposition,
};

fn site() -> Site {
    let l = Latest::default();
    l.set(Exposition::of_families(vec![Family {
        spec: &PROBE_ATTACHED,
        samples: vec![Sample {
            labels: vec![],
            value: Value::Int(1),
        }],
    }]));
    Site {
        latest: l,
        stats: Arc::default(),
    }
}

fn req(method: &str, path: &str, headers: &[(&str, &str)]) -> Request<()> {
    let mut b = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap()
}

fn header_of(r: &Response<Chunks>, h: header::HeaderName) -> String {
    r.headers()
        .get(h)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

fn body_of(r: &Response<Chunks>) -> Bytes {
    r.body().data.clone()
}

#[tokio::test]
async fn metrics_in_the_negotiated_format_and_encoding_and_nothing_else() {
    let s = site();
    let open = Policy::default();
    let r = respond(&s, &open, &req("GET", "/metrics", &[])).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(header_of(&r, header::CONTENT_TYPE).starts_with("text/plain; version=0.0.4"));
    assert_eq!(header_of(&r, header::CONTENT_ENCODING), "");
    let plain = body_of(&r);
    assert!(std::str::from_utf8(&plain)
        .unwrap()
        .contains("ipctop_probe_attached 1\n"));
    let r = respond(
        &s,
        &open,
        &req(
            "GET",
            "/metrics",
            &[("accept", "application/openmetrics-text")],
        ),
    )
    .await;
    assert!(header_of(&r, header::CONTENT_TYPE).starts_with("application/openmetrics-text"));
    // gzip when taken: the same body, compressed.
    let r = respond(
        &s,
        &open,
        &req("GET", "/metrics", &[("accept-encoding", "gzip")]),
    )
    .await;
    assert_eq!(header_of(&r, header::CONTENT_ENCODING), "gzip");
    assert_eq!(header_of(&r, header::VARY), "Accept, Accept-Encoding");
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&body_of(&r)[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, plain);
    let get = respond(&s, &open, &req("GET", "/metrics", &[])).await;
    let head = respond(&s, &open, &req("HEAD", "/metrics", &[])).await;
    assert_eq!(
        header_of(&get, header::CONTENT_LENGTH),
        header_of(&head, header::CONTENT_LENGTH)
    );
    assert!(body_of(&head).is_empty());
    let r = respond(&s, &open, &req("POST", "/metrics", &[])).await;
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header_of(&r, header::ALLOW), "GET, HEAD");
    let r = respond(&s, &open, &req("GET", "/metrics/x", &[])).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        respond(&s, &open, &req("GET", "/", &[])).await.status(),
        StatusCode::OK
    );
    let mut me = crate::export::metrics::SelfStats::default();
    s.stats.fill(&mut me);
    assert!(me.requests.contains(&(200, 6)), "{:?}", me.requests);
    assert!(me.requests.contains(&(404, 1)) && me.requests.contains(&(405, 1)));
}

#[tokio::test]
async fn without_the_right_credentials_401_and_configured_headers_on_every_answer() {
    let s = site();
    let hash = bcrypt::hash("pw", 4).unwrap();
    let policy = Policy {
        auth: Auth::new(BTreeMap::from([("prom".to_string(), hash)])),
        headers: vec![(
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("deny"),
        )],
    };
    let r = respond(&s, &policy, &req("GET", "/metrics", &[])).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(header_of(&r, header::WWW_AUTHENTICATE).starts_with("Basic realm="));
    assert_eq!(
        header_of(&r, HeaderName::from_static("x-frame-options")),
        "deny"
    );
    // "prom:bad" and "prom:pw".
    let bad = respond(
        &s,
        &policy,
        &req(
            "GET",
            "/metrics",
            &[("authorization", "Basic cHJvbTpiYWQ=")],
        ),
    )
    .await;
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    let good = respond(
        &s,
        &policy,
        &req(
            "GET",
            "/metrics",
            &[("authorization", "Basic cHJvbTpwdw==")],
        ),
    )
    .await;
    assert_eq!(good.status(), StatusCode::OK);
    assert_eq!(
        header_of(&good, HeaderName::from_static("x-frame-options")),
        "deny"
    );
}

#[test]
fn a_body_goes_in_bounded_slices() {
    let data = Bytes::from(vec![7u8; 3 * CHUNK + 5]);
    let mut c = Chunks::new(data.clone());
    let waker = std::task::Waker::noop();
    let mut cx = Context::from_waker(waker);
    let mut got = Vec::new();
    while let Poll::Ready(Some(f)) = Pin::new(&mut c).poll_frame(&mut cx) {
        let d = f.unwrap().into_data().unwrap();
        assert!(d.len() <= CHUNK);
        got.extend_from_slice(&d);
    }
    assert_eq!(got, data);
    // Past its deadline, a body ends in an error (and its connection with it).
    let mut late = Chunks::new(data);
    late.deadline = Instant::now() - Duration::from_secs(1);
    let r = Pin::new(&mut late).poll_frame(&mut cx);
    assert!(matches!(r, Poll::Ready(Some(Err(_)))));
}

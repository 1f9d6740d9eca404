//! The listening side of `ipctop serve`: addresses (host names resolved, the real port
//! said), TLS from the web configuration, and connections that a local user cannot use up.
//!
//! A client is its address, or for a local one the user owning its socket
//! ([`super::peer`]). Each has at most [`PER_PEER`] connections: a new one closes its own
//! oldest. In all at most [`MAX_CONNECTIONS`]: a new client's connection closes the oldest
//! of the client with the most. So another user holding connections open (idle, or never
//! reading what it asked for) only ever takes its own places, and a scrape always gets in.
//! Idle and slow clients are cut: a request's headers must come within [`HEADER_TIMEOUT`]
//! (the first, and the next on a kept-alive connection), a TLS handshake too, and a response
//! that stops moving for [`WRITE_TIMEOUT`] (or is not taken within
//! [`super::http::RESPONSE_TIMEOUT`]) ends its connection.
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    path::PathBuf,
    pin::Pin,
    sync::{atomic::Ordering, Arc, Mutex, RwLock},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use hyper::{body::Incoming, Request};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::Notify,
    time::Sleep,
};

use super::{
    auth::Auth,
    http::{self, Closed, Policy, Site},
    peer::{self, Peer},
    webconfig::WebConfig,
};

pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
pub const MAX_CONNECTIONS: usize = 256;
pub const PER_PEER: usize = 8;

/// The addresses of `--listen`: `ADDR:PORT`, `[V6ADDR]:PORT`, `HOST:PORT` (every address the
/// name resolves to) or `:PORT` (every address). Port 0 takes a free port, the same on every
/// address where it can. Plain sockets (non-blocking), for the HTTP thread's runtime to take.
pub fn bind(spec: &str) -> Result<Vec<std::net::TcpListener>, String> {
    use std::net::ToSocketAddrs;
    let addrs: Vec<SocketAddr> = if let Some(port) = spec.strip_prefix(':') {
        let port: u16 = port
            .parse()
            .map_err(|_| format!("--listen {spec:?}: {port:?} is not a port"))?;
        vec![SocketAddr::from(([0u16; 8], port))]
    } else {
        let mut v: Vec<SocketAddr> = spec
            .to_socket_addrs()
            .map_err(|e| format!("--listen {spec:?}: {e} (give ADDR:PORT or HOST:PORT)"))?
            .collect();
        v.sort();
        v.dedup();
        v
    };
    if addrs.is_empty() {
        return Err(format!("--listen {spec:?}: the name has no address"));
    }
    let mut out: Vec<std::net::TcpListener> = Vec::new();
    for mut a in addrs {
        if let (0, Some(first)) = (a.port(), out.first()) {
            a.set_port(first.local_addr().map(|l| l.port()).unwrap_or(0));
        }
        let l = match std::net::TcpListener::bind(a) {
            Ok(l) => l,
            Err(e) if spec.starts_with(':') && e.kind() == std::io::ErrorKind::AddrNotAvailable => {
                // No IPv6 here: every IPv4 address instead.
                std::net::TcpListener::bind(SocketAddr::from(([0u8; 4], a.port())))
                    .map_err(|e| format!("cannot listen on {spec}: {e}"))?
            }
            Err(e) => return Err(format!("cannot listen on {a}: {e}")),
        };
        l.set_nonblocking(true)
            .map_err(|e| format!("cannot listen on {a}: {e}"))?;
        out.push(l);
    }
    Ok(out)
}

/// The web configuration in force, read again when its files change.
#[derive(Debug)]
pub struct Web {
    path: Option<PathBuf>,
    current: RwLock<(Arc<WebConfig>, Arc<Policy>)>,
    checked: Mutex<Instant>,
}

impl Web {
    /// `path`: `--web.config.file`, if given (read now; errors are one sentence).
    pub fn load(path: Option<PathBuf>) -> Result<Web, String> {
        let cfg = match &path {
            Some(p) => WebConfig::load(p)?,
            None => WebConfig::default(),
        };
        let policy = policy_of(&cfg);
        Ok(Web {
            path,
            current: RwLock::new((Arc::new(cfg), Arc::new(policy))),
            checked: Mutex::new(Instant::now()),
        })
    }

    /// Whether it serves TLS, and how many users it knows.
    pub fn describe(&self) -> (bool, usize) {
        let (cfg, _) = &*self.current.read().unwrap_or_else(|e| e.into_inner());
        (cfg.tls.is_some(), cfg.users.len())
    }

    /// The configuration for a new connection: the file is looked at again at most once a
    /// second, and read again when it or a file it names changed (a file that no longer
    /// reads keeps the last good configuration, and says so).
    fn current(&self) -> (Arc<WebConfig>, Arc<Policy>) {
        if let Some(path) = &self.path {
            let mut checked = self.checked.lock().unwrap_or_else(|e| e.into_inner());
            if checked.elapsed() >= Duration::from_secs(1) {
                *checked = Instant::now();
                let changed = self
                    .current
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .0
                    .changed();
                if changed {
                    match WebConfig::load(path) {
                        Ok(cfg) => {
                            eprintln!("ipctop: read {} again", path.display());
                            let p = policy_of(&cfg);
                            *self.current.write().unwrap_or_else(|e| e.into_inner()) =
                                (Arc::new(cfg), Arc::new(p));
                        }
                        Err(e) => eprintln!("ipctop: {e}; the previous configuration stays"),
                    }
                }
            }
        }
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

fn policy_of(cfg: &WebConfig) -> Policy {
    Policy {
        auth: Auth::new(cfg.users.clone()),
        headers: cfg.headers.clone(),
    }
}

/// Connections closed to make room for another, each with why.
type Evicted = Vec<(Arc<Notify>, Closed)>;

/// The connections open, by client.
#[derive(Debug, Default)]
struct Registry {
    next: u64,
    /// Connection id (older first) → its client and how to close it.
    conns: BTreeMap<u64, (Peer, Arc<Notify>)>,
    by_peer: HashMap<Peer, BTreeSet<u64>>,
}

impl Registry {
    /// Makes room for a connection of `peer` and registers it; returns its id, its closer,
    /// and the connections closed for it (with why).
    fn admit(&mut self, peer: Peer) -> (u64, Arc<Notify>, Evicted) {
        let mut closed = Vec::new();
        let mine = self.by_peer.get(&peer).map_or(0, BTreeSet::len);
        if mine >= PER_PEER {
            let oldest = self.by_peer[&peer].first().copied();
            closed.extend(
                oldest
                    .and_then(|id| self.remove(id))
                    .map(|n| (n, Closed::PeerLimit)),
            );
        } else if self.conns.len() >= MAX_CONNECTIONS {
            let busiest = self
                .by_peer
                .iter()
                .max_by_key(|(p, ids)| (ids.len(), std::cmp::Reverse(**p)))
                .and_then(|(_, ids)| ids.first().copied());
            closed.extend(
                busiest
                    .and_then(|id| self.remove(id))
                    .map(|n| (n, Closed::TotalLimit)),
            );
        }
        let id = self.next;
        self.next += 1;
        let n = Arc::new(Notify::new());
        self.conns.insert(id, (peer, n.clone()));
        self.by_peer.entry(peer).or_default().insert(id);
        (id, n, closed)
    }

    fn remove(&mut self, id: u64) -> Option<Arc<Notify>> {
        let (peer, n) = self.conns.remove(&id)?;
        if let Some(ids) = self.by_peer.get_mut(&peer) {
            ids.remove(&id);
            if ids.is_empty() {
                self.by_peer.remove(&peer);
            }
        }
        Some(n)
    }
}

/// Everything the connections share.
struct Shared {
    site: Site,
    web: Web,
    registry: Mutex<Registry>,
}

/// Serves on every listener until `shutdown` completes (on the runtime it runs on: `serve`
/// gives it a thread of its own).
pub async fn serve(
    listeners: Vec<std::net::TcpListener>,
    site: Site,
    web: Web,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let shared = Arc::new(Shared {
        site,
        web,
        registry: Mutex::new(Registry::default()),
    });
    let mut tasks = tokio::task::JoinSet::new();
    for l in listeners {
        tasks.spawn(accept_loop(TcpListener::from_std(l)?, shared.clone()));
    }
    shutdown.await;
    tasks.abort_all();
    Ok(())
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let local = listener.local_addr().ok();
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(x) => x,
            Err(_) => {
                // Out of file descriptors or the like: breathe, then go on.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().ok().or(local).unwrap_or(remote);
        let peer = peer::identify(local, remote);
        let (id, closer, evicted) = shared
            .registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .admit(peer);
        for (n, why) in evicted {
            shared.site.stats.closed(why);
            n.notify_one();
        }
        tokio::spawn(connection(stream, shared.clone(), id, closer));
    }
}

/// Unregisters a connection however its task ends.
struct Registered(Arc<Shared>, u64);

impl Drop for Registered {
    fn drop(&mut self) {
        self.0
            .registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(self.1);
        self.0.site.stats.open.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn connection(stream: TcpStream, shared: Arc<Shared>, id: u64, closer: Arc<Notify>) {
    shared.site.stats.open.fetch_add(1, Ordering::Relaxed);
    let _registered = Registered(shared.clone(), id);
    let (cfg, policy) = shared.web.current();
    let io = Timed::new(stream);
    tokio::select! {
        _ = closer.notified() => {}
        () = async {
            match &cfg.tls {
                None => http1(io, &shared, policy).await,
                Some(tls) => {
                    let acceptor = tokio_rustls::TlsAcceptor::from(tls.clone());
                    match tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(io)).await {
                        Ok(Ok(s)) => http1(s, &shared, policy).await,
                        _ => shared.site.stats.closed(Closed::Tls),
                    }
                }
            }
        } => {}
    }
}

/// One HTTP/1.1 connection, its requests answered by [`http::respond`].
async fn http1<IO>(io: IO, shared: &Arc<Shared>, policy: Arc<Policy>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc_shared = shared.clone();
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        let shared = svc_shared.clone();
        let policy = policy.clone();
        async move { Ok::<_, Infallible>(http::respond(&shared.site, &policy, &req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(64 << 10)
        .serve_connection(TokioIo::new(io), svc);
    if let Err(e) = conn.await {
        let why = if e.is_timeout() {
            Some(Closed::HeaderTimeout)
        } else if is_timed_out(&e) {
            Some(Closed::WriteTimeout)
        } else {
            None
        };
        if let Some(why) = why {
            shared.site.stats.closed(why);
        }
    }
}

fn is_timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(x) = cur {
        if x.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        cur = x.source();
    }
    false
}

/// A stream whose writes fail once they have made no progress for [`WRITE_TIMEOUT`]: a
/// client that stops reading ends its connection instead of holding it.
struct Timed<S> {
    inner: S,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<S> Timed<S> {
    fn new(inner: S) -> Self {
        Self {
            inner,
            stalled: None,
        }
    }

    /// After the inner stream said Pending: whether the stall has lasted too long.
    fn stall(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Error> {
        let sleep = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(WRITE_TIMEOUT)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client took nothing of the response for too long",
            )),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Timed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Timed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Pending => self.stall(cx).map(Err),
            r => {
                self.stalled = None;
                r
            }
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Pending => self.stall(cx).map(Err),
            r => {
                self.stalled = None;
                r
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Pending => self.stall(cx).map(Err),
            r => {
                self.stalled = None;
                r
            }
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn addr(n: u8) -> Peer {
        Peer::Addr(IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)))
    }

    #[test]
    fn a_client_over_its_limit_loses_its_own_oldest_and_a_new_client_always_gets_in() {
        let mut r = Registry::default();
        let hostile = Peer::User(65534);
        let mut first = None;
        for i in 0..PER_PEER {
            let (id, _, closed) = r.admit(hostile);
            assert!(closed.is_empty());
            if i == 0 {
                first = Some(id);
            }
        }
        let scraper = Peer::User(0);
        let (scrape, _, closed) = r.admit(scraper);
        assert!(closed.is_empty());
        // The hostile client's next connection closes its own oldest, never the scrape.
        for _ in 0..100 {
            let (_, _, closed) = r.admit(hostile);
            assert_eq!(closed.len(), 1);
            assert_eq!(closed[0].1, Closed::PeerLimit);
        }
        assert!(!r.conns.contains_key(&first.unwrap()));
        assert!(r.conns.contains_key(&scrape));
        assert_eq!(r.by_peer[&hostile].len(), PER_PEER);
        // Many clients at their limit: a new one takes the place of the oldest connection of
        // the one with the most.
        let mut r = Registry::default();
        for n in 0..(MAX_CONNECTIONS / PER_PEER) as u8 {
            for _ in 0..PER_PEER {
                r.admit(addr(n));
            }
        }
        assert_eq!(r.conns.len(), MAX_CONNECTIONS);
        let (id, _, closed) = r.admit(addr(250));
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].1, Closed::TotalLimit);
        assert!(r.conns.contains_key(&id));
        assert_eq!(r.conns.len(), MAX_CONNECTIONS);
    }

    #[test]
    fn listen_takes_names_and_port_zero_and_says_why_not() {
        let ls = bind("localhost:0").unwrap();
        assert!(!ls.is_empty());
        let port = ls[0].local_addr().unwrap().port();
        assert_ne!(port, 0);
        assert!(ls
            .iter()
            .all(|l| l.local_addr().unwrap().ip().is_loopback()));
        let e = bind("no-such-host.invalid:9632").unwrap_err();
        assert!(
            e.starts_with("--listen \"no-such-host.invalid:9632\""),
            "{e}"
        );
        let e = bind("127.0.0.1").unwrap_err();
        assert!(e.contains("--listen"), "{e}");
        let e = bind(":x").unwrap_err();
        assert!(e.contains("not a port"), "{e}");
    }
}

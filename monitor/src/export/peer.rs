//! Who is at the other end of a connection, for per-client limits. A remote client is its
//! address; a local one (loopback, or one of this host's addresses) is the user that owns
//! its socket, as the kernel says (sock_diag: the socket whose source is the peer's address
//! and port and whose destination is ours), so that another local user's connections never
//! count against Prometheus's.
use std::{
    net::{IpAddr, SocketAddr},
    os::fd::AsRawFd,
    time::Duration,
};

use nix::sys::{
    socket::{
        recv, sendto, setsockopt, socket, sockopt, AddressFamily, MsgFlags, NetlinkAddr, SockFlag,
        SockProtocol, SockType,
    },
    time::TimeVal,
};

/// A client, as the connection limits count them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Peer {
    /// A local user (uid of the client's socket).
    User(u32),
    /// A remote address (or a local one whose owner could not be found).
    Addr(IpAddr),
}

/// The peer of a connection accepted on `local` from `remote`.
pub fn identify(local: SocketAddr, remote: SocketAddr) -> Peer {
    let ip = remote.ip().to_canonical();
    let here = ip.is_loopback() || ip == local.ip().to_canonical();
    if here {
        if let Some(uid) = socket_uid(remote, local) {
            return Peer::User(uid);
        }
    }
    Peer::Addr(ip)
}

// <linux/sock_diag.h>, <linux/inet_diag.h>, <linux/netlink.h>
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLM_F_REQUEST: u16 = 1;
const NLMSG_HDR: usize = 16;
/// `inet_diag_msg.idiag_uid`: after family, state, timer, retrans (4 bytes), the socket id
/// (48 bytes), expires, rqueue, wqueue (12 bytes).
const UID_OFFSET: usize = 4 + 48 + 12;

/// The request for the one TCP socket with this source and destination (`inet_diag_req_v2`
/// with an exact `inet_diag_sockid`), as netlink bytes.
fn request(src: SocketAddr, dst: SocketAddr) -> Option<Vec<u8>> {
    let (family, src_ip, dst_ip) = match (src.ip().to_canonical(), dst.ip().to_canonical()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let pad = |a: [u8; 4]| {
                let mut v = [0u8; 16];
                v[..4].copy_from_slice(&a);
                v
            };
            (libc::AF_INET as u8, pad(s.octets()), pad(d.octets()))
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => (libc::AF_INET6 as u8, s.octets(), d.octets()),
        _ => return None,
    };
    let mut m = Vec::with_capacity(72);
    m.extend_from_slice(&72u32.to_ne_bytes()); // nlmsg_len
    m.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    m.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    m.extend_from_slice(&1u32.to_ne_bytes()); // seq
    m.extend_from_slice(&0u32.to_ne_bytes()); // pid
    m.push(family);
    m.push(libc::IPPROTO_TCP as u8);
    m.push(0); // idiag_ext
    m.push(0); // pad
    m.extend_from_slice(&u32::MAX.to_ne_bytes()); // every state
    m.extend_from_slice(&src.port().to_be_bytes());
    m.extend_from_slice(&dst.port().to_be_bytes());
    m.extend_from_slice(&src_ip);
    m.extend_from_slice(&dst_ip);
    m.extend_from_slice(&0u32.to_ne_bytes()); // any interface
    m.extend_from_slice(&u32::MAX.to_ne_bytes()); // INET_DIAG_NOCOOKIE
    m.extend_from_slice(&u32::MAX.to_ne_bytes());
    debug_assert_eq!(m.len(), 72);
    Some(m)
}

/// The uid in a sock_diag answer (`None`: an error, or not an answer).
fn uid_of(answer: &[u8]) -> Option<u32> {
    let ty = u16::from_ne_bytes(answer.get(4..6)?.try_into().ok()?);
    // An NLMSG_ERROR (no such socket) or anything else: no uid.
    if ty != SOCK_DIAG_BY_FAMILY {
        return None;
    }
    let at = NLMSG_HDR + UID_OFFSET;
    Some(u32::from_ne_bytes(answer.get(at..at + 4)?.try_into().ok()?))
}

/// The owner of the TCP socket bound to `src` and connected to `dst`, from the kernel.
fn socket_uid(src: SocketAddr, dst: SocketAddr) -> Option<u32> {
    let req = request(src, dst)?;
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkSockDiag,
    )
    .ok()?;
    // The kernel answers while we send; the timeout only guards against the unexpected.
    let _ = setsockopt(
        &fd,
        sockopt::ReceiveTimeout,
        &TimeVal::from(libc::timeval {
            tv_sec: 0,
            tv_usec: Duration::from_millis(200).as_micros() as libc::suseconds_t,
        }),
    );
    sendto(
        fd.as_raw_fd(),
        &req,
        &NetlinkAddr::new(0, 0),
        MsgFlags::empty(),
    )
    .ok()?;
    let mut buf = [0u8; 512];
    let n = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()).ok()?;
    uid_of(&buf[..n])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn a_local_client_is_the_user_that_owns_its_socket() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let local = l.local_addr().unwrap();
        let _c = TcpStream::connect(local).unwrap();
        let (_s, remote) = l.accept().unwrap();
        // SAFETY: getuid has no preconditions.
        let me = unsafe { libc::getuid() };
        assert_eq!(identify(local, remote), Peer::User(me));
        // The other direction names the server's socket: ours too.
        assert_eq!(socket_uid(local, remote), Some(me));
        // No such socket: no uid.
        let gone = SocketAddr::from(([127, 0, 0, 1], 1));
        assert_eq!(socket_uid(gone, local), None);
        assert_eq!(identify(local, gone), Peer::Addr(gone.ip()));
    }

    #[test]
    fn a_remote_client_is_its_address() {
        let local = SocketAddr::from(([10, 0, 0, 1], 9632));
        let remote = SocketAddr::from(([192, 0, 2, 7], 40000));
        assert_eq!(identify(local, remote), Peer::Addr(remote.ip()));
    }
}

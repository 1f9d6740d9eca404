//! Fixture blobs built here (a miniature of the kernel's types, with its anonymous unions and
//! bitfields), damaged blobs, and the running kernel's BTF checked against pahole.
use std::{path::Path, process::Command};

use super::*;

/// Builds a BTF blob, type by type (ids count from 1 in the order of the calls).
struct Builder {
    strs: Vec<u8>,
    words: Vec<u32>,
    next: u32,
}

/// A member: name ("" for anonymous), type id, offset word (bits; with kind_flag the bitfield
/// size in the top byte).
type M<'a> = (&'a str, u32, u32);

impl Builder {
    fn new() -> Builder {
        Builder {
            strs: vec![0],
            words: Vec::new(),
            next: 1,
        }
    }

    fn s(&mut self, name: &str) -> u32 {
        if name.is_empty() {
            return 0;
        }
        let off = self.strs.len() as u32;
        self.strs.extend_from_slice(name.as_bytes());
        self.strs.push(0);
        off
    }

    fn head(&mut self, name: &str, kind: u8, kflag: bool, vlen: u32, sot: u32) -> u32 {
        let n = self.s(name);
        let info = (u32::from(kind) << 24) | (u32::from(kflag) << 31) | vlen;
        self.words.extend([n, info, sot]);
        self.next += 1;
        self.next - 1
    }

    fn int(&mut self, name: &str, size: u32) -> u32 {
        self.int_bits(name, size, size * 8)
    }

    fn int_bits(&mut self, name: &str, size: u32, bits: u32) -> u32 {
        let id = self.head(name, kind::INT, false, 0, size);
        self.words.push(bits);
        id
    }

    fn ptr(&mut self, to: u32) -> u32 {
        self.head("", kind::PTR, false, 0, to)
    }

    fn typedef(&mut self, name: &str, to: u32) -> u32 {
        self.head(name, kind::TYPEDEF, false, 0, to)
    }

    fn konst(&mut self, to: u32) -> u32 {
        self.head("", kind::CONST, false, 0, to)
    }

    fn composite(&mut self, k: u8, name: &str, size: u32, kflag: bool, ms: &[M]) -> u32 {
        let id = self.head(name, k, kflag, ms.len() as u32, size);
        for &(n, t, off) in ms {
            let n = self.s(n);
            self.words.extend([n, t, off]);
        }
        id
    }

    fn strukt(&mut self, name: &str, size: u32, kflag: bool, ms: &[M]) -> u32 {
        self.composite(kind::STRUCT, name, size, kflag, ms)
    }

    fn union(&mut self, size: u32, ms: &[M]) -> u32 {
        self.composite(kind::UNION, "", size, false, ms)
    }

    fn build(&self, big: bool) -> Vec<u8> {
        let w = |v: u32| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let types: Vec<u8> = self.words.iter().flat_map(|&v| w(v)).collect();
        let mut out = Vec::new();
        out.extend_from_slice(&if big {
            MAGIC.to_be_bytes()
        } else {
            MAGIC.to_le_bytes()
        });
        out.extend([1, 0]);
        for v in [
            24,
            0,
            types.len() as u32,
            types.len() as u32,
            self.strs.len() as u32,
        ] {
            out.extend(w(v));
        }
        out.extend(types);
        out.extend(&self.strs);
        out
    }
}

/// What to leave out of or change in the miniature kernel.
#[derive(Default)]
struct Variant {
    no_inum: bool,
    no_thread_info: bool,
    inum_bitfield: bool,
    nsproxy_is_int: bool,
}

/// A miniature of the kernel's types (offsets of 6.18, placed the way the compiler does,
/// with `nsproxy` inside an anonymous struct inside an anonymous union of a kind_flag struct
/// whose earlier members are bitfields).
fn mini_kernel(v: &Variant) -> Builder {
    let mut b = Builder::new();
    let uint = b.int("unsigned int", 4);
    let ulong = b.int("long unsigned int", 8);
    let u32t = b.typedef("u32", uint);
    let u64t = b.typedef("u64", ulong);
    let void_ptr = b.ptr(0);
    let inum = if v.no_inum {
        ("inum_gone", uint, 24 * 8)
    } else if v.inum_bitfield {
        ("inum", uint, (20 << 24) | (24 * 8))
    } else {
        ("inum", uint, 24 * 8)
    };
    let anon_s = b.strukt("", 48, false, &[("ns_id", u64t, 0), ("tree", ulong, 64)]);
    let anon_u = b.union(48, &[("", anon_s, 0), ("ns_rcu", ulong, 0)]);
    let ns_common = b.strukt(
        "ns_common",
        80,
        v.inum_bitfield,
        &[
            ("ns_type", u32t, 0),
            ("stashed", void_ptr, 64),
            inum,
            ("", anon_u, 32 * 8),
        ],
    );
    let ns_common_t = b.typedef("ns_common_t", ns_common);
    let ipc_ns = b.strukt(
        "ipc_namespace",
        1200,
        true,
        &[
            ("flag_a", uint, 1 << 24),
            ("flag_b", uint, (3 << 24) | 1),
            ("ns", ns_common_t, 1120 * 8),
        ],
    );
    let ipc_ns_ptr = b.ptr(ipc_ns);
    let const_ipc_ns_ptr = b.konst(ipc_ns_ptr);
    let nsproxy = b.strukt(
        "nsproxy",
        72,
        false,
        &[
            ("count", uint, 0),
            ("uts_ns", void_ptr, 64),
            ("ipc_ns", const_ipc_ns_ptr, 128),
        ],
    );
    let nsproxy_ptr = b.ptr(nsproxy);
    let ti = b.strukt(
        "thread_info",
        24,
        false,
        &[
            ("flags", ulong, 0),
            ("syscall_work", ulong, 64),
            ("status", u32t, 128),
            ("cpu", u32t, 160),
        ],
    );
    let inner = if v.nsproxy_is_int {
        b.strukt(
            "",
            16,
            false,
            &[("fs", void_ptr, 0), ("nsproxy", ulong, 64)],
        )
    } else {
        b.strukt(
            "",
            16,
            false,
            &[("fs", void_ptr, 0), ("nsproxy", nsproxy_ptr, 64)],
        )
    };
    let u = b.union(16, &[("other", ulong, 0), ("", inner, 0)]);
    let mut task: Vec<M> = vec![
        ("bits_a", uint, (1 << 24) | (24 * 8)),
        ("bits_b", uint, (2 << 24) | (24 * 8 + 1)),
        ("", u, 1824 * 8),
    ];
    if !v.no_thread_info {
        task.insert(0, ("thread_info", ti, 0));
    }
    // A forward declaration's empty leftover with the same name, first: must be passed over.
    b.strukt("task_struct", 0, false, &[]);
    b.strukt("task_struct", 4096, true, &task);
    b
}

fn parse(v: &Variant) -> Btf {
    Btf::parse(mini_kernel(v).build(false)).unwrap()
}

#[test]
fn offsets_through_anonymous_members_typedefs_and_bitfields() {
    let btf = parse(&Variant::default());
    let want = IpcNsOffsets {
        task_nsproxy: 1832,
        nsproxy_ipc_ns: 16,
        ipc_ns_inum: 1144,
        task_ti_status: Some(16),
    };
    assert_eq!(IpcNsOffsets::from_btf(&btf).unwrap(), want);
    // A member inside an anonymous struct inside an anonymous union of an embedded struct.
    let f = btf.member("ipc_namespace", "ns.ns_id").unwrap();
    assert_eq!((f.offset, f.size, f.kind), (1152, 8, "int"));
    let f = btf.member("ns_common", "tree").unwrap();
    assert_eq!(f.offset, 40);
    let f = btf.member("ipc_namespace", "ns").unwrap();
    assert_eq!((f.offset, f.size, f.kind), (1120, 80, "struct"));
    let f = btf.member("task_struct", "nsproxy").unwrap();
    assert_eq!(f.pointee.as_deref(), Some("nsproxy"));
}

#[test]
fn big_endian_blob_gives_the_same_offsets() {
    let b = mini_kernel(&Variant::default());
    let le = IpcNsOffsets::from_btf(&Btf::parse(b.build(false)).unwrap()).unwrap();
    let be = IpcNsOffsets::from_btf(&Btf::parse(b.build(true)).unwrap()).unwrap();
    assert_eq!(le, be);
}

#[test]
fn missing_member_is_one_sentence() {
    let btf = parse(&Variant {
        no_inum: true,
        ..Variant::default()
    });
    let e = IpcNsOffsets::from_btf(&btf).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the kernel's BTF has no member inum in struct ns_common"
    );
    let e = btf.member("nsproxy", "net_ns").unwrap_err();
    assert_eq!(
        e.to_string(),
        "the kernel's BTF has no member net_ns in struct nsproxy"
    );
    let e = btf.member("no_such_struct", "x").unwrap_err();
    assert_eq!(
        e.to_string(),
        "the kernel's BTF has no struct no_such_struct"
    );
    // Looking into something that is not a struct.
    let e = btf.member("nsproxy", "count.x").unwrap_err();
    assert_eq!(
        e.to_string(),
        "nsproxy.count in the kernel's BTF is an int, not a struct or union to look into"
    );
}

#[test]
fn bitfields_and_wrong_types_are_refused() {
    let btf = parse(&Variant {
        inum_bitfield: true,
        ..Variant::default()
    });
    let e = IpcNsOffsets::from_btf(&btf).unwrap_err();
    assert_eq!(e, BtfError::Bitfield("ipc_namespace.ns.inum".into()));
    assert!(e.to_string().contains("is a bitfield"), "{e}");
    // kind_flag bitfields, and a bitfield told by the int's own bit count (no kind_flag).
    let btf = parse(&Variant::default());
    assert!(matches!(
        btf.member("task_struct", "bits_b"),
        Err(BtfError::Bitfield(_))
    ));
    let mut b = Builder::new();
    let three_bits = b.int_bits("unsigned int", 4, 3);
    b.strukt("s", 4, false, &[("x", three_bits, 0)]);
    let btf = Btf::parse(b.build(false)).unwrap();
    assert!(matches!(btf.member("s", "x"), Err(BtfError::Bitfield(_))));

    let btf = parse(&Variant {
        nsproxy_is_int: true,
        ..Variant::default()
    });
    assert_eq!(
        IpcNsOffsets::from_btf(&btf).unwrap_err().to_string(),
        "task_struct.nsproxy in the kernel's BTF is an int, not a pointer to struct nsproxy"
    );
}

#[test]
fn no_thread_info_means_no_compat_offset() {
    let btf = parse(&Variant {
        no_thread_info: true,
        ..Variant::default()
    });
    let o = IpcNsOffsets::from_btf(&btf).unwrap();
    assert_eq!(o.task_ti_status, None);
    assert_eq!(o.ipc_ns_inum, 1144);
}

#[test]
fn damaged_blobs_are_errors_never_panics() {
    let good = mini_kernel(&Variant::default()).build(false);
    assert!(Btf::parse(Vec::new()).is_err());
    assert!(Btf::parse(b"not btf at all, not at all".to_vec()).is_err());
    // Every truncation: an error (the header says how long the sections are).
    for n in 0..good.len() {
        assert!(Btf::parse(good[..n].to_vec()).is_err(), "cut at {n}");
    }
    // Every byte flipped, and pseudo-random bytes after a valid header: whatever parses
    // answers questions without panicking.
    let ask = |btf: &Btf| {
        let _ = IpcNsOffsets::from_btf(btf);
        let _ = btf.member("ipc_namespace", "ns.ns_id");
    };
    for i in 0..good.len() {
        for x in [0xff, 0x80, 0x01] {
            let mut bad = good.clone();
            bad[i] ^= x;
            if let Ok(btf) = Btf::parse(bad) {
                ask(&btf);
            }
        }
    }
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..2000 {
        let mut bad = good.clone();
        for b in bad.iter_mut().skip(24) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            if seed.is_multiple_of(7) {
                *b = seed as u8;
            }
        }
        if let Ok(btf) = Btf::parse(bad) {
            ask(&btf);
        }
    }
    // A typedef that names itself.
    let mut b = Builder::new();
    let t = b.typedef("loop", 1);
    b.strukt("s", 4, false, &[("x", t, 0)]);
    let btf = Btf::parse(b.build(false)).unwrap();
    assert!(matches!(btf.member("s", "x"), Err(BtfError::Malformed(_))));
}

#[test]
fn missing_file_says_why() {
    let e = Btf::from_file(Path::new("/nonexistent/vmlinux"))
        .err()
        .unwrap();
    assert!(e.to_string().contains("CONFIG_DEBUG_INFO_BTF"), "{e}");
}

/// (member path, byte offset) of `strukt`'s members as pahole prints them from the same BTF:
/// top-level ones and those of anonymous structs and unions (pahole gives those offsets from
/// the start of `strukt` too); bitfields, function pointers and members of named inline
/// structs are left out.
fn pahole_members(file: &Path, strukt: &str) -> Option<Vec<(String, u32)>> {
    let out = Command::new("pahole")
        .args(["-F", "btf", "-C", strukt])
        .arg(file)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut stack: Vec<Vec<(String, u32)>> = vec![Vec::new()];
    for line in text.lines().skip(1) {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix('}') {
            let block = stack.pop()?;
            let Some(parent) = stack.last_mut() else {
                return Some(block); // the struct's own closing brace
            };
            // `};` closes an anonymous block; `} name;` a named one, left out.
            if rest.trim_start().starts_with(';') {
                parent.extend(block);
            }
            continue;
        }
        if t.ends_with('{') {
            stack.push(Vec::new());
            continue;
        }
        let (Some((decl, comment)), true) = (t.split_once("/*"), t.ends_with("*/")) else {
            continue;
        };
        let Some(decl) = decl.trim().strip_suffix(';') else {
            continue;
        };
        let name = decl.rsplit([' ', '*']).next()?;
        let name = name.split('[').next()?;
        if decl.contains(['(', ':']) || name.is_empty() {
            continue;
        }
        let off = comment.split_whitespace().next()?.parse().ok()?;
        stack.last_mut()?.push((name.to_string(), off));
    }
    Some(stack.into_iter().flatten().collect())
}

/// The offset pahole gives `strukt.name` in `file`.
fn pahole_at(file: &Path, strukt: &str, name: &str) -> u32 {
    pahole_members(file, strukt)
        .unwrap()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, o)| o)
        .unwrap_or_else(|| panic!("pahole shows no {strukt}.{name}"))
}

/// The offsets from `file` (a raw BTF blob), and every member pahole shows of the structs on
/// the path, compared with pahole's offsets from the same file.
fn check_against_pahole(file: &Path) {
    let t = std::time::Instant::now();
    let btf = Btf::from_file(file).unwrap();
    let offsets = IpcNsOffsets::from_btf(&btf).unwrap();
    eprintln!(
        "{}: {} types, offsets {offsets:?} in {:?} (debug build)",
        file.display(),
        btf.type_count(),
        t.elapsed()
    );
    let at = |strukt: &str, name: &str| pahole_at(file, strukt, name);
    assert_eq!(offsets.task_nsproxy, at("task_struct", "nsproxy"));
    assert_eq!(offsets.nsproxy_ipc_ns, at("nsproxy", "ipc_ns"));
    assert_eq!(
        offsets.ipc_ns_inum,
        at("ipc_namespace", "ns") + at("ns_common", "inum")
    );
    if let Some(status) = offsets.task_ti_status {
        assert_eq!(
            status,
            at("task_struct", "thread_info") + at("thread_info", "status")
        );
    }
    // Every member pahole shows, anonymous unions included, at the same offset.
    for strukt in [
        "task_struct",
        "nsproxy",
        "ipc_namespace",
        "ns_common",
        "thread_info",
    ] {
        let members = pahole_members(file, strukt).unwrap();
        assert!(members.len() > 2, "{strukt}: {members:?}");
        for (name, off) in members {
            let f = btf.member(strukt, &name).unwrap();
            assert_eq!(f.offset, off, "{}: {strukt}.{name}", file.display());
        }
    }
}

/// The running kernel's BTF, and any other kernel's listed in `IPCTOP_BTF_FILES` (raw BTF
/// blobs separated by ':', e.g. the `.BTF` sections of vm-smoke's Debian kernels:
/// `objcopy -O binary --only-section=.BTF vmlinux btf`), checked against pahole.
#[test]
fn kernel_offsets_agree_with_pahole() {
    if Command::new("pahole").arg("--version").output().is_err() {
        let why = "pahole (Debian dwarves) is not installed";
        assert!(
            std::env::var_os("IPCTOP_REQUIRE_ROOT").is_none_or(|v| v != "1"),
            "{why} and IPCTOP_REQUIRE_ROOT=1 forbids skipping"
        );
        eprintln!("skipping: {why}");
        return;
    }
    let mut files: Vec<std::path::PathBuf> = std::env::var("IPCTOP_BTF_FILES")
        .unwrap_or_default()
        .split(':')
        .filter(|f| !f.is_empty())
        .map(Into::into)
        .collect();
    if Path::new(VMLINUX).exists() {
        files.push(VMLINUX.into());
    } else {
        eprintln!("no {VMLINUX}: the running kernel is not checked");
    }
    for f in files {
        check_against_pahole(&f);
    }
}

mod task; // TaskOffsets (tests/task.rs)

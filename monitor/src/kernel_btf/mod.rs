//! A small reader of the kernel's BTF (`/sys/kernel/btf/vmlinux`): the byte offsets of struct
//! members, through embedded and anonymous structs and unions, for the eBPF program to read
//! kernel memory with `bpf_probe_read_kernel` at load-time constant offsets (no CO-RE from
//! Rust: aya#349). Only what that needs: types are found by name, members by dotted path.
//!
//! Format: the kernel's Documentation/bpf/btf.rst. A header, a type section (records of
//! 12 bytes plus kind-specific data) and a string section; type ids count from 1 (0 is void).
//! Every read is bounds-checked: a damaged blob is an error, never a panic.
mod offsets;
#[cfg(test)]
mod tests;

pub use offsets::{running_kernel_offsets, IpcNsOffsets, TaskOffsets};

use std::path::Path;

/// Where the running kernel describes its own types.
pub const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

const MAGIC: u16 = 0xeb9f;
/// Typedefs and qualifiers followed before giving up (a loop in a damaged blob).
const MAX_HOPS: usize = 64;
/// Anonymous members nested inside each other, at most (the kernel has a handful).
const MAX_DEPTH: usize = 16;

/// BTF kinds (`BTF_KIND_*`).
mod kind {
    pub const INT: u8 = 1;
    pub const PTR: u8 = 2;
    pub const ARRAY: u8 = 3;
    pub const STRUCT: u8 = 4;
    pub const UNION: u8 = 5;
    pub const ENUM: u8 = 6;
    pub const FWD: u8 = 7;
    pub const TYPEDEF: u8 = 8;
    pub const VOLATILE: u8 = 9;
    pub const CONST: u8 = 10;
    pub const RESTRICT: u8 = 11;
    pub const FUNC: u8 = 12;
    pub const FUNC_PROTO: u8 = 13;
    pub const VAR: u8 = 14;
    pub const DATASEC: u8 = 15;
    pub const FLOAT: u8 = 16;
    pub const DECL_TAG: u8 = 17;
    pub const TYPE_TAG: u8 = 18;
    pub const ENUM64: u8 = 19;
}

/// Why an offset could not be computed: one sentence each.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum BtfError {
    #[error("cannot read the kernel's BTF ({path}): {reason}")]
    Unreadable { path: String, reason: String },
    #[error("the BTF data is damaged: {0}")]
    Malformed(String),
    #[error("the kernel's BTF has no struct {0}")]
    NoStruct(String),
    #[error("the kernel's BTF has no member {member} in struct {strukt}")]
    NoMember { strukt: String, member: String },
    #[error("{0} is a bitfield or not on a byte boundary, so it cannot be read at a byte offset")]
    Bitfield(String),
    #[error("{what} in the kernel's BTF is {found}, not {expected}")]
    WrongType {
        what: String,
        expected: String,
        found: String,
    },
}

/// "an int", "a pointer".
fn article(kind: &str) -> String {
    let an = kind.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {kind}", if an { "an" } else { "a" })
}

fn malformed(what: impl Into<String>) -> BtfError {
    BtfError::Malformed(what.into())
}

/// A member found by [`Btf::member`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// Bytes from the start of the outermost struct.
    pub offset: u32,
    /// Its size in bytes (pointers: 8).
    pub size: u32,
    /// Its type id (typedefs and qualifiers followed).
    pub type_id: u32,
    /// What it is: "int", "pointer", "struct", "union", "array", "enum", …
    pub kind: &'static str,
    /// For a pointer to a struct or union: that struct's name.
    pub pointee: Option<String>,
}

/// One type record: where its kind-specific data starts, and the three header words.
#[derive(Clone, Copy, Debug)]
struct Rec {
    name_off: u32,
    kind: u8,
    kind_flag: bool,
    vlen: u32,
    size_or_type: u32,
    /// Byte offset (in the type section) of the data after the 12-byte header.
    data: usize,
}

/// A parsed BTF blob: its type records indexed by id, and its strings.
pub struct Btf {
    data: Vec<u8>,
    big_endian: bool,
    types_start: usize,
    types_end: usize,
    strs_start: usize,
    strs_end: usize,
    /// Index = type id (0 is void and unused).
    recs: Vec<Rec>,
}

impl Btf {
    /// Reads and parses a BTF file (the running kernel's: [`VMLINUX`]).
    pub fn from_file(path: &Path) -> Result<Btf, BtfError> {
        let data = std::fs::read(path).map_err(|e| BtfError::Unreadable {
            path: path.display().to_string(),
            reason: if e.kind() == std::io::ErrorKind::NotFound {
                "no such file: the kernel was built without CONFIG_DEBUG_INFO_BTF".into()
            } else {
                e.to_string()
            },
        })?;
        Btf::parse(data)
    }

    /// Parses a raw BTF blob (as in /sys/kernel/btf/vmlinux or an ELF `.BTF` section).
    pub fn parse(data: Vec<u8>) -> Result<Btf, BtfError> {
        if data.len() < 24 {
            return Err(malformed("shorter than its header"));
        }
        let big_endian = match (data[0], data[1]) {
            (0x9f, 0xeb) => false,
            (0xeb, 0x9f) => true,
            _ => return Err(malformed("no BTF magic number at the start")),
        };
        let mut btf = Btf {
            data,
            big_endian,
            types_start: 0,
            types_end: 0,
            strs_start: 0,
            strs_end: 0,
            recs: Vec::new(),
        };
        debug_assert_eq!(btf.u16_at(0), Some(MAGIC));
        let word = |i: usize| btf.u32_at(i).map(|v| v as usize);
        let (hdr_len, type_off, type_len, str_off, str_len) = (
            word(4).unwrap_or(0),
            word(8).unwrap_or(0),
            word(12).unwrap_or(0),
            word(16).unwrap_or(0),
            word(20).unwrap_or(0),
        );
        if btf.data[2] != 1 {
            return Err(malformed(format!(
                "version {} (only 1 is known)",
                btf.data[2]
            )));
        }
        let len = btf.data.len();
        let section = |off: usize, size: usize, what: &str| {
            hdr_len
                .checked_add(off)
                .and_then(|s| Some((s, s.checked_add(size)?)))
                .filter(|&(s, e)| hdr_len >= 24 && s <= e && e <= len)
                .ok_or_else(|| malformed(format!("its {what} section lies outside the file")))
        };
        (btf.types_start, btf.types_end) = section(type_off, type_len, "type")?;
        (btf.strs_start, btf.strs_end) = section(str_off, str_len, "string")?;
        btf.recs = btf.index_types()?;
        Ok(btf)
    }

    fn bytes<const N: usize>(&self, i: usize) -> Option<[u8; N]> {
        self.data.get(i..i.checked_add(N)?)?.try_into().ok()
    }

    fn u16_at(&self, i: usize) -> Option<u16> {
        let b = self.bytes(i)?;
        Some(if self.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }

    fn u32_at(&self, i: usize) -> Option<u32> {
        let b = self.bytes(i)?;
        Some(if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    /// A word of the type section (`at` bytes into it), or a "damaged" error.
    fn type_word(&self, at: usize) -> Result<u32, BtfError> {
        self.types_start
            .checked_add(at)
            .filter(|&i| i.saturating_add(4) <= self.types_end)
            .and_then(|i| self.u32_at(i))
            .ok_or_else(|| malformed("a type record runs past the end of the type section"))
    }

    /// Walks the type section once, noting where each record is.
    fn index_types(&self) -> Result<Vec<Rec>, BtfError> {
        let len = self.types_end - self.types_start;
        // A record is at least 12 bytes: the count bounds the allocation.
        let mut recs = Vec::with_capacity(len / 12 + 1);
        recs.push(Rec {
            name_off: 0,
            kind: 0,
            kind_flag: false,
            vlen: 0,
            size_or_type: 0,
            data: 0,
        });
        let mut at = 0usize;
        while at < len {
            let info = self.type_word(at + 4)?;
            let rec = Rec {
                name_off: self.type_word(at)?,
                kind: ((info >> 24) & 0x1f) as u8,
                kind_flag: info >> 31 == 1,
                vlen: info & 0xffff,
                size_or_type: self.type_word(at + 8)?,
                data: at + 12,
            };
            let n = rec.vlen as usize;
            let extra = match rec.kind {
                kind::INT | kind::VAR | kind::DECL_TAG => 4,
                kind::ARRAY => 12,
                kind::STRUCT | kind::UNION | kind::DATASEC | kind::ENUM64 => 12 * n,
                kind::ENUM | kind::FUNC_PROTO => 8 * n,
                kind::PTR
                | kind::FWD
                | kind::TYPEDEF
                | kind::VOLATILE
                | kind::CONST
                | kind::RESTRICT
                | kind::FUNC
                | kind::FLOAT
                | kind::TYPE_TAG => 0,
                k => {
                    return Err(malformed(format!(
                        "type {} has kind {k}, which this reader does not know (a newer \
                         kernel's BTF?)",
                        recs.len()
                    )))
                }
            };
            at = rec.data + extra;
            if at > len {
                return Err(malformed("the last type record is cut short"));
            }
            recs.push(rec);
        }
        Ok(recs)
    }

    /// The number of types (void excluded).
    pub fn type_count(&self) -> usize {
        self.recs.len() - 1
    }

    /// The string at `off` in the string section ("" for 0 or out of range).
    fn name(&self, off: u32) -> &str {
        let Some(start) = self.strs_start.checked_add(off as usize) else {
            return "";
        };
        let tail = self.data.get(start..self.strs_end).unwrap_or_default();
        let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
        std::str::from_utf8(&tail[..end]).unwrap_or("")
    }

    fn rec(&self, id: u32) -> Result<Rec, BtfError> {
        self.recs
            .get(id as usize)
            .filter(|_| id != 0)
            .copied()
            .ok_or_else(|| malformed(format!("a reference to type {id}, which does not exist")))
    }

    /// Follows typedefs and qualifiers to the type they name (0 stays void).
    fn resolve(&self, mut id: u32) -> Result<u32, BtfError> {
        for _ in 0..MAX_HOPS {
            if id == 0 {
                return Ok(0);
            }
            let r = self.rec(id)?;
            match r.kind {
                kind::TYPEDEF | kind::VOLATILE | kind::CONST | kind::RESTRICT | kind::TYPE_TAG => {
                    id = r.size_or_type
                }
                _ => return Ok(id),
            }
        }
        Err(malformed("a loop of typedefs"))
    }

    /// The size of a type in bytes.
    fn size_of(&self, id: u32) -> Result<u32, BtfError> {
        let mut id = self.resolve(id)?;
        let mut count: u32 = 1;
        for _ in 0..MAX_HOPS {
            if id == 0 {
                return Ok(0);
            }
            let r = self.rec(id)?;
            let one = match r.kind {
                kind::PTR => std::mem::size_of::<usize>() as u32,
                kind::ARRAY => {
                    count = count.saturating_mul(self.type_word(r.data + 8)?);
                    id = self.resolve(self.type_word(r.data)?)?;
                    continue;
                }
                kind::INT
                | kind::STRUCT
                | kind::UNION
                | kind::ENUM
                | kind::ENUM64
                | kind::FLOAT => r.size_or_type,
                _ => 0,
            };
            return Ok(one.saturating_mul(count));
        }
        Err(malformed("arrays nested too deep"))
    }

    /// The id of the first non-empty struct named `name` (an empty one is a forward
    /// declaration's leftover).
    pub fn find_struct(&self, name: &str) -> Result<u32, BtfError> {
        let mut empty = None;
        for (id, r) in self.recs.iter().enumerate().skip(1) {
            if r.kind == kind::STRUCT && self.name(r.name_off) == name {
                if r.vlen > 0 {
                    return Ok(id as u32);
                }
                empty.get_or_insert(id as u32);
            }
        }
        empty.ok_or_else(|| BtfError::NoStruct(name.to_string()))
    }

    /// A member `name` of the struct or union `id`, looked for also inside its anonymous
    /// struct and union members: (bit offset from the start of `id`, bitfield size (0 when
    /// not a bitfield), member type id).
    fn find_member(
        &self,
        id: u32,
        name: &str,
        depth: usize,
    ) -> Result<Option<(u64, u32, u32)>, BtfError> {
        if depth > MAX_DEPTH {
            return Err(malformed("anonymous members nested too deep"));
        }
        let r = self.rec(id)?;
        for i in 0..r.vlen as usize {
            let at = r.data + 12 * i;
            let m_name = self.name(self.type_word(at)?);
            let m_type = self.type_word(at + 4)?;
            let raw = self.type_word(at + 8)?;
            let (bit_off, bits) = if r.kind_flag {
                (u64::from(raw & 0x00ff_ffff), raw >> 24)
            } else {
                (u64::from(raw), self.int_bitfield(m_type)?)
            };
            if m_name == name {
                return Ok(Some((bit_off, bits, m_type)));
            }
            if m_name.is_empty() {
                let inner = self.resolve(m_type)?;
                if inner != 0 && matches!(self.rec(inner)?.kind, kind::STRUCT | kind::UNION) {
                    if let Some((off, b, t)) = self.find_member(inner, name, depth + 1)? {
                        return Ok(Some((bit_off + off, b, t)));
                    }
                }
            }
        }
        Ok(None)
    }

    /// Without kind_flag, a bitfield is an int member whose type says fewer bits than its size
    /// (or a bit offset inside it).
    fn int_bitfield(&self, m_type: u32) -> Result<u32, BtfError> {
        let id = self.resolve(m_type)?;
        if id == 0 {
            return Ok(0);
        }
        let r = self.rec(id)?;
        if r.kind != kind::INT {
            return Ok(0);
        }
        let enc = self.type_word(r.data)?;
        let (bits, off) = (enc & 0xff, (enc >> 16) & 0xff);
        Ok(if off != 0 || bits != r.size_or_type.saturating_mul(8) {
            bits.max(1)
        } else {
            0
        })
    }

    /// A short word for what a type is.
    fn kind_name(&self, id: u32) -> Result<&'static str, BtfError> {
        if id == 0 {
            return Ok("void");
        }
        Ok(match self.rec(id)?.kind {
            kind::INT => "int",
            kind::PTR => "pointer",
            kind::ARRAY => "array",
            kind::STRUCT => "struct",
            kind::UNION => "union",
            kind::ENUM | kind::ENUM64 => "enum",
            kind::FWD => "forward declaration",
            kind::FLOAT => "float",
            kind::FUNC | kind::FUNC_PROTO => "function",
            _ => "other",
        })
    }

    /// The member at a dotted `path` ("ns.inum": member `inum` of the embedded member `ns`)
    /// of struct `strukt`, looking inside anonymous structs and unions at every step.
    pub fn member(&self, strukt: &str, path: &str) -> Result<Field, BtfError> {
        let mut id = self.find_struct(strukt)?;
        let mut bit_off = 0u64;
        let mut m_type = id;
        let mut walked = strukt.to_string();
        for (i, part) in path.split('.').enumerate() {
            if i > 0 {
                let inner = self.resolve(m_type)?;
                let k = self.kind_name(inner)?;
                if k != "struct" && k != "union" {
                    return Err(BtfError::WrongType {
                        what: walked,
                        expected: "a struct or union to look into".into(),
                        found: article(k),
                    });
                }
                id = inner;
            }
            let Some((off, bits, t)) = self.find_member(id, part, 0)? else {
                let r = self.rec(id)?;
                let container = match self.name(r.name_off) {
                    "" => walked.clone(),
                    n => n.to_string(),
                };
                return Err(BtfError::NoMember {
                    strukt: container,
                    member: part.to_string(),
                });
            };
            walked = format!("{walked}.{part}");
            if bits != 0 || off % 8 != 0 {
                return Err(BtfError::Bitfield(walked));
            }
            bit_off += off;
            m_type = t;
        }
        let resolved = self.resolve(m_type)?;
        let kind = self.kind_name(resolved)?;
        let pointee = if kind == "pointer" {
            let to = self.resolve(self.rec(resolved)?.size_or_type)?;
            match to {
                0 => None,
                to => {
                    let r = self.rec(to)?;
                    matches!(r.kind, kind::STRUCT | kind::UNION | kind::FWD)
                        .then(|| self.name(r.name_off).to_string())
                }
            }
        } else {
            None
        };
        Ok(Field {
            offset: u32::try_from(bit_off / 8).map_err(|_| malformed("an offset beyond 4 GiB"))?,
            size: self.size_of(resolved)?,
            type_id: resolved,
            kind,
            pointee,
        })
    }
}

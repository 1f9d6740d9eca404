//! Parsers for `/proc/sysvipc/{shm,sem,msg}`, driven by the header line.
//!
//! Kernels differ in columns (old ones have no `rss`/`swap` for shm, for example), so the
//! header says which column is where; required columns must be present, optional ones may
//! not be. `perms` is octal (and, for shm, carries `SHM_DEST`/`SHM_LOCKED`), uids/gids are
//! u32, sizes u64. A bad line gives one [`ParseError`] naming the file and line and is
//! skipped; nothing here panics on any input.
use std::fmt;

/// One line that could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub file: String,
    /// 1-based; the header is line 1.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// `shm_perm.mode` bit: the segment is marked for destruction (IPC_RMID while attached).
pub const SHM_DEST: u32 = 0o1000;
/// `shm_perm.mode` bit: the segment is locked in memory (SHM_LOCK).
pub const SHM_LOCKED: u32 = 0o2000;

/// A line of `/proc/sysvipc/shm`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShmRow {
    pub key: i32,
    pub shmid: i32,
    /// The whole mode as printed: permission bits plus SHM_DEST / SHM_LOCKED.
    pub mode: u32,
    pub size: u64,
    pub cpid: u32,
    pub lpid: u32,
    pub nattch: u64,
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    /// Unix seconds; 0 = never.
    pub atime: i64,
    pub dtime: i64,
    pub ctime: i64,
    /// Bytes resident / swapped (not on old kernels).
    pub rss: Option<u64>,
    pub swap: Option<u64>,
}

/// A line of `/proc/sysvipc/sem`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SemRow {
    pub key: i32,
    pub semid: i32,
    pub mode: u32,
    pub nsems: u32,
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    /// Last semop time (unix seconds); 0 = no semop has ever succeeded on the set.
    pub otime: i64,
    pub ctime: i64,
}

/// A line of `/proc/sysvipc/msg`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsgRow {
    pub key: i32,
    pub msqid: i32,
    pub mode: u32,
    /// Bytes currently in the queue.
    pub cbytes: u64,
    pub qnum: u64,
    pub lspid: u32,
    pub lrpid: u32,
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    pub stime: i64,
    pub rtime: i64,
    pub ctime: i64,
}

/// The columns of a file, from its header.
struct Columns<'a> {
    file: &'a str,
    names: Vec<&'a str>,
}

/// The fields of one line, looked up by column name.
struct Fields<'a, 'b> {
    cols: &'b Columns<'a>,
    values: Vec<&'a str>,
    line: usize,
}

impl<'a> Fields<'a, '_> {
    fn err(&self, message: String) -> ParseError {
        ParseError {
            file: self.cols.file.to_string(),
            line: self.line,
            message,
        }
    }

    fn raw(&self, name: &str) -> Option<&'a str> {
        let i = self.cols.names.iter().position(|n| *n == name)?;
        self.values.get(i).copied()
    }

    fn get<T: std::str::FromStr>(&self, name: &str) -> Result<T, ParseError> {
        let v = self
            .raw(name)
            .ok_or_else(|| self.err(format!("no `{name}` column")))?;
        v.parse()
            .map_err(|_| self.err(format!("`{name}` is not a valid number: {v:?}")))
    }

    fn opt<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, ParseError> {
        match self.raw(name) {
            None => Ok(None),
            Some(_) => self.get(name).map(Some),
        }
    }

    fn octal(&self, name: &str) -> Result<u32, ParseError> {
        let v = self
            .raw(name)
            .ok_or_else(|| self.err(format!("no `{name}` column")))?;
        u32::from_str_radix(v, 8)
            .map_err(|_| self.err(format!("`{name}` is not an octal number: {v:?}")))
    }
}

/// Splits `text` into header columns and lines, and calls `row` for each data line.
fn parse<T>(
    file: &str,
    text: &str,
    required: &[&str],
    row: impl Fn(&Fields) -> Result<T, ParseError>,
) -> (Vec<T>, Vec<ParseError>) {
    let mut lines = text.lines().enumerate();
    let mut errors = Vec::new();
    let header = loop {
        match lines.next() {
            None => {
                errors.push(ParseError {
                    file: file.to_string(),
                    line: 1,
                    message: "empty file: no header line".into(),
                });
                return (Vec::new(), errors);
            }
            Some((_, l)) if l.trim().is_empty() => continue,
            Some((_, l)) => break l,
        }
    };
    let cols = Columns {
        file,
        names: header.split_whitespace().collect(),
    };
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|r| !cols.names.contains(r))
        .collect();
    if !missing.is_empty() {
        errors.push(ParseError {
            file: file.to_string(),
            line: 1,
            message: format!(
                "header lacks the column(s) {}: {header:?}",
                missing.join(", ")
            ),
        });
        return (Vec::new(), errors);
    }
    let mut rows = Vec::new();
    for (i, l) in lines {
        if l.trim().is_empty() {
            continue;
        }
        let f = Fields {
            cols: &cols,
            values: l.split_whitespace().collect(),
            line: i + 1,
        };
        if f.values.len() != cols.names.len() {
            errors.push(f.err(format!(
                "expected {} fields as in the header, found {}",
                cols.names.len(),
                f.values.len()
            )));
            continue;
        }
        match row(&f) {
            Ok(r) => rows.push(r),
            Err(e) => errors.push(e),
        }
    }
    (rows, errors)
}

const SHM_REQUIRED: &[&str] = &[
    "key", "shmid", "perms", "size", "cpid", "lpid", "nattch", "uid", "gid", "cuid", "cgid",
    "atime", "dtime", "ctime",
];
const SEM_REQUIRED: &[&str] = &[
    "key", "semid", "perms", "nsems", "uid", "gid", "cuid", "cgid", "otime", "ctime",
];
const MSG_REQUIRED: &[&str] = &[
    "key", "msqid", "perms", "cbytes", "qnum", "lspid", "lrpid", "uid", "gid", "cuid", "cgid",
    "stime", "rtime", "ctime",
];

/// Parses the text of `/proc/sysvipc/shm`; `file` names it in errors.
pub fn parse_shm(file: &str, text: &str) -> (Vec<ShmRow>, Vec<ParseError>) {
    parse(file, text, SHM_REQUIRED, |f| {
        Ok(ShmRow {
            key: f.get("key")?,
            shmid: f.get("shmid")?,
            mode: f.octal("perms")?,
            size: f.get("size")?,
            cpid: f.get("cpid")?,
            lpid: f.get("lpid")?,
            nattch: f.get("nattch")?,
            uid: f.get("uid")?,
            gid: f.get("gid")?,
            cuid: f.get("cuid")?,
            cgid: f.get("cgid")?,
            atime: f.get("atime")?,
            dtime: f.get("dtime")?,
            ctime: f.get("ctime")?,
            rss: f.opt("rss")?,
            swap: f.opt("swap")?,
        })
    })
}

/// Parses the text of `/proc/sysvipc/sem`.
pub fn parse_sem(file: &str, text: &str) -> (Vec<SemRow>, Vec<ParseError>) {
    parse(file, text, SEM_REQUIRED, |f| {
        Ok(SemRow {
            key: f.get("key")?,
            semid: f.get("semid")?,
            mode: f.octal("perms")?,
            nsems: f.get("nsems")?,
            uid: f.get("uid")?,
            gid: f.get("gid")?,
            cuid: f.get("cuid")?,
            cgid: f.get("cgid")?,
            otime: f.get("otime")?,
            ctime: f.get("ctime")?,
        })
    })
}

/// Parses the text of `/proc/sysvipc/msg`.
pub fn parse_msg(file: &str, text: &str) -> (Vec<MsgRow>, Vec<ParseError>) {
    parse(file, text, MSG_REQUIRED, |f| {
        Ok(MsgRow {
            key: f.get("key")?,
            msqid: f.get("msqid")?,
            mode: f.octal("perms")?,
            cbytes: f.get("cbytes")?,
            qnum: f.get("qnum")?,
            lspid: f.get("lspid")?,
            lrpid: f.get("lrpid")?,
            uid: f.get("uid")?,
            gid: f.get("gid")?,
            cuid: f.get("cuid")?,
            cgid: f.get("cgid")?,
            stime: f.get("stime")?,
            rtime: f.get("rtime")?,
            ctime: f.get("ctime")?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Linux 6.x (and since 4.x): rss and swap at the end.
    const SHM_6: &str = "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap
         0         32  1600                 8192  1234  1240      2  1000  1000     0     0 1700000010 1700000005 1700000000                  8192                     0
1729359909      65537   600           4294967296   999     0      0 4294967294 100000 4294967294 100000          0          0 1700000001                     0                     0
";
    // Linux 2.6: no rss / swap.
    const SHM_26: &str = "       key      shmid perms       size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime
         0          0   666       1024   500   500      0     0     0     0     0          0          0 1300000000
";

    #[test]
    fn shm_modern_header() {
        let (rows, errs) = parse_shm("shm", SHM_6);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(rows.len(), 2);
        let r = &rows[0];
        assert_eq!(
            (r.key, r.shmid, r.size, r.cpid, r.lpid, r.nattch),
            (0, 32, 8192, 1234, 1240, 2)
        );
        // perms are octal and keep SHM_DEST.
        assert_eq!(r.mode, 0o1600);
        assert_ne!(r.mode & SHM_DEST, 0);
        assert_eq!(r.mode & 0o777, 0o600);
        assert_eq!(
            (r.atime, r.dtime, r.ctime),
            (1700000010, 1700000005, 1700000000)
        );
        assert_eq!((r.rss, r.swap), (Some(8192), Some(0)));
        // uids above u16, sizes above u32, a positive key.
        let r = &rows[1];
        assert_eq!((r.key, r.shmid, r.mode), (1729359909, 65537, 0o600));
        assert_eq!((r.uid, r.gid, r.cuid), (4294967294, 100000, 4294967294));
        assert_eq!(r.size, 4 << 30);
    }

    #[test]
    fn shm_old_header_has_no_rss() {
        let (rows, errs) = parse_shm("shm", SHM_26);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(rows[0].mode, 0o666);
        assert_eq!((rows[0].rss, rows[0].swap), (None, None));
    }

    #[test]
    fn negative_keys_and_reordered_columns() {
        // A hypothetical kernel that moves columns: the header drives the parse.
        let text = "shmid key perms size cpid lpid nattch uid gid cuid cgid atime dtime ctime\n\
                    7 -559038737 644 100 1 2 0 0 0 0 0 0 0 5\n";
        let (rows, errs) = parse_shm("shm", text);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(
            (rows[0].shmid, rows[0].key, rows[0].mode),
            (7, -559038737, 0o644)
        );
    }

    #[test]
    fn broken_lines_are_reported_once_each_and_skipped() {
        let text =
            "       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime
         0          1   600          3     0     0     0     0          0 1700000000
         0          2   600          3     0     0     0     0
         0          3   689          3     0     0     0     0          0 1700000000
         0          4   600         -3     0     0     0     0          0 1700000000
         0     banana   600          3     0     0     0     0          0 1700000000

         0          5   600          1 70000 70000     0     0 1700000001 1700000000
";
        let (rows, errs) = parse_sem("/proc/sysvipc/sem", text);
        assert_eq!(rows.iter().map(|r| r.semid).collect::<Vec<_>>(), [1, 5]);
        assert_eq!(rows[1].uid, 70000);
        assert_eq!(rows[1].otime, 1700000001);
        assert_eq!(errs.len(), 4, "{errs:?}");
        assert_eq!(
            errs.iter().map(|e| e.line).collect::<Vec<_>>(),
            [3, 4, 5, 6]
        );
        let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert!(
            msgs[0].starts_with("/proc/sysvipc/sem:3: expected 10 fields"),
            "{msgs:?}"
        );
        assert!(
            msgs[1].contains("`perms` is not an octal number"),
            "{msgs:?}"
        );
        assert!(msgs[2].contains("`nsems`"), "{msgs:?}");
        assert!(msgs[3].contains("`semid`"), "{msgs:?}");
    }

    #[test]
    fn msg_rows() {
        let text = "       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime      ctime
 305419896          3   660       12000          3  4242     0  1000  1000  1000  1000 1700000100          0 1700000000
";
        let (rows, errs) = parse_msg("msg", text);
        assert!(errs.is_empty(), "{errs:?}");
        let r = &rows[0];
        assert_eq!(
            (r.key, r.msqid, r.mode, r.cbytes, r.qnum),
            (0x12345678, 3, 0o660, 12000, 3)
        );
        assert_eq!(
            (r.lspid, r.lrpid, r.stime, r.rtime),
            (4242, 0, 1700000100, 0)
        );
    }

    #[test]
    fn empty_header_only_and_missing_columns() {
        let (rows, errs) = parse_msg("msg", "");
        assert!(rows.is_empty());
        assert_eq!(errs.len(), 1);
        assert!(errs[0].message.contains("no header"));

        let (rows, errs) = parse_msg("msg", MSG_HEADER_ONLY);
        assert!(rows.is_empty() && errs.is_empty());

        let (rows, errs) = parse_sem("sem", "key semid perms\n1 2 600\n");
        assert!(rows.is_empty());
        assert_eq!(errs.len(), 1);
        assert!(errs[0].message.contains("nsems"), "{errs:?}");
    }

    const MSG_HEADER_ONLY: &str = "       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime      ctime\n";

    #[test]
    fn garbage_never_panics() {
        let samples = [
            "\u{0}\u{0}\n\u{1}",
            "key\nkey\n",
            "key shmid perms size cpid lpid nattch uid gid cuid cgid atime dtime ctime\n\
             1 2 3 4 5 6 7 8 9 10 11 12 13 99999999999999999999999\n",
            "    \n   \n",
            "ünïcode ☃\n☃ ☃\n",
        ];
        for s in samples {
            let _ = parse_shm("shm", s);
            let _ = parse_sem("sem", s);
            let _ = parse_msg("msg", s);
        }
        // Every prefix of a real file too.
        for n in 0..SHM_6.len() {
            if SHM_6.is_char_boundary(n) {
                let _ = parse_shm("shm", &SHM_6[..n]);
            }
        }
    }
}

//! What ARCHITECTURE.md promises about the code's shape, checked on the real tree: no source
//! file over 600 lines (unless listed below, with the reason), no import cycles among the
//! library's top-level modules (`monitor/src/*`) nor among the dashboard's files
//! (`monitor/src/ui/**`), and every top-level module in its module table. The parser that finds a module's `crate::`
//! references has fixture tests of its own.
use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

/// The most lines a source file may have.
const MAX_LINES: usize = 600;

/// Files allowed over [`MAX_LINES`] for now, with the reason. Remove a row when its file is
/// split (the test fails on a row whose file is no longer over, or no longer there).
const ALLOWED: &[(&str, &str)] = &[];

/// Where the size limit applies.
const SIZED: &[&str] = &["monitor/src", "monitor-ebpf/src", "xtask/src"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is in the workspace")
        .to_path_buf()
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn no_source_file_is_over_600_lines_unless_allowed_with_a_reason() {
    let root = root();
    let mut over = BTreeMap::new();
    for dir in SIZED {
        for f in rust_files(&root.join(dir)) {
            let n = std::fs::read_to_string(&f).unwrap().lines().count();
            if n > MAX_LINES {
                let rel = f.strip_prefix(&root).unwrap().display().to_string();
                over.insert(rel, n);
            }
        }
    }
    let allowed: BTreeSet<&str> = ALLOWED.iter().map(|(f, _)| *f).collect();
    let too_big: Vec<String> = over
        .iter()
        .filter(|(f, _)| !allowed.contains(f.as_str()))
        .map(|(f, n)| format!("{f} ({n} lines)"))
        .collect();
    assert!(
        too_big.is_empty(),
        "over {MAX_LINES} lines: {} — split it by concern (ARCHITECTURE.md), or list it in \
         ALLOWED with the reason",
        too_big.join(", ")
    );
    let stale: Vec<&str> = allowed
        .iter()
        .filter(|f| !over.contains_key(**f))
        .copied()
        .collect();
    assert!(
        stale.is_empty(),
        "no longer over {MAX_LINES} lines (or gone): {} — remove from ALLOWED",
        stale.join(", ")
    );
}

/// `src` with its test-only code removed: a `#[cfg(test)]` item's braces (`mod tests { … }`)
/// or line (`#[cfg(test)] mod tests;`, `use …;`). Comments are dropped first.
fn without_tests(src: &str) -> String {
    let code: String = src
        .lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = String::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..i]);
        let item = &rest[i + "#[cfg(test)]".len()..];
        // The item ends at its first `;` or at the brace that closes its first `{`.
        let semi = item.find(';');
        let brace = item.find('{');
        let end = match (semi, brace) {
            (Some(s), Some(b)) if s < b => s + 1,
            (Some(s), None) => s + 1,
            (_, Some(b)) => {
                let mut depth = 0;
                let mut end = item.len();
                for (j, c) in item[b..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = b + j + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            (None, None) => item.len(),
        };
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

/// The first path segments after every `crate::` in `code` (`crate::{a::b, c}` gives a and
/// c; `self` is left out).
fn crate_refs(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut refs = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let before = code[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // e.g. `my_crate::`
        }
        let after = code[i + "crate::".len()..].trim_start();
        if let Some(group) = after.strip_prefix('{') {
            // The first segment of each of the group's top-level items.
            for item in split_top_level(group) {
                let name = ident(item);
                if !name.is_empty() && name != "self" {
                    refs.insert(name);
                }
            }
        } else {
            let name = ident(after);
            if !name.is_empty() && name != "self" {
                refs.insert(name);
            }
        }
    }
    refs
}

/// The comma-separated items of a brace group's inside (`group` starts after its `{`), up to
/// the closing brace.
fn split_top_level(group: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[start..i]);
                return items;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&group[start..]);
    items
}

/// Whether a file holds only tests (`tests.rs`, `*_tests.rs`, anything under a `tests/`).
fn test_only(rel: &Path) -> bool {
    let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name == "tests.rs"
        || name.ends_with("_tests.rs")
        || rel.components().any(|c| c.as_os_str() == "tests")
}

/// The top-level modules of `src` (files and folders beside lib.rs) and, for each, the other
/// top-level modules its non-test code names, with a file that names each.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut tops = BTreeSet::new();
    for e in std::fs::read_dir(src).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_stem().unwrap().to_string_lossy().to_string();
        let module = if p.is_dir() {
            name != "bin"
        } else {
            p.extension().is_some_and(|x| x == "rs") && name != "lib" && name != "main"
        };
        if module {
            tops.insert(name);
        }
    }
    let mut graph: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for f in rust_files(src) {
        let rel = f.strip_prefix(src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if !tops.contains(&top) || test_only(rel) {
            continue;
        }
        let code = without_tests(&std::fs::read_to_string(&f).unwrap());
        let edges = graph.entry(top.clone()).or_default();
        for r in crate_refs(&code) {
            if r != top && tops.contains(&r) {
                edges.entry(r).or_insert_with(|| rel.display().to_string());
            }
        }
    }
    graph
}

/// A cycle in `graph` as the modules along it (the first again at the end), if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeMap<String, String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeMap<String, String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        path.push(n.to_string());
        for next in graph.get(n).into_iter().flat_map(|e| e.keys()) {
            match state.get(next.as_str()) {
                Some(1) => {
                    let from = path.iter().position(|p| p == next).unwrap();
                    let mut cycle = path[from..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(next, graph, state, path) {
                        return Some(c);
                    }
                }
            }
        }
        path.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if !state.contains_key(n) {
            if let Some(c) = visit(n, graph, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

/// Fails with the hops of a cycle in `graph` (each with the file that makes it), if any.
fn assert_no_cycle(graph: &BTreeMap<String, BTreeMap<String, String>>, where_: &str) {
    if let Some(c) = find_cycle(graph) {
        let hops: Vec<String> = c
            .windows(2)
            .map(|w| format!("{} → {} ({})", w[0], w[1], graph[&w[0]][&w[1]]))
            .collect();
        panic!("an import cycle{where_}: {}", hops.join(", "));
    }
}

#[test]
fn the_librarys_top_level_modules_have_no_import_cycle() {
    let graph = module_graph(&root().join("monitor/src"));
    assert!(graph.len() > 10, "{graph:?}");
    assert_no_cycle(&graph, "");
}

#[test]
fn architecture_md_names_every_top_level_module() {
    let root = root();
    let doc = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let src = root.join("monitor/src");
    let mut missing = Vec::new();
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        let rel = p.strip_prefix(&src).unwrap();
        let name = rel.to_string_lossy().to_string();
        if ["lib.rs", "main.rs"].contains(&name.as_str()) || test_only(rel) {
            continue;
        }
        let named = if p.is_dir() {
            doc.contains(&format!("`{name}/")) || doc.contains(&format!("src/{name}/"))
        } else {
            doc.contains(&format!("`{name}`"))
        };
        if !named {
            missing.push(name);
        }
    }
    missing.sort();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's module table does not name: {}",
        missing.join(", ")
    );
}

#[test]
fn crate_references_are_found_in_use_lines_groups_and_paths() {
    let src = "use crate::{\n    event::{Args, Event},\n    model::Model,\n    self,\n};\n\
               use crate::text;\n\
               fn f() { crate::sysv::semctl(); my_crate::nothing(); }\n\
               // crate::comment is not code\n\
               /// [`crate::doc::Link`]\n";
    let refs = crate_refs(&without_tests(src));
    let want: BTreeSet<String> = ["event", "model", "text", "sysv"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(refs, want);
}

#[test]
fn test_only_code_is_left_out() {
    let src = "use crate::a;\n#[cfg(test)]\nmod tests {\n    use crate::b;\n    fn x() { if true { crate::c::d(); } }\n}\n\
               #[cfg(test)]\nmod more;\n#[cfg(test)]\nuse crate::e;\nfn g() { crate::f::h(); }\n";
    let refs = crate_refs(&without_tests(src));
    let want: BTreeSet<String> = ["a", "f"].into_iter().map(String::from).collect();
    assert_eq!(refs, want);
    assert!(test_only(Path::new("analysis/tests/leaks.rs")));
    assert!(test_only(Path::new("line_tests.rs")));
    assert!(!test_only(Path::new("model/account.rs")));
}

#[test]
fn a_cycle_is_found_and_a_tree_is_not() {
    let graph = |edges: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (a, b) in edges {
            g.entry(a.to_string())
                .or_default()
                .insert(b.to_string(), "f.rs".into());
        }
        g
    };
    let tree = graph(&[("cmd", "model"), ("cmd", "output"), ("output", "model")]);
    assert_eq!(find_cycle(&tree), None);
    let cyclic = graph(&[("cmd", "report"), ("report", "output"), ("output", "cmd")]);
    let c = find_cycle(&cyclic).expect("a cycle");
    assert_eq!(c.first(), c.last());
    assert_eq!(c.len(), 4, "{c:?}");
}

// ---- inside the dashboard: no import cycle among the files of `ui/` ----

/// A module's path from its file under `src` ("ui/rows/mod.rs" is `ui::rows`).
fn module_of(rel: &Path) -> Vec<String> {
    let mut v: Vec<String> = rel
        .components()
        .map(|c| {
            c.as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string()
        })
        .collect();
    if v.last().is_some_and(|l| l == "mod") {
        v.pop();
    }
    v
}

/// The paths (as segments) that start at `at` in `code`: `a::b::{c, d::{e, self}}` gives
/// a::b::c, a::b::d::e and a::b::d.
fn paths_at(code: &str) -> Vec<Vec<String>> {
    fn ident(s: &str) -> (&str, &str) {
        let s = s.trim_start();
        let end = s
            .char_indices()
            .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
            .map_or(s.len(), |(i, _)| i);
        (&s[..end], &s[end..])
    }
    fn walk(s: &str, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
        let s = s.trim_start();
        if let Some(group) = s.strip_prefix('{') {
            for item in split_top_level(group) {
                walk(item, prefix.clone(), out);
            }
            return;
        }
        let (name, rest) = ident(s);
        if name.is_empty() {
            // A glob names the module it is in; nothing (after a group's last comma) names
            // nothing.
            if s.starts_with('*') {
                out.push(prefix);
            }
            return;
        }
        let mut p = prefix;
        if name != "self" {
            p.push(name.to_string());
        }
        match rest.trim_start().strip_prefix("::") {
            Some(more) => walk(more, p, out),
            None => out.push(p),
        }
    }
    let mut out = Vec::new();
    walk(code, Vec::new(), &mut out);
    out
}

/// The modules of `ui/` that each of its files names in its non-test code: by
/// `crate::ui::…`, by `super::…` (also `super::super::…`), `self::…`, and by the names of
/// the modules it declares (`mod x;` then `x::…`). A path names the longest module it goes
/// through (`super::Cx` names the parent module, `super::table::Value` the sibling `table`).
fn ui_graph(src: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    let files: Vec<(PathBuf, Vec<String>)> = rust_files(&src.join("ui"))
        .into_iter()
        .filter(|f| !test_only(f.strip_prefix(src).unwrap()))
        .map(|f| {
            let m = module_of(f.strip_prefix(src).unwrap());
            (f, m)
        })
        .collect();
    let modules: BTreeSet<Vec<String>> = files.iter().map(|(_, m)| m.clone()).collect();
    let resolve = |segs: Vec<String>| -> Option<Vec<String>> {
        (1..=segs.len())
            .rev()
            .map(|n| segs[..n].to_vec())
            .find(|p| modules.contains(p))
    };
    let mut graph: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (f, me) in &files {
        let code = without_tests(&std::fs::read_to_string(f).unwrap());
        let name = me.join("::");
        // The module a `super::` is relative to: a file's parent, a mod.rs's parent too.
        let parent = me[..me.len() - 1].to_vec();
        let mut found: Vec<Vec<String>> = Vec::new();
        let starts = |pat: &str| -> Vec<usize> {
            code.match_indices(pat)
                .map(|(i, _)| i)
                .filter(|&i| {
                    let before = code[..i].chars().next_back();
                    !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
                })
                .collect()
        };
        for i in starts("crate::") {
            for p in paths_at(&code[i + "crate::".len()..]) {
                found.push(p);
            }
        }
        for i in starts("super::") {
            let mut rest = &code[i..];
            let mut base = parent.clone();
            rest = rest.strip_prefix("super::").unwrap();
            while let Some(r) = rest.trim_start().strip_prefix("super::") {
                base.pop();
                rest = r;
            }
            for p in paths_at(rest) {
                let mut full = base.clone();
                full.extend(p);
                found.push(full);
            }
        }
        let mut children: Vec<String> = Vec::new();
        for line in code.lines() {
            let l = line.trim_start().trim_start_matches("pub ");
            if let Some(m) = l.strip_prefix("mod ").and_then(|m| m.strip_suffix(';')) {
                children.push(m.trim().to_string());
            }
        }
        for c in children
            .iter()
            .map(|c| format!("{c}::"))
            .chain(["self::".to_string()])
        {
            for i in starts(&c) {
                let after = &code[i..];
                let after = after.strip_prefix("self::").unwrap_or(after);
                for p in paths_at(after) {
                    let mut full = me.clone();
                    full.extend(p);
                    found.push(full);
                }
            }
        }
        let edges = graph.entry(name.clone()).or_default();
        for p in found {
            if p.first().is_none_or(|s| s != "ui") {
                continue;
            }
            if let Some(m) = resolve(p) {
                let to = m.join("::");
                if to != name {
                    edges
                        .entry(to)
                        .or_insert_with(|| f.strip_prefix(src).unwrap().display().to_string());
                }
            }
        }
    }
    graph
}

#[test]
fn the_dashboards_files_have_no_import_cycle() {
    let graph = ui_graph(&root().join("monitor/src"));
    assert!(graph.len() > 20, "{graph:?}");
    // The layering ui/mod.rs documents: the app reads the rows, the views draw them.
    assert!(graph["ui::app"].contains_key("ui::rows"), "{graph:?}");
    assert!(!graph["ui::app"].keys().any(|k| k.starts_with("ui::views")));
    assert_no_cycle(&graph, " inside ui/");
}

#[test]
fn ui_paths_are_found_through_groups_super_and_child_modules() {
    let dir = std::env::temp_dir().join(format!("ipctop-arch-{}", std::process::id()));
    let ui = dir.join("ui");
    std::fs::create_dir_all(ui.join("rows")).unwrap();
    let write = |p: &str, s: &str| std::fs::write(ui.join(p), s).unwrap();
    write(
        "mod.rs",
        "pub mod rows;\npub mod app;\nfn f() { rows::build(); }\n",
    );
    write(
        "app.rs",
        "use super::{rows::{self, table::Value}, store};\nuse crate::{ui::theme::Theme, model};\n",
    );
    write("rows/mod.rs", "pub mod table;\npub use table::Value;\n");
    write(
        "rows/table.rs",
        "use super::super::app::X;\n#[cfg(test)]\nmod t { use super::super::Y; }\n",
    );
    write("store.rs", "");
    write("theme.rs", "");
    let g = ui_graph(&dir);
    let edges = |m: &str| g[m].keys().cloned().collect::<Vec<_>>();
    assert_eq!(edges("ui"), ["ui::rows"]);
    assert_eq!(
        edges("ui::app"),
        ["ui::rows", "ui::rows::table", "ui::store", "ui::theme"]
    );
    assert_eq!(edges("ui::rows"), ["ui::rows::table"]);
    assert_eq!(edges("ui::rows::table"), ["ui::app"]);
    // app → rows::table → app: a cycle.
    assert!(find_cycle(&g).is_some());
    // A child naming its parent's items (`super::*` in rows/table.rs) is an edge to the
    // parent: with the parent naming the child, a cycle too.
    write(
        "rows/table.rs",
        "use super::*;\nuse crate::ui::{\n    store,\n};\n",
    );
    let g = ui_graph(&dir);
    assert_eq!(
        g["ui::rows::table"].keys().collect::<Vec<_>>(),
        ["ui::rows", "ui::store"]
    );
    assert!(find_cycle(&g).is_some());
    std::fs::remove_dir_all(&dir).unwrap();
}

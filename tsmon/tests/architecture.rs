//! The runtime crate's files import one way (see `ARCHITECTURE.md`): no file reaches itself
//! through `crate::` or `super::` paths. The same reading of the sources as
//! `../shared/tools/import_cycles.py`: paths in code lines (not comments, not strings, not the
//! `#[cfg(test)] mod tests` block at a file's end), each resolved to the longest module prefix
//! that is a file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A file's module path (`["store", "cell"]`; the crate root is `[]`).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("lib" | "main" | "mod")
    ) {
        parts.pop();
    }
    parts
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The code of a line: no comment, string contents blanked.
fn code(line: &str) -> Option<String> {
    let t = line.trim();
    if t.starts_with("//") {
        return None;
    }
    let mut out = String::new();
    let mut in_str = false;
    let mut escaped = false;
    for c in t.chars() {
        if in_str {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
                out.push('"');
            }
        } else {
            if c == '"' {
                in_str = true;
            }
            out.push(c);
        }
    }
    Some(out)
}

/// The paths after `prefix` (`crate`, or a run of `super::`) in `line`: each as its segments.
fn paths_after(line: &str, prefix: &str) -> Vec<(usize, Vec<String>)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = line[from..].find(prefix) {
        let start = from + at;
        from = start + prefix.len();
        if line[..start].chars().next_back().is_some_and(is_ident) {
            continue;
        }
        let mut ups = 0;
        let mut rest = &line[start..];
        if prefix == "super::" {
            while let Some(r) = rest.strip_prefix("super::") {
                ups += 1;
                rest = r;
            }
            from = start + ups * "super::".len();
        } else {
            rest = &rest[prefix.len()..];
            let Some(r) = rest.strip_prefix("::") else {
                continue;
            };
            rest = r;
        }
        let mut segs = Vec::new();
        for seg in rest.split("::") {
            let ident: String = seg.chars().take_while(|c| is_ident(*c)).collect();
            if ident.is_empty() {
                break;
            }
            let whole = ident.len() == seg.len();
            segs.push(ident);
            if !whole {
                break;
            }
        }
        found.push((ups, segs));
    }
    found
}

#[test]
fn the_runtime_crates_files_import_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let modules: BTreeMap<Vec<String>, PathBuf> = paths
        .iter()
        .map(|p| (module_of(&src, p), p.clone()))
        .collect();
    let resolve = |path: &[String]| -> Option<Vec<String>> {
        (1..=path.len())
            .rev()
            .map(|k| path[..k].to_vec())
            .find(|p| modules.contains_key(p))
    };
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, file) in &modules {
        let mut text = std::fs::read_to_string(file).unwrap();
        if let Some(cut) = text.find("#[cfg(test)]\nmod tests {") {
            text.truncate(cut);
        }
        let out = edges.entry(module.clone()).or_default();
        for line in text.lines().filter_map(code) {
            for (_, segs) in paths_after(&line, "crate") {
                if let Some(t) = resolve(&segs)
                    && !t.is_empty()
                    && t != *module
                {
                    out.insert(t);
                }
            }
            for (ups, segs) in paths_after(&line, "super::") {
                if ups > module.len() {
                    continue;
                }
                let mut path = module[..module.len() - ups].to_vec();
                path.extend(segs);
                if let Some(t) = resolve(&path)
                    && t != *module
                {
                    out.insert(t);
                }
            }
        }
    }
    // A cycle: a module that reaches itself. Depth-first, reporting the first one found.
    fn reach(
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        at: &Vec<String>,
        trail: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        if let Some(i) = trail.iter().position(|m| m == at) {
            return Some(trail[i..].to_vec());
        }
        if done.contains(at) {
            return None;
        }
        trail.push(at.clone());
        for next in edges.get(at).into_iter().flatten() {
            if let Some(cycle) = reach(edges, next, trail, done) {
                return Some(cycle);
            }
        }
        trail.pop();
        done.insert(at.clone());
        None
    }
    let mut done = BTreeSet::new();
    for module in modules.keys() {
        if let Some(cycle) = reach(&edges, module, &mut Vec::new(), &mut done) {
            let names: Vec<String> = cycle
                .iter()
                .map(|m| modules[m].strip_prefix(&src).unwrap().display().to_string())
                .collect();
            panic!("an import cycle: {} -> (back)", names.join(" -> "));
        }
    }
    assert!(
        edges.len() > 30,
        "the sources were read: {} files",
        edges.len()
    );
}

/// The code lines of a runtime file, without its `#[cfg(test)] mod tests` block.
fn code_lines(file: &Path) -> Vec<String> {
    let mut text = std::fs::read_to_string(file).unwrap();
    if let Some(cut) = text.find("#[cfg(test)]\nmod tests {") {
        text.truncate(cut);
    }
    text.lines().filter_map(code).collect()
}

#[test]
fn the_process_environment_is_read_in_env_rs_alone() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let readers: Vec<String> = paths
        .iter()
        .filter(|p| {
            code_lines(p).iter().any(|l| {
                ["env::var(", "env::vars(", "env::var_os(", "env::vars_os("]
                    .iter()
                    .any(|call| l.contains(call))
            })
        })
        .map(|p| p.strip_prefix(&src).unwrap().display().to_string())
        .collect();
    assert_eq!(
        readers,
        ["env.rs"],
        "every environment read goes through env.rs"
    );
}

#[test]
fn no_runtime_file_is_over_600_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let mut long: Vec<(usize, String)> = paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            let code = text.split("#[cfg(test)]\nmod tests {").next().unwrap_or("");
            let name = p.strip_prefix(&src).unwrap().display().to_string();
            (code.lines().count(), name)
        })
        .filter(|(n, _)| *n > 600)
        .collect();
    long.sort();
    assert!(long.is_empty(), "split these by concept: {long:?}");
}

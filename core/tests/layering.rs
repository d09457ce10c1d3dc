//! The core's layering, checked on its sources: each top-level module belongs to a layer, a
//! layer imports only from the layers below it, and no file imports itself back through
//! others (no import loop). See the table in `src/lib.rs`.
//!
//! The check reads every `crate::…` and `super::…` path outside `#[cfg(test)]` modules (test
//! code may reach anywhere) and resolves it to the file that defines it. A parent module
//! declaring or re-exporting its own children is structure, not a dependency, and is skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Layers from top (0) to bottom. Modules of the same layer may not import each other, except
/// the shared ones at the bottom.
const LAYERS: &[&[&str]] = &[
    &["ffi"],
    &["client"],
    &["session"],
    &["oidc"],
    &["config"],
    &["http", "storage"],
    &["error", "secret", "clock", "sync"],
];
/// Files outside the layering: the crate root and the unit tests' shared doubles.
const EXEMPT: &[&str] = &["lib.rs", "test_support.rs"];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a source file: `oidc/jws.rs` → `["oidc", "jws"]`, `oidc/mod.rs` →
/// `["oidc"]`, `lib.rs` → `[]`.
fn module_of(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") || parts == ["lib"] {
        parts.pop();
    }
    parts
}

/// The file defining the longest prefix of `path` that is a module, and that prefix.
fn resolve(path: &[String], files: &BTreeMap<Vec<String>, PathBuf>) -> Option<Vec<String>> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|prefix| files.contains_key(prefix))
}

/// The source without its `#[cfg(test)]` items (from the attribute to the end of the file:
/// test modules sit at the end in this crate).
fn without_tests(source: &str) -> &str {
    match source
        .find("#[cfg(test)]\nmod tests")
        .or_else(|| source.find("#[cfg(test)]\npub(crate) mod tests"))
    {
        Some(i) => &source[..i],
        None => source,
    }
}

/// Every module path the code refers to, absolute from the crate root, with `super::`
/// resolved against `module`. `use crate::a::{b, c::d}` yields `a::b` and `a::c::d` (the
/// group's first level is enough to find the file).
fn references(source: &str, module: &[String]) -> BTreeSet<Vec<String>> {
    let mut found = BTreeSet::new();
    let code: String = source
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    for start in ["crate::", "super::"] {
        let mut rest = code.as_str();
        while let Some(i) = rest.find(start) {
            let before = rest[..i].chars().last();
            rest = &rest[i + start.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue; // `$crate::`, `foo::super::`, `keyfob::crate…`
            }
            let path: Vec<String> = rest
                .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .next()
                .unwrap_or("")
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            let mut absolute = if start == "crate::" {
                Vec::new()
            } else {
                module[..module.len().saturating_sub(1)].to_vec()
            };
            absolute.extend(path);
            found.insert(absolute);
        }
    }
    found
}

struct Crate {
    files: BTreeMap<Vec<String>, PathBuf>,
    /// Module → the modules it depends on (resolved to defining files).
    edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
}

fn read_crate() -> Crate {
    let root = src_dir();
    let mut paths = Vec::new();
    rust_files(&root, &mut paths);
    let files: BTreeMap<Vec<String>, PathBuf> = paths
        .iter()
        .map(|p| (module_of(p.strip_prefix(&root).unwrap()), p.clone()))
        .collect();
    let mut edges = BTreeMap::new();
    for (module, path) in &files {
        let relative = path
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .to_string();
        if EXEMPT.contains(&relative.as_str()) {
            continue;
        }
        let source = fs::read_to_string(path).unwrap();
        let targets = references(without_tests(&source), module)
            .iter()
            .filter_map(|r| resolve(r, &files))
            .filter(|t| t != module)
            // A parent declaring or re-exporting its children is structure.
            .filter(|t| !(t.len() == module.len() + 1 && t.starts_with(module)))
            .collect();
        edges.insert(module.clone(), targets);
    }
    Crate { files, edges }
}

#[test]
fn every_module_is_in_a_layer() {
    let krate = read_crate();
    let unplaced: Vec<_> = krate
        .files
        .keys()
        .filter(|m| !m.is_empty() && m[0] != "test_support" && layer_of(&m[0]).is_none())
        .collect();
    assert!(
        unplaced.is_empty(),
        "add these to LAYERS in tests/layering.rs (and to the table in src/lib.rs): {unplaced:?}"
    );
}

#[test]
fn layers_import_only_from_the_layers_below() {
    let krate = read_crate();
    let mut upward = Vec::new();
    for (from, targets) in &krate.edges {
        let Some(from_layer) = layer_of(&from[0]) else {
            continue;
        };
        for to in targets {
            if to[0] == from[0] || to[0] == "test_support" {
                continue;
            }
            let to_layer = layer_of(&to[0]).expect("placed");
            let shared = to_layer == LAYERS.len() - 1 && from_layer == to_layer;
            if to_layer <= from_layer && !shared {
                upward.push(format!("{} -> {}", from.join("::"), to.join("::")));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that point up or sideways: {upward:#?}"
    );
    // The check sees the imports it is meant to see.
    let client = &krate.edges[&vec!["client".to_string(), "refresh".to_string()]];
    assert!(client.contains(&vec!["oidc".to_string(), "token".to_string()]));
}

#[test]
fn no_import_loops() {
    let krate = read_crate();
    // Depth-first search for a back edge; report the loop it closes.
    fn visit(
        node: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        stack: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
        loops: &mut Vec<String>,
    ) {
        if done.contains(node) {
            return;
        }
        if let Some(i) = stack.iter().position(|n| n == node) {
            let cycle: Vec<String> = stack[i..].iter().map(|m| m.join("::")).collect();
            loops.push(format!("{} -> {}", cycle.join(" -> "), node.join("::")));
            return;
        }
        stack.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            visit(next, edges, stack, done, loops);
        }
        stack.pop();
        done.insert(node.clone());
    }
    let mut loops = Vec::new();
    let mut done = BTreeSet::new();
    for node in krate.edges.keys() {
        visit(node, &krate.edges, &mut Vec::new(), &mut done, &mut loops);
    }
    assert!(loops.is_empty(), "import loops: {loops:#?}");
}

//! What a stack of layers must look like, computed from the layers' entries with the OCI
//! whiteout rules, and what a directory actually looks like, for exact comparison.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::image::Entry;

/// One node of a tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// A directory with its permission bits.
    Dir(u32),
    /// A file with its content and permission bits.
    File(Vec<u8>, u32),
    /// A symbolic link with its target.
    Symlink(String),
}

/// Paths (relative, `/`-separated) to nodes.
pub type Tree = BTreeMap<String, Node>;

fn remove_below(tree: &mut Tree, dir: &str) {
    let prefix = format!("{dir}/");
    tree.retain(|path, _| !path.starts_with(&prefix));
}

/// Applies layers, lowest first, the way overlayfs shows them.
pub fn expected(layers: &[Vec<Entry>]) -> Tree {
    let mut tree = Tree::new();
    for layer in layers {
        for entry in layer {
            match entry {
                Entry::Whiteout(path) => {
                    tree.remove(path);
                    remove_below(&mut tree, path);
                }
                Entry::Opaque(dir) => remove_below(&mut tree, dir),
                Entry::Dir(path, mode) => {
                    tree.insert(path.clone(), Node::Dir(*mode));
                }
                Entry::File(path, data, mode) => {
                    remove_below(&mut tree, path);
                    tree.insert(path.clone(), Node::File(data.clone(), *mode));
                }
                Entry::Symlink(path, target) => {
                    remove_below(&mut tree, path);
                    tree.insert(path.clone(), Node::Symlink(target.clone()));
                }
            }
        }
    }
    tree
}

/// Reads a directory tree (without following symlinks).
pub fn read(root: &Path) -> Tree {
    let mut tree = Tree::new();
    walk(root, "", &mut tree);
    tree
}

fn walk(dir: &Path, prefix: &str, tree: &mut Tree) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry"))
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let meta = fs::symlink_metadata(entry.path()).expect("metadata");
        let mode = meta.permissions().mode() & 0o7777;
        if meta.file_type().is_symlink() {
            let target = fs::read_link(entry.path()).expect("readlink");
            tree.insert(path, Node::Symlink(target.to_string_lossy().into_owned()));
        } else if meta.is_dir() {
            tree.insert(path.clone(), Node::Dir(mode));
            walk(&entry.path(), &path, tree);
        } else {
            let data = fs::read(entry.path()).expect("file content");
            tree.insert(path, Node::File(data, mode));
        }
    }
}

/// A readable description of how two trees differ (empty when equal).
pub fn diff(expected: &Tree, actual: &Tree) -> String {
    let mut out = String::new();
    for (path, node) in expected {
        match actual.get(path) {
            None => out.push_str(&format!("missing: {path}\n")),
            Some(other) if other != node => out.push_str(&format!("differs: {path}\n")),
            _ => {}
        }
    }
    for path in actual.keys() {
        if !expected.contains_key(path) {
            out.push_str(&format!("unexpected: {path}\n"));
        }
    }
    out
}

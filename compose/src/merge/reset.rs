//! `!reset` and `!override` tags of an override file.
//!
//! compose-go records the path of every tagged node while reading the override file, drops
//! the `!reset` nodes from it, and, before merging, deletes from the earlier files' tree
//! every node found at a recorded path: a reset node then disappears, an override node is
//! taken as it is because there is nothing left to merge it with.

use crate::value::{Map, Path, Seg, Value};
use crate::yaml::MergeTag;
use std::collections::HashSet;

/// The tags of one file, ready to apply.
pub(super) struct Tags {
    /// Paths of `!reset` nodes: dropped from the file's own tree.
    resets: HashSet<Path>,
    /// Every ancestor of a reset path, so that the walk only enters subtrees holding one.
    reset_ancestors: HashSet<Path>,
    /// Paths of all tagged nodes, whose counterpart in the earlier files is deleted.
    tagged: Vec<Path>,
}

impl Tags {
    /// Collects the tags that take effect. A tag inside a node that is itself tagged has no
    /// effect: compose-go does not look into a tagged node.
    pub(super) fn new(tags: &[(Path, MergeTag)]) -> Tags {
        let all: HashSet<&[Seg]> = tags.iter().map(|(path, _)| path.0.as_slice()).collect();
        let effective: Vec<&(Path, MergeTag)> = tags
            .iter()
            .filter(|(path, _)| {
                !(0..path.0.len()).any(|len| path.0.get(..len).is_some_and(|p| all.contains(p)))
            })
            .collect();
        let mut resets = HashSet::new();
        let mut reset_ancestors = HashSet::new();
        for (path, tag) in &effective {
            if *tag == MergeTag::Reset {
                resets.insert(path.clone());
                let mut ancestor = path.parent();
                while let Some(p) = ancestor {
                    ancestor = p.parent();
                    reset_ancestors.insert(p);
                }
            }
        }
        Tags {
            resets,
            reset_ancestors,
            tagged: effective.into_iter().map(|(p, _)| p.clone()).collect(),
        }
    }

    /// The file's tree without its `!reset` nodes. A `!reset` on the whole document leaves
    /// an empty mapping: the file contributes nothing (compose-go fails on it with a crash).
    pub(super) fn strip_resets(&self, tree: Value) -> Value {
        if self.resets.is_empty() {
            return tree;
        }
        if self.resets.contains(&Path::root()) {
            return Value::Map(Default::default());
        }
        self.strip(tree, Path::root())
    }

    fn strip(&self, node: Value, path: Path) -> Value {
        if !self.reset_ancestors.contains(&path) {
            return node;
        }
        match node {
            Value::Map(map) => Value::Map(
                map.into_iter()
                    .filter_map(|(k, v)| {
                        let child = path.key(&k);
                        if self.resets.contains(&child) {
                            None
                        } else {
                            Some((k, self.strip(v, child)))
                        }
                    })
                    .collect(),
            ),
            Value::Seq(seq) => Value::Seq(
                seq.into_iter()
                    .enumerate()
                    .filter_map(|(i, v)| {
                        let child = path.index(i);
                        if self.resets.contains(&child) {
                            None
                        } else {
                            Some(self.strip(v, child))
                        }
                    })
                    .collect(),
            ),
            scalar => scalar,
        }
    }

    /// Deletes from the earlier files' tree the nodes at the paths of tagged nodes. Only
    /// mapping entries can be deleted: compose-go names sequence entries differently in the
    /// two trees, so a tag on (or under) a sequence entry never reaches the earlier files.
    pub(super) fn clear_in_base(&self, base: &mut Value) {
        for path in &self.tagged {
            let Some((last, parents)) = path.0.split_last() else {
                continue;
            };
            let Seg::Key(last) = last else {
                continue;
            };
            if let Some(map) = map_at(base, parents) {
                map.shift_remove(last);
            }
        }
    }
}

/// The mapping reached from `node` through the mapping keys `segs`, if every step is one.
fn map_at<'a>(node: &'a mut Value, segs: &[Seg]) -> Option<&'a mut Map> {
    match (segs.split_first(), node) {
        (None, Value::Map(map)) => Some(map),
        (Some((Seg::Key(k), rest)), Value::Map(map)) => map_at(map.get_mut(k)?, rest),
        _ => None,
    }
}

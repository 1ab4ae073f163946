//! Merging of compose files, as Docker Compose does with `-f a.yaml -f b.yaml`.
//!
//! This follows compose-go's `override` package and its `!reset` / `!override` processing
//! (the loader's reset processor), on generic [`Value`] trees:
//!
//! - [`merge`] folds an override file's tree into the tree of the files before it, with the
//!   per-attribute rules of compose-go (`KEY=VALUE` lists, unions, logging drivers, ...) and a
//!   deep merge for everything else;
//! - [`enforce_unicity`] then removes the redefinitions that the merge produced in sequences
//!   whose entries have an identity (ports, volumes by target, `KEY=VALUE` keys, ...);
//! - [`apply_resets`] handles the tags of the first file, which has nothing to merge into.
//!
//! The rules are the ones of compose-go v2.13 (the revision the conformance corpus was taken
//! from). Where compose-go would crash on malformed input, an [`Error`](crate::Error) is
//! returned instead.

mod gofmt;
mod reset;
mod rules;
mod unicity;

use crate::error::Result;
use crate::value::{Path, Value};
use crate::yaml::MergeTag;

/// Merges `over` (the tree of an override file) into `base` (the merged tree of the files
/// before it) and returns the result.
///
/// `over_tags` are the override file's `!reset` / `!override` tags, by path from its root
/// (as [`crate::yaml::Document::tags`] gives them). A `!reset` node is dropped from the
/// override and whatever `base` has at that path is removed; an `!override` node replaces
/// the node of `base` at that path instead of merging with it. Tags on sequence entries
/// only act on the override's own sequence (compose-go cannot address a base entry).
///
/// The result is not yet de-duplicated: run [`enforce_unicity`] on it, as the loader does
/// after every merge.
pub fn merge(base: Value, over: Value, over_tags: &[(Path, MergeTag)]) -> Result<Value> {
    let tags = reset::Tags::new(over_tags);
    let over = tags.strip_resets(over);
    let mut base = base;
    tags.clear_in_base(&mut base);
    rules::merge_root(base, over)
}

/// Removes redefinitions from the sequences whose entries have an identity, keeping each
/// entry at the position of its first definition with the value of its last one: ports,
/// volumes and devices by target, secrets and configs by target, `env_file` by path, and
/// `KEY=VALUE` lists (environment, labels, sysctls, ...) by key.
///
/// Fails, as compose-go does, on entries whose identity cannot be read (a volume without
/// target, a malformed short volume syntax, a non-string `KEY=VALUE` entry, ...).
pub fn enforce_unicity(tree: &mut Value) -> Result<()> {
    unicity::enforce(tree)
}

/// Processes the tags of a file that is not merged into anything (the first file): its
/// `!reset` nodes are dropped and its `!override` nodes stay as plain values.
pub fn apply_resets(tree: &mut Value, tags: &[(Path, MergeTag)]) {
    let tags = reset::Tags::new(tags);
    *tree = tags.strip_resets(std::mem::take(tree));
}

//! The outcome table (Markdown, for stderr and `target/conformance-report.md`) and the list
//! of scenarios that must pass.

use std::path::Path;

use super::run::Outcome;

/// One scenario's line.
pub struct Row {
    /// `TestName`.
    pub name: String,
    /// `core` or `build`.
    pub class: String,
    /// How it ended.
    pub outcome: Outcome,
    /// What teardown could not remove.
    pub leftovers: Option<String>,
    /// A pass on the second attempt: the first attempt's failure.
    pub flaky: Option<String>,
}

/// Reads `expected-pass.txt`: one scenario per line; `#` starts a comment.
pub fn expected_pass(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text
        .lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect())
}

fn cell(text: &str) -> String {
    let one_line = text.replace('\n', " ").replace('|', "\\|");
    if one_line.chars().count() > 400 {
        let cut: String = one_line.chars().take(400).collect();
        format!("{cut}...")
    } else {
        one_line
    }
}

/// The table and the regressions: scenarios of `expected` that ran (are in `selected`) and
/// did not pass, and names in `expected` that are no scenario at all.
pub fn render(rows: &[Row], expected: &[String], selected: &[String]) -> (String, Vec<String>) {
    let mut regressions = Vec::new();
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let mut table = String::from(
        "| scenario | class | result | failing step | reason |\n| --- | --- | --- | --- | --- |\n",
    );
    for row in rows {
        let (result, step, reason) = match &row.outcome {
            Outcome::Pass => {
                passed += 1;
                match &row.flaky {
                    Some(first) => ("passed (flaky)", String::new(), first.clone()),
                    None => ("passed", String::new(), String::new()),
                }
            }
            Outcome::Fail { step, reason } => {
                failed += 1;
                ("FAILED", step.clone(), reason.clone())
            }
            Outcome::Skip(why) => {
                skipped += 1;
                ("skipped", String::new(), why.clone())
            }
        };
        let must = expected.contains(&row.name);
        if must && !matches!(row.outcome, Outcome::Pass) {
            regressions.push(row.name.clone());
        }
        table.push_str(&format!(
            "| {}{} | {} | {result} | {} | {} |\n",
            row.name,
            if must { " (expected)" } else { "" },
            row.class,
            cell(&step),
            cell(&reason)
        ));
    }
    for name in expected {
        if selected.contains(name) && !rows.iter().any(|r| &r.name == name) {
            regressions.push(name.clone());
        }
    }
    let all: Vec<&String> = rows.iter().map(|r| &r.name).collect();
    for name in expected {
        if !selected.contains(name)
            && !all.contains(&name)
            && !Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/conformance")
                .join(name)
                .is_dir()
        {
            regressions.push(format!("{name} (not a scenario)"));
        }
    }
    table.push_str(&format!(
        "\n{passed} passed, {failed} failed, {skipped} skipped (of {}).\n",
        rows.len()
    ));
    let left: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            r.leftovers
                .as_ref()
                .map(|l| format!("- {}: {}\n", r.name, cell(l)))
        })
        .collect();
    if !left.is_empty() {
        table.push_str("\nTeardown left containers behind (berth's `down`):\n\n");
        table.extend(left);
    }
    (table, regressions)
}

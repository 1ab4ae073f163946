//! `--format` for listings, as Docker reads it: `table`, `json`, `table TEMPLATE` or a
//! TEMPLATE; templates are the small subset of Go templates people use in them
//! (`{{.Field}}`, `{{json .}}`, `{{json .Field}}`, `{{.Label "key"}}`), fields taken from the
//! JSON object of a row.
//! Tables are laid out as Docker's tabwriter does (cells at least 10 wide, 3 apart).

use anyhow::bail;
use serde_json::Value;

/// A parsed `--format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// The command's default table.
    Table,
    /// One JSON object per line.
    Json,
    /// A table of the template's cells, with a header.
    TableTemplate(String),
    /// The template, once per row.
    Template(String),
}

impl Format {
    /// Reads a `--format` value (an empty one is the table).
    pub fn parse(text: &str) -> Format {
        let unescape = |t: &str| t.trim().replace("\\t", "\t").replace("\\n", "\n");
        match text.trim() {
            "" | "table" => Format::Table,
            "json" => Format::Json,
            t if t.starts_with("table ") => Format::TableTemplate(unescape(&t[6..])),
            t => Format::Template(unescape(t)),
        }
    }
}

/// Renders `template` for one row.
pub fn render(template: &str, row: &Value) -> anyhow::Result<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            bail!("template parsing error: unclosed action in {template:?}");
        };
        out.push_str(&action(after[..end].trim(), row, template)?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn action(action: &str, row: &Value, template: &str) -> anyhow::Result<String> {
    let action = action.trim_start_matches('-').trim_end_matches('-').trim();
    if let Some(key) = action.strip_prefix(".Label ") {
        // `{{.Label "key"}}`: a value of the row's `k=v,...` labels.
        let key = key.trim().trim_matches('"');
        let labels = row.get("Labels").and_then(Value::as_str).unwrap_or("");
        return Ok(labels
            .split(',')
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
            .unwrap_or("")
            .to_owned());
    }
    if let Some(arg) = action.strip_prefix("json ") {
        let value = field(arg.trim(), row, template)?;
        return Ok(serde_json::to_string(value)?);
    }
    Ok(match field(action, row, template)? {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    })
}

fn field<'a>(path: &str, row: &'a Value, template: &str) -> anyhow::Result<&'a Value> {
    if path == "." {
        return Ok(row);
    }
    let Some(name) = path.strip_prefix('.') else {
        bail!(
            "template: unsupported action {{{{{path}}}}} in {template:?} (berth supports {{{{.Field}}}} and {{{{json .}}}})"
        );
    };
    row.get(name)
        .ok_or_else(|| anyhow::anyhow!("template: {template:?}: can't evaluate field {name}"))
}

/// The header cell of a template field, as Docker names it.
fn header_of(action: &str, headers: &[(&str, &str)]) -> String {
    if action.trim().starts_with(".Label ") {
        return "LABEL".to_owned();
    }
    let name = action
        .trim()
        .trim_start_matches("json ")
        .trim()
        .trim_start_matches('.');
    headers
        .iter()
        .find(|(field, _)| *field == name)
        .map_or_else(|| name.to_uppercase(), |(_, h)| (*h).to_owned())
}

/// The header row of a table template: each action replaced by its field's header.
pub fn header(template: &str, headers: &[(&str, &str)]) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            break;
        };
        out.push_str(&header_of(&after[..end], headers));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// Lays out tab-separated lines as Go's tabwriter with padding 3 and `min_width` (10 in
/// Docker's listings, 20 in Compose's `ls`): every cell but the last of a line is padded
/// to its column's width.
pub fn tabwrite(lines: &[String], min_width: usize) -> String {
    let rows: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let mut widths: Vec<usize> = Vec::new();
    for row in &rows {
        for (i, cell) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
            let w = (cell.chars().count() + 3).max(min_width);
            if widths.len() <= i {
                widths.push(w);
            } else {
                widths[i] = widths[i].max(w);
            }
        }
    }
    let mut out = String::new();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i] - cell.chars().count();
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

/// Renders rows in `format`; `table` is the command's default template (`table` prefix
/// left out), `headers` the header of each field.
pub fn write_rows(
    format: &Format,
    default_table: &str,
    headers: &[(&str, &str)],
    rows: &[Value],
) -> anyhow::Result<String> {
    let mut out = String::new();
    match format {
        Format::Json => {
            for row in rows {
                out.push_str(&serde_json::to_string(row)?);
                out.push('\n');
            }
        }
        Format::Table | Format::TableTemplate(_) => {
            let template = match format {
                Format::TableTemplate(t) => t.as_str(),
                _ => default_table,
            };
            let mut lines = vec![header(template, headers)];
            for row in rows {
                lines.push(render(template, row)?);
            }
            out = tabwrite(&lines, 10);
        }
        Format::Template(t) => {
            for row in rows {
                out.push_str(&render(t, row)?);
                out.push('\n');
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_and_tables_like_docker() {
        let row = json!({"Name": "p-web-1", "ExitCode": 0, "Publishers": []});
        assert_eq!(
            render("{{.Name}}: {{ .ExitCode }}", &row).unwrap(),
            "p-web-1: 0"
        );
        assert_eq!(render("{{json .Publishers}}", &row).unwrap(), "[]");
        assert!(render("{{.Nope}}", &row).is_err());
        let labeled = json!({"Labels": "a.b=1,com.docker.compose.service=web"});
        assert_eq!(
            render("{{.Label \"com.docker.compose.service\"}}", &labeled).unwrap(),
            "web"
        );
        assert_eq!(render("{{.Label \"x\"}}", &labeled).unwrap(), "");
        assert!(render("{{if .Name}}x{{end}}", &row).is_err());
        assert_eq!(
            Format::parse("table {{.Name}}\\t{{.ExitCode}}"),
            Format::TableTemplate("{{.Name}}\t{{.ExitCode}}".into())
        );
        let text = write_rows(
            &Format::parse("table {{.Name}}\\t{{.ExitCode}}\\t{{.Name}}"),
            "",
            &[("Name", "NAME"), ("ExitCode", "EXIT CODE")],
            &[row],
        )
        .unwrap();
        assert_eq!(
            text,
            "NAME      EXIT CODE   NAME\np-web-1   0           p-web-1\n"
        );
    }
}

//! Just enough HCL structure to edit Terraform by line: brace depth at each line (strings,
//! comments and heredocs skipped), top-level blocks with their labels, a block's attributes and
//! nested blocks. Edits are line-based so the rest of the file keeps its formatting.

/// A block: `kind "label" "label" {` … `}` spanning lines `start..=end`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub kind: String,
    pub labels: Vec<String>,
    pub start: usize,
    pub end: usize,
}

impl Block {
    /// `type.label` for a resource (`aws_s3_bucket.logs`), `data.type.label` for data,
    /// `var.name` for a variable.
    pub fn address(&self) -> Option<String> {
        match (self.kind.as_str(), self.labels.as_slice()) {
            ("resource", [t, l]) => Some(format!("{t}.{l}")),
            ("data", [t, l]) => Some(format!("data.{t}.{l}")),
            ("variable", [n]) => Some(format!("var.{n}")),
            ("module", [n]) => Some(format!("module.{n}")),
            _ => None,
        }
    }

    pub fn resource_type(&self) -> Option<&str> {
        (self.kind == "resource")
            .then(|| self.labels.first().map(String::as_str))
            .flatten()
    }

    pub fn label(&self) -> Option<&str> {
        self.labels.last().map(String::as_str)
    }
}

/// Brace depth at the start of every line (and one more entry: the depth at the end).
pub fn depths(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut depth: usize = 0;
    let mut in_block_comment = false;
    let mut heredoc: Option<String> = None;
    for line in text.split('\n') {
        out.push(depth);
        if let Some(tag) = &heredoc {
            if line.trim() == tag {
                heredoc = None;
            }
            continue;
        }
        let bytes: Vec<char> = line.chars().collect();
        let mut i = 0;
        let mut in_str = false;
        let mut interp = 0usize;
        while i < bytes.len() {
            let c = bytes[i];
            let next = bytes.get(i + 1).copied();
            if in_block_comment {
                if c == '*' && next == Some('/') {
                    in_block_comment = false;
                    i += 1;
                }
            } else if in_str {
                if c == '\\' {
                    i += 1;
                } else if c == '$' && next == Some('{') {
                    interp += 1;
                    i += 1;
                } else if c == '}' && interp > 0 {
                    interp -= 1;
                } else if c == '"' && interp == 0 {
                    in_str = false;
                }
            } else {
                match c {
                    '"' => in_str = true,
                    '#' => break,
                    '/' if next == Some('/') => break,
                    '/' if next == Some('*') => {
                        in_block_comment = true;
                        i += 1;
                    }
                    '<' if next == Some('<') => {
                        let rest: String = bytes[i + 2..].iter().collect();
                        let rest = rest.trim_start_matches('-');
                        let tag: String = rest
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect();
                        if !tag.is_empty() {
                            heredoc = Some(tag);
                            break;
                        }
                    }
                    '{' | '[' | '(' => depth += 1,
                    '}' | ']' | ')' => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
            i += 1;
        }
    }
    out
}

/// Parse `kind "a" "b" {` (labels may be bare identifiers). `None` if the line is not a block
/// opener.
fn block_header(line: &str) -> Option<(String, Vec<String>)> {
    let t = line.trim();
    let body = t.strip_suffix('{').or_else(|| {
        // `kind "a" {}` on one line.
        t.strip_suffix("{}").or_else(|| {
            t.find('{')
                .map(|i| &t[..=i])
                .and_then(|s| s.strip_suffix('{'))
        })
    })?;
    let mut words = Vec::new();
    let mut rest = body.trim();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('"') {
            let end = r.find('"')?;
            words.push(r[..end].to_string());
            rest = r[end + 1..].trim_start();
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let w = &rest[..end];
            if !w
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return None;
            }
            words.push(w.to_string());
            rest = rest[end..].trim_start();
        }
    }
    let kind = words.first()?.clone();
    if kind.contains('"') || kind.is_empty() {
        return None;
    }
    Some((kind, words[1..].to_vec()))
}

/// The blocks whose header is at `depth` between lines `from..=to` (top level: `0, 0, n-1`).
pub fn blocks_at(
    lines: &[&str],
    depths: &[usize],
    depth: usize,
    from: usize,
    to: usize,
) -> Vec<Block> {
    let mut out = Vec::new();
    let mut i = from;
    while i <= to && i < lines.len() {
        if depths[i] == depth && depths.get(i + 1).is_some_and(|d| *d > depth) {
            if let Some((kind, labels)) = block_header(lines[i]) {
                let mut end = i + 1;
                while end < lines.len() && depths.get(end + 1).is_some_and(|d| *d > depth) {
                    end += 1;
                }
                out.push(Block {
                    kind,
                    labels,
                    start: i,
                    end: end.min(lines.len() - 1),
                });
                i = end + 1;
                continue;
            }
        } else if depths[i] == depth
            && let Some((kind, labels)) = block_header(lines[i])
            && lines[i].trim_end().ends_with('}')
        {
            out.push(Block {
                kind,
                labels,
                start: i,
                end: i,
            });
        }
        i += 1;
    }
    out
}

/// Top-level blocks of a file.
pub fn blocks(text: &str) -> Vec<Block> {
    let lines: Vec<&str> = text.split('\n').collect();
    let d = depths(text);
    if lines.is_empty() {
        return Vec::new();
    }
    blocks_at(&lines, &d, 0, 0, lines.len() - 1)
}

/// The line of attribute `key = …` directly inside the block spanning `start..=end` at `depth`
/// (the block's own depth + 1).
pub fn attr(
    lines: &[&str],
    depths: &[usize],
    start: usize,
    end: usize,
    depth: usize,
    key: &str,
) -> Option<usize> {
    (start + 1..=end.min(lines.len().saturating_sub(1))).find(|&i| {
        depths[i] == depth && {
            let t = lines[i].trim_start();
            t.strip_prefix(key).is_some_and(|r| {
                r.trim_start().starts_with('=') && !r.trim_start().starts_with("==")
            })
        }
    })
}

/// The value text of an attribute line (`key = value  # comment` → `value`).
pub fn value_of(line: &str) -> &str {
    let v = line
        .split_once('=')
        .map(|(_, v)| v)
        .unwrap_or_default()
        .trim();
    match v.find(" #").or_else(|| v.find(" //")) {
        Some(i) if !v[..i].contains('"') || v[..i].matches('"').count().is_multiple_of(2) => {
            v[..i].trim()
        }
        _ => v,
    }
}

/// The indentation of a line.
pub fn indent(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

/// The indentation used for attributes inside a block starting at `start` (its first
/// non-blank inner line's, or the header's plus two spaces).
pub fn inner_indent(lines: &[&str], start: usize, end: usize) -> String {
    (start + 1..end)
        .map(|i| lines[i])
        .find(|l| !l.trim().is_empty())
        .map(|l| indent(l).to_string())
        .unwrap_or_else(|| format!("{}  ", indent(lines[start])))
}

/// The first string literal in a value (`"abc"` → `abc`).
pub fn string_value(value: &str) -> Option<&str> {
    let r = value.trim().strip_prefix('"')?;
    r.find('"').map(|e| &r[..e])
}

/// Every quoted string literal in a text.
pub fn literals(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(s) = rest.find('"') {
        let r = &rest[s + 1..];
        match r.find('"') {
            Some(e) => {
                out.push(&r[..e]);
                rest = &r[e + 1..];
            }
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TF: &str = r#"# header { not a brace
resource "aws_s3_bucket" "logs" {
  bucket = "acme-logs" # comment {
  tags = {
    Name = "x}"
  }
  policy = <<EOF
{ "a": [ }
EOF
}

variable "x" {}
data "aws_iam_policy_document" "d" {
  statement {
    actions = ["*"]
  }
}
"#;

    #[test]
    fn blocks_skip_strings_comments_and_heredocs() {
        let b = blocks(TF);
        let kinds: Vec<(String, Vec<String>, usize, usize)> = b
            .iter()
            .map(|b| (b.kind.clone(), b.labels.clone(), b.start, b.end))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (
                    "resource".into(),
                    vec!["aws_s3_bucket".into(), "logs".into()],
                    1,
                    9
                ),
                ("variable".into(), vec!["x".into()], 11, 11),
                (
                    "data".into(),
                    vec!["aws_iam_policy_document".into(), "d".into()],
                    12,
                    16
                ),
            ]
        );
        assert_eq!(b[0].address().unwrap(), "aws_s3_bucket.logs");
        let lines: Vec<&str> = TF.split('\n').collect();
        let d = depths(TF);
        let at = attr(&lines, &d, 1, 9, 1, "bucket").unwrap();
        assert_eq!(string_value(value_of(lines[at])), Some("acme-logs"));
        let nested = blocks_at(&lines, &d, 1, 13, 15);
        assert_eq!(nested[0].kind, "statement");
        assert_eq!((nested[0].start, nested[0].end), (13, 15));
    }
}

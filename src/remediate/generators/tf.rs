//! Line-level Terraform editing on top of [`crate::remediate::hcl`]. Every edit returns the
//! whole new text; generators apply one edit at a time until nothing changes ([`fixpoint`]),
//! which also makes them idempotent.

use crate::remediate::hcl::{self, Block};

use super::Ctx;

/// A parsed view of one Terraform file.
pub(crate) struct Tf<'t> {
    pub lines: Vec<&'t str>,
    pub depths: Vec<usize>,
    pub blocks: Vec<Block>,
}

impl<'t> Tf<'t> {
    pub fn new(text: &'t str) -> Tf<'t> {
        let lines: Vec<&str> = text.split('\n').collect();
        let depths = hcl::depths(text);
        let blocks = if lines.is_empty() {
            Vec::new()
        } else {
            hcl::blocks_at(&lines, &depths, 0, 0, lines.len() - 1)
        };
        Tf {
            lines,
            depths,
            blocks,
        }
    }

    fn depth_of(&self, b: &Block) -> usize {
        self.depths.get(b.start).copied().unwrap_or(0)
    }

    pub fn body(&self, b: &Block) -> String {
        self.lines[b.start..=b.end.min(self.lines.len() - 1)].join("\n")
    }

    /// Resource blocks of one type.
    pub fn resources<'a>(&'a self, rtype: &'a str) -> impl Iterator<Item = &'a Block> + 'a {
        self.blocks
            .iter()
            .filter(move |b| b.resource_type() == Some(rtype))
    }

    /// Resource blocks of one type that define the alert's resource.
    pub fn own<'a>(
        &'a self,
        cx: &'a Ctx<'_>,
        rtype: &'a str,
    ) -> impl Iterator<Item = &'a Block> + 'a {
        self.resources(rtype)
            .filter(move |b| cx.block_is_resource(&self.lines.join("\n"), b))
    }

    /// Does block `b` reference `target` (`aws_s3_bucket.x.id`) or hold one of its names?
    pub fn refers_to(&self, cx: &Ctx<'_>, b: &Block, target: &Block) -> bool {
        let body = self.body(b);
        target
            .address()
            .is_some_and(|a| body.contains(&format!("{a}.")))
            || hcl::literals(&body).iter().any(|l| cx.ident.is(l))
    }

    /// Child blocks named `name` directly inside `b`.
    pub fn children(&self, b: &Block, name: &str) -> Vec<Block> {
        if b.end <= b.start + 1 {
            return Vec::new();
        }
        hcl::blocks_at(
            &self.lines,
            &self.depths,
            self.depth_of(b) + 1,
            b.start + 1,
            b.end - 1,
        )
        .into_iter()
        .filter(|c| c.kind == name)
        .collect()
    }

    /// The line of attribute `key` directly inside `b`.
    pub fn attr(&self, b: &Block, key: &str) -> Option<usize> {
        hcl::attr(
            &self.lines,
            &self.depths,
            b.start,
            b.end,
            self.depth_of(b) + 1,
            key,
        )
    }

    /// The value text of attribute `key` directly inside `b`.
    pub fn value(&self, b: &Block, key: &str) -> Option<&'t str> {
        self.attr(b, key).map(|i| hcl::value_of(self.lines[i]))
    }

    /// The string value of attribute `key`.
    pub fn string(&self, b: &Block, key: &str) -> Option<&'t str> {
        self.value(b, key).and_then(hcl::string_value)
    }

    fn with(&self, f: impl FnOnce(&mut Vec<String>)) -> String {
        let mut v: Vec<String> = self.lines.iter().map(|s| s.to_string()).collect();
        f(&mut v);
        v.join("\n")
    }

    /// Set `key = value` in `b`: replace the value after `=` when present (alignment kept),
    /// else insert the attribute as the block's last line.
    pub fn set(&self, b: &Block, key: &str, value: &str) -> String {
        match self.attr(b, key) {
            Some(i) => {
                let line = self.lines[i];
                let eq = line.find('=').unwrap_or(line.len());
                let comment = {
                    let v = &line[eq + 1..];
                    let val = hcl::value_of(line);
                    v.find(val)
                        .map(|p| v[p + val.len()..].to_string())
                        .unwrap_or_default()
                };
                let new = format!("{}= {value}{comment}", &line[..eq]);
                self.with(|v| v[i] = new)
            }
            None => {
                let indent = hcl::inner_indent(&self.lines, b.start, b.end);
                let at = if b.start == b.end { b.start } else { b.end };
                if b.start == b.end {
                    // `kind "a" "b" {}` on one line: open it up.
                    let header = self.lines[b.start]
                        .trim_end()
                        .trim_end_matches("{}")
                        .trim_end()
                        .to_string();
                    let outer = hcl::indent(self.lines[b.start]).to_string();
                    return self.with(|v| {
                        v[at] = format!("{header} {{");
                        v.insert(at + 1, format!("{outer}  {key} = {value}"));
                        v.insert(at + 2, format!("{outer}}}"));
                    });
                }
                self.with(|v| v.insert(at, format!("{indent}{key} = {value}")))
            }
        }
    }

    /// Replace line `i`.
    pub fn replace_line(&self, i: usize, new: String) -> String {
        self.with(|v| v[i] = new)
    }

    /// Insert `snippet` (lines without a trailing newline) after block `b`, separated by a
    /// blank line.
    pub fn insert_after(&self, b: &Block, snippet: &str) -> String {
        self.with(|v| {
            let mut at = b.end + 1;
            v.insert(at, String::new());
            at += 1;
            for (k, l) in snippet.split('\n').enumerate() {
                v.insert(at + k, l.to_string());
            }
        })
    }

    /// Append `snippet` at the end of the file, after a blank line.
    pub fn append(&self, snippet: &str) -> String {
        self.with(|v| {
            // Keep the file's final newline: insert before the trailing empty element.
            let at = if v.last().is_some_and(String::is_empty) {
                v.len() - 1
            } else {
                v.len()
            };
            let mut add = vec![String::new()];
            add.extend(snippet.split('\n').map(str::to_string));
            if at == v.len() {
                // No final newline: keep it that way.
                v.extend(add);
            } else {
                for (k, l) in add.into_iter().enumerate() {
                    v.insert(at + k, l);
                }
            }
        })
    }

    /// Remove block `b` and one blank line before it.
    pub fn remove(&self, b: &Block) -> String {
        self.with(|v| {
            let from = if b.start > 0 && v[b.start - 1].trim().is_empty() {
                b.start - 1
            } else {
                b.start
            };
            v.drain(from..=b.end);
        })
    }

    /// Is `var.name` declared in this file?
    pub fn has_variable(&self, name: &str) -> bool {
        self.blocks
            .iter()
            .any(|b| b.kind == "variable" && b.labels.first().is_some_and(|l| l == name))
    }
}

/// Apply `step` until it changes nothing (at most 64 times); `Some(new)` when anything changed.
pub(crate) fn fixpoint(text: &str, mut step: impl FnMut(&str) -> Option<String>) -> Option<String> {
    let mut cur = text.to_string();
    for _ in 0..64 {
        match step(&cur) {
            Some(n) if n != cur => cur = n,
            _ => break,
        }
    }
    (cur != text).then_some(cur)
}

/// A `variable` block with no default: Terraform asks for the value, so nothing made up is
/// applied silently.
pub(crate) fn variable(name: &str, ty: &str, description: &str) -> String {
    format!(
        "variable \"{name}\" {{\n  description = {}\n  type        = {ty}\n}}",
        super::hcl_string(description)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces_keeps_comments_and_inserts() {
        let text = "resource \"a\" \"b\" {\n  acl    = \"public-read\" # why\n}\nresource \"c\" \"d\" {}\n";
        let tf = Tf::new(text);
        let b = &tf.blocks[0];
        assert_eq!(
            tf.set(b, "acl", "\"private\""),
            "resource \"a\" \"b\" {\n  acl    = \"private\" # why\n}\nresource \"c\" \"d\" {}\n"
        );
        assert_eq!(
            tf.set(b, "x", "true"),
            "resource \"a\" \"b\" {\n  acl    = \"public-read\" # why\n  x = true\n}\nresource \"c\" \"d\" {}\n"
        );
        let one = &tf.blocks[1];
        assert_eq!(
            tf.set(one, "x", "1"),
            "resource \"a\" \"b\" {\n  acl    = \"public-read\" # why\n}\nresource \"c\" \"d\" {\n  x = 1\n}\n"
        );
        assert_eq!(
            tf.append("variable \"v\" {}"),
            "resource \"a\" \"b\" {\n  acl    = \"public-read\" # why\n}\nresource \"c\" \"d\" {}\n\nvariable \"v\" {}\n"
        );
    }
}

//! Just enough YAML structure (by indentation) to edit Kubernetes manifests by line: documents,
//! a document's kind and name, list items (`containers`, `volumes`), a node's children.
//! Block-style YAML only, which is what manifests use; flow-style nodes are left alone.

/// A document: lines `start..=end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Doc {
    pub start: usize,
    pub end: usize,
}

/// A list item: lines `start..=end`; its keys sit at `key_indent`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Item {
    pub start: usize,
    pub end: usize,
    pub key_indent: usize,
}

pub fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn blank(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// `key: value` of a line (a leading `- ` is skipped). Value may be empty.
pub fn key_value(line: &str) -> Option<(&str, &str)> {
    let t = line.trim_start();
    let t = t.strip_prefix("- ").unwrap_or(t).trim_start();
    let (k, v) = t.split_once(':')?;
    if k.is_empty() || k.contains(' ') || k.starts_with(['"', '\'', '{', '[', '#']) {
        return None;
    }
    if !(v.is_empty() || v.starts_with(' ')) {
        return None;
    }
    let v = v.trim();
    let v = match v.find(" #") {
        Some(i) => v[..i].trim_end(),
        None => v,
    };
    Some((k, v))
}

/// The column of a line's key (after a leading `- `).
fn key_col(line: &str) -> usize {
    let i = indent_of(line);
    let rest = &line[i..];
    match rest.strip_prefix("- ") {
        Some(r) => i + 2 + (r.len() - r.trim_start().len()),
        None => i,
    }
}

/// Unquote a scalar.
pub fn scalar(v: &str) -> &str {
    v.trim().trim_matches(['"', '\''])
}

pub fn docs(lines: &[String]) -> Vec<Doc> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, l) in lines.iter().enumerate() {
        if l.trim_end() == "---" {
            if i > start {
                out.push(Doc { start, end: i - 1 });
            }
            start = i + 1;
        }
    }
    if start < lines.len() {
        out.push(Doc {
            start,
            end: lines.len() - 1,
        });
    }
    out
}

/// The last line of the node whose key is on `line` (deeper-indented lines that follow).
pub fn node_end(lines: &[String], line: usize, limit: usize) -> usize {
    let col = key_col(&lines[line]);
    let mut end = line;
    for (i, l) in lines.iter().enumerate().take(limit + 1).skip(line + 1) {
        if blank(l) {
            continue;
        }
        if indent_of(l) <= col {
            break;
        }
        end = i;
    }
    end
}

/// Top-level `key: value` of a document.
pub fn top(lines: &[String], doc: Doc, key: &str) -> Option<(usize, String)> {
    (doc.start..=doc.end).find_map(|i| {
        let l = &lines[i];
        (indent_of(l) == 0)
            .then(|| key_value(l))
            .flatten()
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| (i, scalar(v).to_string()))
    })
}

/// The direct child `key` of the node on `parent` (lines up to `parent_end`).
pub fn child(lines: &[String], parent: usize, parent_end: usize, key: &str) -> Option<usize> {
    let col = child_col(lines, parent, parent_end)?;
    (parent + 1..=parent_end).find(|&i| {
        let l = &lines[i];
        !blank(l)
            && key_col(l) == col
            && indent_of(l) <= col
            && key_value(l).is_some_and(|(k, _)| k == key)
    })
}

/// The column of a node's children (its first non-blank deeper line).
pub fn child_col(lines: &[String], parent: usize, parent_end: usize) -> Option<usize> {
    (parent + 1..=parent_end)
        .map(|i| &lines[i])
        .find(|l| !blank(l))
        .map(|l| key_col(l))
        .filter(|c| *c > key_col(&lines[parent]))
}

/// `metadata.name` and `metadata.namespace` of a document.
pub fn meta(lines: &[String], doc: Doc) -> (Option<String>, Option<String>) {
    let Some((m, _)) = top(lines, doc, "metadata") else {
        return (None, None);
    };
    let end = node_end(lines, m, doc.end);
    let get = |k: &str| {
        child(lines, m, end, k)
            .and_then(|i| key_value(&lines[i]).map(|(_, v)| scalar(v).to_string()))
    };
    (get("name"), get("namespace"))
}

/// The items of every list under a key named `list_key` in the document (at any depth).
pub fn items(lines: &[String], doc: Doc, list_key: &str) -> Vec<Item> {
    let mut out = Vec::new();
    for i in doc.start..=doc.end {
        let Some((k, v)) = key_value(&lines[i]) else {
            continue;
        };
        if k != list_key || !v.is_empty() {
            continue;
        }
        let parent_col = key_col(&lines[i]);
        let mut j = i + 1;
        while j <= doc.end {
            let l = &lines[j];
            if blank(l) {
                j += 1;
                continue;
            }
            let ind = indent_of(l);
            if !l.trim_start().starts_with("- ") || ind < parent_col {
                break;
            }
            let key_indent = key_col(l);
            let mut end = j;
            let mut k2 = j + 1;
            while k2 <= doc.end {
                let m = &lines[k2];
                if !blank(m) {
                    if indent_of(m) < key_indent {
                        break;
                    }
                    end = k2;
                }
                k2 += 1;
            }
            out.push(Item {
                start: j,
                end,
                key_indent,
            });
            j = end + 1;
        }
    }
    out
}

/// The line of key `key` directly in a list item.
pub fn item_key(lines: &[String], item: Item, key: &str) -> Option<usize> {
    (item.start..=item.end).find(|&i| {
        let l = &lines[i];
        !blank(l) && key_col(l) == item.key_indent && key_value(l).is_some_and(|(k, _)| k == key)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<String> {
        s.split('\n').map(str::to_string).collect()
    }

    #[test]
    fn documents_metadata_and_containers() {
        let y = lines(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: nginx:1.19\n          securityContext:\n            privileged: true\n        - name: side\n          image: busybox\n      volumes:\n      - name: host\n        hostPath:\n          path: /\n",
        );
        let d = docs(&y);
        assert_eq!(d.len(), 2);
        assert_eq!(meta(&y, d[1]), (Some("web".into()), Some("shop".into())));
        assert_eq!(top(&y, d[1], "kind").unwrap().1, "Deployment");
        let c = items(&y, d[1], "containers");
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].start, c[0].end, c[0].key_indent), (14, 17, 10));
        let sc = item_key(&y, c[0], "securityContext").unwrap();
        let end = node_end(&y, sc, c[0].end);
        assert_eq!(child(&y, sc, end, "privileged"), Some(17));
        let v = items(&y, d[1], "volumes");
        assert_eq!(v.len(), 1);
        assert_eq!(item_key(&y, v[0], "hostPath"), Some(22));
    }
}

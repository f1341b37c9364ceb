//! Turning stored alerts into text for people (table, text) and for programs (JSON, CSV,
//! Markdown). Every vendor string passes through `sanitize` on its way out. Ages, timestamps
//! and one alert in full are [`crate::present`]'s, shared with the console.

use std::fmt::Write as _;

use crate::domain::EpochMs;
use crate::present::{age, iso};
use crate::sanitize::{self, csv_field, fit, markdown_cell, markdown_inline, one_line};
use crate::store::QueueRow;

struct Col {
    head: &'static str,
    min: usize,
    max: usize,
    flex: bool,
}

const COLS: [Col; 10] = [
    Col {
        head: "REF",
        min: 3,
        max: 9,
        flex: false,
    },
    Col {
        head: "SCORE",
        min: 5,
        max: 5,
        flex: false,
    },
    Col {
        head: "SEV",
        min: 4,
        max: 12,
        flex: false,
    },
    Col {
        head: "VENDOR",
        min: 3,
        max: 14,
        flex: false,
    },
    Col {
        head: "TITLE",
        min: 12,
        max: 80,
        flex: true,
    },
    Col {
        head: "RESOURCE",
        min: 8,
        max: 48,
        flex: true,
    },
    Col {
        head: "ACCOUNT",
        min: 7,
        max: 20,
        flex: false,
    },
    Col {
        head: "AGE",
        min: 3,
        max: 5,
        flex: false,
    },
    Col {
        head: "STATUS",
        min: 6,
        max: 12,
        flex: false,
    },
    Col {
        head: "ID",
        min: 8,
        max: 90,
        flex: true,
    },
];

/// The queue as an aligned table that fits `width` columns (None: no limit). Title and
/// resource (and a long id) shrink first, then account, vendor and age are dropped. REF is
/// the short handle `sitrep show` accepts.
pub fn table(rows: &[QueueRow], now: EpochMs, width: Option<usize>) -> String {
    let cells: Vec<[String; 10]> = rows
        .iter()
        .map(|r| {
            [
                r.local_ref.to_string(),
                r.score.to_string(),
                one_line(&r.severity.to_store()),
                one_line(&r.vendor),
                one_line(&r.title),
                one_line(r.resource.as_deref().unwrap_or("—")),
                one_line(r.account.as_deref().unwrap_or("—")),
                age(now, r.first_seen.unwrap_or(r.sort_time)),
                if r.resurfaced {
                    format!("{} (resurfaced)", one_line(&r.status))
                } else {
                    one_line(&r.status)
                },
                one_line(&r.id),
            ]
        })
        .collect();
    let mut w: Vec<usize> = COLS
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| sanitize::width(&r[i]))
                .chain([c.head.len()])
                .max()
                .unwrap_or(0)
                .clamp(c.head.len(), c.max)
        })
        .collect();
    let mut shown = [true; 10];
    if let Some(total) = width {
        let used = |w: &[usize], shown: &[bool; 10]| -> usize {
            w.iter()
                .zip(shown)
                .filter(|(_, s)| **s)
                .map(|(w, _)| w + 2)
                .sum::<usize>()
                .saturating_sub(2)
        };
        // Shrink the flexible columns to a comfortable width, then drop the least important
        // columns, then shrink to the minimum.
        let shrink = |w: &mut Vec<usize>, shown: &[bool; 10], floor: &dyn Fn(usize) -> usize| {
            while used(w, shown) > total {
                let Some(i) = (0..10)
                    .filter(|&i| shown[i] && COLS[i].flex && w[i] > floor(i))
                    .max_by_key(|&i| w[i])
                else {
                    break;
                };
                w[i] -= 1;
            }
        };
        let comfortable = |i: usize| COLS[i].min.max(if i == 4 { 28 } else { 18 });
        shrink(&mut w, &shown, &comfortable);
        for d in [6, 3, 7] {
            if used(&w, &shown) > total {
                shown[d] = false;
                shrink(&mut w, &shown, &comfortable);
            }
        }
        shrink(&mut w, &shown, &|i| COLS[i].min);
    }
    let mut out = String::new();
    let line = |vals: [&str; 10], out: &mut String| {
        let mut parts = Vec::new();
        for i in (0..10).filter(|&i| shown[i]) {
            let v = fit(vals[i], w[i]);
            let pad = w[i].saturating_sub(sanitize::width(&v));
            parts.push(format!("{v}{}", " ".repeat(pad)));
        }
        out.push_str(parts.join("  ").trim_end());
        out.push('\n');
    };
    line(COLS.map(|c| c.head), &mut out);
    for r in &cells {
        line(
            [
                &r[0], &r[1], &r[2], &r[3], &r[4], &r[5], &r[6], &r[7], &r[8], &r[9],
            ],
            &mut out,
        );
    }
    out
}

pub const CSV_HEADER: &str = "ref,id,severity,vendor,source,category,title,resource,resource_id,cloud,account,region,status,ticket,cves,first_seen,last_seen,score,resurfaced";

pub fn csv_row(r: &QueueRow) -> String {
    let opt = |s: &Option<String>| csv_field(s.as_deref().unwrap_or(""));
    let t = |t: Option<EpochMs>| t.map(iso).unwrap_or_default();
    [
        r.local_ref.to_string(),
        csv_field(&r.id),
        csv_field(&r.severity.to_store()),
        csv_field(&r.vendor),
        csv_field(&r.source),
        csv_field(&r.category.to_store()),
        csv_field(&r.title),
        opt(&r.resource),
        opt(&r.resource_id),
        opt(&r.cloud),
        opt(&r.account),
        opt(&r.region),
        csv_field(&r.status),
        opt(&r.ticket),
        csv_field(&r.cves.join(" ")),
        t(r.first_seen),
        t(r.last_seen),
        r.score.to_string(),
        r.resurfaced.to_string(),
    ]
    .join(",")
}

/// A value as sanitized JSON (every string cleaned, keys too).
pub fn json_value<T: serde::Serialize>(v: &T) -> serde_json::Value {
    let raw = serde_json::to_value(v).unwrap_or(serde_json::Value::Null);
    let mut f = sanitize::Findings::default();
    sanitize::json(&raw, &mut f)
}

/// A Markdown report of the given alerts.
pub fn markdown(rows: &[QueueRow], filter: &str, now: EpochMs) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# sitrep export\n");
    let _ = writeln!(o, "Generated {} · {} alert(s)", iso(now), rows.len());
    if !filter.trim().is_empty() {
        let _ = writeln!(o, " · filter `{}`", one_line(filter).replace('`', "'"));
    }
    let mut by_sev = std::collections::BTreeMap::<u8, (String, usize)>::new();
    for r in rows {
        let e = by_sev
            .entry(r.severity.rank())
            .or_insert((r.severity.to_store(), 0));
        e.1 += 1;
    }
    if !by_sev.is_empty() {
        let counts = by_sev
            .iter()
            .rev()
            .map(|(_, (name, n))| format!("{} {}", n, markdown_inline(name)))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(o, "\nBy severity: {counts}.");
    }
    let _ = writeln!(
        o,
        "\n| ID | Severity | Vendor | Title | Resource | Account | Status | First seen |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|");
    for r in rows {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            markdown_cell(&r.id),
            markdown_cell(&r.severity.to_store()),
            markdown_cell(&r.vendor),
            markdown_cell(&r.title),
            markdown_cell(r.resource.as_deref().unwrap_or("")),
            markdown_cell(r.account.as_deref().unwrap_or("")),
            markdown_cell(&r.status),
            r.first_seen.map(iso).unwrap_or_default(),
        );
    }
    o
}

/// The syntax theme `show --diff` uses on a terminal.
pub const DIFF_THEME: &str = "base16-ocean.dark";

/// `show ID --diff` as text: the generator and summary, then each proposal under a heading
/// (diffs against a mapped checkout, labelled standalone snippets, CLI commands), highlighted
/// with 24-bit colour when `color`, plain otherwise.
pub fn remediation_text(id: &str, rem: &crate::remediate::Remediation, color: bool) -> String {
    use crate::highlight::{self, Highlighter};
    use crate::remediate::ProposalKind;
    let hl = Highlighter::new(if color {
        DIFF_THEME
    } else {
        highlight::PLAIN_THEME
    })
    .or_else(|_| Highlighter::new(highlight::PLAIN_THEME));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "remediation for {}: {}",
        one_line(id),
        rem.generator.unwrap_or("no generator")
    );
    for line in sanitize::text(&rem.summary).lines() {
        let _ = writeln!(out, "  {line}");
    }
    for p in &rem.proposals {
        let _ = writeln!(out, "\n── {} ──", one_line(&p.title));
        if let ProposalKind::Diff { repo, .. } = &p.kind {
            let _ = writeln!(out, "checkout: {}", one_line(&repo.display().to_string()));
        }
        let _ = writeln!(out, "sha256: {}", p.sha256);
        match &hl {
            Ok(h) => {
                let lines = if p.is_diff() {
                    h.highlight_diff(&p.text, p.lang)
                } else {
                    h.highlight(&p.text, p.lang)
                };
                out.push_str(&if color {
                    highlight::to_ansi(&lines)
                } else {
                    highlight::to_plain(&lines)
                });
            }
            Err(_) => out.push_str(&sanitize::text(&p.text)),
        }
    }
    out
}

/// `show ID --diff --format json`.
pub fn remediation_json(id: &str, rem: &crate::remediate::Remediation) -> serde_json::Value {
    use crate::remediate::ProposalKind;
    let proposals: Vec<serde_json::Value> = rem
        .proposals
        .iter()
        .map(|p| {
            let (kind, path, repo) = match &p.kind {
                ProposalKind::Diff { path, repo } => (
                    "diff",
                    Some(one_line(&path.display().to_string())),
                    Some(one_line(&repo.display().to_string())),
                ),
                ProposalKind::Snippet => ("snippet", None, None),
            };
            serde_json::json!({
                "form": p.form.label(),
                "kind": kind,
                "path": path,
                "repo": repo,
                "title": one_line(&p.title),
                "text": sanitize::text(&p.text),
                "sha256": p.sha256,
            })
        })
        .collect();
    serde_json::json!({
        "id": one_line(id),
        "generator": rem.generator,
        "summary": sanitize::text(&rem.summary),
        "proposals": proposals,
    })
}

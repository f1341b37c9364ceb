//! The prioritization commands (`intel`, `suppress`, `list --groups`) and the score and
//! attack-path sections of `show`.

use std::fmt::Write as _;
use std::path::Path;

use super::env::{CliError, Env, io_err};
use super::{IntelCommand, SuppressArgs, SuppressCommand};
use crate::config::Config;
use crate::domain::{AttackPath, EpochMs, Score};
use crate::present::iso;
use crate::sanitize::{self, one_line};
use crate::store::{GroupRow, Store, StoreError};
use crate::triage::intel;
use crate::triage::suppress::{NewSuppression, RuleKind};

fn store_err(e: StoreError) -> CliError {
    match e {
        StoreError::Invalid(m) => CliError::input(m),
        other => CliError::runtime(other.to_string()),
    }
}

/// Score lines: "  +25  internet-facing: …".
pub fn score_text(score: &Score) -> String {
    let mut o = format!("\nPriority score {}/100\n", score.total);
    for f in &score.factors {
        let _ = writeln!(o, "  {:>+4}  {}", f.points, one_line(&f.label));
    }
    o
}

/// An attack path as a readable chain.
pub fn path_text(p: &AttackPath) -> String {
    let mut o = format!(
        "\nAttack path on {} — scored {}/100 as a whole\n",
        one_line(&p.resource),
        p.total
    );
    for (i, s) in p.steps.iter().enumerate() {
        let _ = writeln!(
            o,
            "  {}{}. {}",
            if i == 0 { "" } else { "→ " },
            i + 1,
            crate::triage::paths::step_text(s)
        );
        let _ = writeln!(o, "       ({}, score {})", one_line(&s.alert_id), s.score);
    }
    for c in &p.vendor_context {
        let _ = writeln!(o, "  vendor graph: {}", one_line(c));
    }
    for f in &p.factors {
        let _ = writeln!(o, "  {:>+4}  {}", f.points, one_line(&f.label));
    }
    o
}

/// The groups table.
pub fn groups_table(rows: &[GroupRow], width: Option<usize>) -> String {
    let mut o = String::from("SCORE  PATH    N  VENDORS               RESOURCE / TOP ALERT\n");
    let avail = width.unwrap_or(200).saturating_sub(40).max(20);
    for g in rows {
        let chain = if g.is_path {
            g.stages
                .iter()
                .map(|s| match s {
                    crate::domain::Stage::Exposure => "E",
                    crate::domain::Stage::Exploitable => "X",
                    crate::domain::Stage::Privilege => "P",
                    crate::domain::Stage::Data => "D",
                })
                .collect::<String>()
        } else {
            "-".into()
        };
        let resource = g.top.resource.as_deref().unwrap_or(&g.group_key);
        let text = format!(
            "{} · {} ({})",
            one_line(resource),
            one_line(&g.top.title),
            one_line(&g.top.id)
        );
        let _ = writeln!(
            o,
            "{:>5}  {:<4}  {:>3}  {:<20}  {}",
            g.score,
            chain,
            g.members,
            sanitize::fit(&g.vendors.join(","), 20),
            sanitize::fit(&text, avail)
        );
    }
    o.push_str("PATH: E internet exposure, X exploitable workload, P privileged identity, D sensitive data\n");
    o
}

fn read_file(p: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(p).map_err(|e| CliError::input(format!("cannot read {}: {e}", p.display())))
}

pub fn intel_cmd(
    c: IntelCommand,
    store: &mut Store,
    config: &Config,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    match c {
        IntelCommand::Import { kev, epss } => {
            if kev.is_none() && epss.is_none() {
                return Err(CliError::input(
                    "intel import: give --kev FILE and/or --epss FILE",
                ));
            }
            // Parse both before writing either, so a bad file changes nothing.
            let kev_cat = match &kev {
                Some(p) => Some(intel::parse_kev(&read_file(p)?).map_err(|e| {
                    CliError::input(format!("{}: {e}; nothing imported", p.display()))
                })?),
                None => None,
            };
            let epss_file = match &epss {
                Some(p) => Some(intel::parse_epss(&read_file(p)?).map_err(|e| {
                    CliError::input(format!("{}: {e}; nothing imported", p.display()))
                })?),
                None => None,
            };
            if let (Some(c), Some(p)) = (&kev_cat, &kev) {
                let n = store
                    .import_kev(c, &p.display().to_string(), env.now_ms)
                    .map_err(store_err)?;
                writeln!(
                    env.out,
                    "KEV catalog {} ({}): {} CVEs; rescored {n} alert(s)",
                    one_line(&c.version),
                    one_line(&c.released),
                    c.entries.len()
                )
                .map_err(io_err)?;
            }
            if let (Some(f), Some(p)) = (&epss_file, &epss) {
                let n = store
                    .import_epss(f, &p.display().to_string(), env.now_ms)
                    .map_err(store_err)?;
                writeln!(
                    env.out,
                    "EPSS {} scored {}: {} CVEs; rescored {n} alert(s)",
                    one_line(&f.model_version),
                    one_line(&f.score_date),
                    f.scores.len()
                )
                .map_err(io_err)?;
            }
            Ok(())
        }
        IntelCommand::Update => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| CliError::runtime(format!("cannot start the async runtime: {e}")))?;
            let (kev_bytes, epss_bytes) = rt.block_on(async {
                let client = reqwest::Client::builder()
                    .timeout(std::time::Duration::from_secs(120))
                    .user_agent(concat!("sitrep/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| CliError::runtime(format!("cannot build HTTP client: {e}")))?;
                let k = fetch(&client, &config.intel.kev_url).await?;
                let e = fetch(&client, &config.intel.epss_url).await?;
                Ok::<_, CliError>((k, e))
            })?;
            let cat = intel::parse_kev(&kev_bytes).map_err(|e| {
                CliError::runtime(format!(
                    "{}: {e}; nothing imported",
                    one_line(&config.intel.kev_url)
                ))
            })?;
            let file = intel::parse_epss(&epss_bytes).map_err(|e| {
                CliError::runtime(format!(
                    "{}: {e}; nothing imported",
                    one_line(&config.intel.epss_url)
                ))
            })?;
            store
                .import_kev(&cat, &config.intel.kev_url, env.now_ms)
                .map_err(store_err)?;
            let n = store
                .import_epss(&file, &config.intel.epss_url, env.now_ms)
                .map_err(store_err)?;
            writeln!(
                env.out,
                "KEV catalog {} ({}): {} CVEs\nEPSS {} scored {}: {} CVEs\nrescored {n} alert(s)",
                one_line(&cat.version),
                one_line(&cat.released),
                cat.entries.len(),
                one_line(&file.model_version),
                one_line(&file.score_date),
                file.scores.len()
            )
            .map_err(io_err)
        }
        IntelCommand::Status => {
            let st = store.intel_status().map_err(store_err)?;
            for feed in ["kev", "epss"] {
                match st.iter().find(|s| s.feed == feed) {
                    Some(s) => writeln!(
                        env.out,
                        "{:<5} {} released {}, {} entries; loaded {} from {}",
                        feed,
                        one_line(&s.version),
                        one_line(&s.released),
                        s.entries,
                        iso(s.imported_at),
                        one_line(&s.origin)
                    ),
                    None => writeln!(
                        env.out,
                        "{feed:<5} not loaded (sitrep intel import --{feed} FILE, or sitrep intel update)"
                    ),
                }
                .map_err(io_err)?;
            }
            Ok(())
        }
    }
}

/// At most this much from one feed (the EPSS CSV is ~10 MB gzip, ~30 MB plain).
const MAX_FEED_BYTES: usize = 256 << 20;

async fn fetch(client: &reqwest::Client, url: &str) -> Result<Vec<u8>, CliError> {
    let shown = one_line(url);
    let mut resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| CliError::runtime(format!("{shown}: {e}")))?;
    if !resp.status().is_success() {
        return Err(CliError::runtime(format!(
            "{shown}: HTTP {}; nothing imported",
            resp.status()
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| CliError::runtime(format!("{shown}: {e}; nothing imported")))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_FEED_BYTES {
            return Err(CliError::runtime(format!(
                "{shown}: larger than {} MB; nothing imported",
                MAX_FEED_BYTES >> 20
            )));
        }
    }
    Ok(body)
}

/// `30d`, `12h`, `2w`, `90m` from now, or a date / RFC 3339 time.
fn parse_until(s: &str, now: EpochMs) -> Result<EpochMs, CliError> {
    let t = s.trim();
    let unit = t.chars().last().unwrap_or(' ');
    if let Ok(n) = t[..t.len().saturating_sub(1)].parse::<i64>()
        && n > 0
    {
        let ms = match unit {
            'm' => 60_000,
            'h' => 3_600_000,
            'd' => 86_400_000,
            'w' => 7 * 86_400_000,
            _ => 0,
        };
        if ms > 0 {
            return Ok(now.saturating_add(n.saturating_mul(ms)));
        }
    }
    crate::sources::json::parse_time(t).ok_or_else(|| {
        CliError::input(format!(
            "--until '{}': expected a duration like 30d, 12h, 2w or a date like 2026-12-31",
            one_line(t)
        ))
    })
}

pub fn suppress_cmd(
    c: SuppressCommand,
    store: &mut Store,
    config: &Config,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    match c {
        SuppressCommand::Add(a) => add(a, store, config, env),
        SuppressCommand::List { json } => {
            let rules = store.suppressions().map_err(store_err)?;
            if json {
                let v: Vec<serde_json::Value> = rules
                    .iter()
                    .map(|(r, n)| {
                        let mut v = super::render::json_value(r);
                        if let Some(o) = v.as_object_mut() {
                            o.insert("alerts".into(), (*n).into());
                            o.insert("active".into(), r.is_active(env.now_ms).into());
                        }
                        v
                    })
                    .collect();
                serde_json::to_writer_pretty(&mut *env.out, &v).map_err(|e| io_err(e.into()))?;
                return writeln!(env.out).map_err(io_err);
            }
            if rules.is_empty() {
                return writeln!(env.out, "No suppressions.").map_err(io_err);
            }
            for (r, n) in &rules {
                let state = match r.expires_at {
                    Some(e) if e <= env.now_ms => format!("expired {}", iso(e)),
                    Some(e) => format!("until {}", iso(e)),
                    None => "no expiry".into(),
                };
                writeln!(
                    env.out,
                    "#{}  {}  [{}]  {} alert(s)  by {} on {}  reason: {}",
                    r.id,
                    one_line(&r.filter),
                    state,
                    n,
                    one_line(&r.author),
                    iso(r.created_at),
                    one_line(&r.reason)
                )
                .map_err(io_err)?;
            }
            Ok(())
        }
        SuppressCommand::Remove { id } => {
            let n = store
                .remove_suppression(id, &config.actor(), env.now_ms)
                .map_err(store_err)?;
            writeln!(
                env.out,
                "removed suppression #{id}; {n} alert(s) back in the queue"
            )
            .map_err(io_err)
        }
    }
}

fn add(
    a: SuppressArgs,
    store: &mut Store,
    config: &Config,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    let (kind, value) = [
        (RuleKind::Policy, a.policy),
        (RuleKind::Resource, a.resource),
        (RuleKind::Account, a.account),
        (RuleKind::Tag, a.tag),
        (RuleKind::Vendor, a.vendor),
        (RuleKind::Filter, a.filter),
    ]
    .into_iter()
    .find_map(|(k, v)| v.map(|v| (k, v)))
    .ok_or_else(|| {
        CliError::input(
            "suppress add: say what to mute with one of --policy, --resource, --account, --tag, --vendor, --filter",
        )
    })?;
    let expires_at = a
        .until
        .as_deref()
        .map(|u| parse_until(u, env.now_ms))
        .transpose()?;
    let new = NewSuppression {
        kind,
        value,
        reason: sanitize::one_line(&a.reason),
        author: config.actor(),
        created_at: env.now_ms,
        expires_at,
    };
    let (rule, n) = store.add_suppression(&new).map_err(store_err)?;
    writeln!(
        env.out,
        "suppression #{} ({}) mutes {n} alert(s){}",
        rule.id,
        one_line(&rule.filter),
        rule.expires_at
            .map(|e| format!(" until {}", iso(e)))
            .unwrap_or_default()
    )
    .map_err(io_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_accepts_durations_and_dates() {
        let now = 1_795_305_600_000;
        assert_eq!(parse_until("30d", now).expect("d"), now + 30 * 86_400_000);
        assert_eq!(parse_until("2w", now).expect("w"), now + 14 * 86_400_000);
        assert_eq!(
            parse_until("2026-12-01T00:00:00Z", now).expect("date"),
            1_796_083_200_000
        );
        assert!(
            parse_until("soon", now)
                .expect_err("bad")
                .message
                .starts_with("--until 'soon'")
        );
    }
}

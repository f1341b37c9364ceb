//! The fault plan of a simulator, from `--faults` text such as
//! `429@3,429@9,expire@12,5xx@20x3,403@4x2,truncate@25,graphql@30,latency=20ms,ttl=30s,
//! every429=50,pagecap=50,refuse=statusChangedAt`.
//!
//! Numbers count data requests (lists, details, write-back; not authentication), from 1.
//! `standard` is the mix the integration tests use.

use std::time::Duration;

/// What goes wrong, and when.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// 429 with Retry-After at these request numbers.
    pub rate_limit_at: Vec<u64>,
    /// 429 on every k-th request.
    pub rate_limit_every: Option<u64>,
    /// Seconds in Retry-After (default 1).
    pub retry_after_secs: u64,
    /// Every token issued so far stops working at these request numbers (token expiry).
    pub expire_at: Vec<u64>,
    /// Lifetime of issued tokens (overrides the vendor's default).
    pub token_ttl: Option<Duration>,
    /// 503 bursts: (first request number, how many).
    pub server_errors: Vec<(u64, u64)>,
    /// 403 (the credential lacks a permission) runs: (first request number, how many).
    pub forbidden: Vec<(u64, u64)>,
    /// The largest page a list serves whatever `limit` asks (older Compute consoles cap at
    /// 50); None: the vendor's documented maximum. Paged vendors' simulators apply it.
    pub page_cap: Option<usize>,
    /// Bodies cut in half at these request numbers.
    pub truncate_at: Vec<u64>,
    /// A GraphQL error inside a 200 at these request numbers (GraphQL vendors).
    pub graphql_error_at: Vec<u64>,
    /// Added to every data request.
    pub latency: Duration,
    /// Filter fields the vendor's simulator refuses as its API refuses an unknown one (each
    /// simulator in its own way: a GraphQL error, a 400, a 500).
    pub refused_filters: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad fault '{item}': {reason}")]
pub struct FaultSpecError {
    pub item: String,
    pub reason: String,
}

impl Faults {
    /// No faults.
    pub fn none() -> Faults {
        Faults {
            retry_after_secs: 1,
            ..Faults::default()
        }
    }

    /// The mix the integration tests sync through: several 429s, a token expiry in the middle
    /// of paging, a 5xx burst, and a truncated page.
    pub fn standard() -> Faults {
        Faults {
            rate_limit_at: vec![3, 11, 19],
            retry_after_secs: 1,
            expire_at: vec![8],
            server_errors: vec![(14, 3)],
            truncate_at: vec![6],
            graphql_error_at: vec![22],
            ..Faults::default()
        }
    }

    pub fn server_error_at(&self, n: u64) -> bool {
        self.server_errors
            .iter()
            .any(|&(start, len)| n >= start && n < start + len)
    }

    pub fn forbidden_at(&self, n: u64) -> bool {
        self.forbidden
            .iter()
            .any(|&(start, len)| n >= start && n < start + len)
    }

    pub fn is_none(&self) -> bool {
        *self == Faults::none() || *self == Faults::default()
    }

    /// Parse `--faults` text.
    pub fn parse(spec: &str) -> Result<Faults, FaultSpecError> {
        let mut f = Faults::none();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let err = |reason: &str| FaultSpecError {
                item: item.to_string(),
                reason: reason.to_string(),
            };
            if item == "none" {
                continue;
            }
            if item == "standard" {
                let s = Faults::standard();
                f.rate_limit_at.extend(s.rate_limit_at);
                f.expire_at.extend(s.expire_at);
                f.server_errors.extend(s.server_errors);
                f.truncate_at.extend(s.truncate_at);
                f.graphql_error_at.extend(s.graphql_error_at);
                continue;
            }
            if let Some((k, v)) = item.split_once('=') {
                match k {
                    "latency" => {
                        f.latency =
                            duration(v).ok_or_else(|| err("expected a duration like 20ms or 1s"))?
                    }
                    "ttl" => {
                        f.token_ttl =
                            Some(duration(v).ok_or_else(|| err("expected a duration like 30s"))?)
                    }
                    "retry" => {
                        f.retry_after_secs = v.parse().map_err(|_| err("expected whole seconds"))?
                    }
                    "refuse" => {
                        let field = v.trim();
                        if field.is_empty() {
                            return Err(err("expected a filter field name"));
                        }
                        f.refused_filters.push(field.to_string());
                    }
                    "every429" => {
                        f.rate_limit_every = Some(
                            v.parse()
                                .ok()
                                .filter(|n| *n > 0)
                                .ok_or_else(|| err("expected a positive number"))?,
                        )
                    }
                    "pagecap" => {
                        f.page_cap = Some(
                            v.parse()
                                .ok()
                                .filter(|n| *n > 0)
                                .ok_or_else(|| err("expected a positive number"))?,
                        )
                    }
                    _ => {
                        return Err(err(
                            "unknown setting; expected latency=, ttl=, retry=, every429=, pagecap= or refuse=",
                        ));
                    }
                }
                continue;
            }
            let Some((kind, at)) = item.split_once('@') else {
                return Err(err(
                    "expected KIND@N (429, expire, 5xx, 403, truncate, graphql), a KEY=VALUE setting, 'standard' or 'none'",
                ));
            };
            let (n, len) = match at.split_once('x') {
                Some((n, len)) => (n, Some(len)),
                None => (at, None),
            };
            let n: u64 = n
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| err("the request number must be a positive integer"))?;
            match (kind, len) {
                ("429", None) => f.rate_limit_at.push(n),
                ("expire", None) => f.expire_at.push(n),
                ("truncate", None) => f.truncate_at.push(n),
                ("graphql", None) => f.graphql_error_at.push(n),
                (kind @ ("5xx" | "403"), len) => {
                    let len = match len {
                        Some(l) => l
                            .parse()
                            .ok()
                            .filter(|l| *l > 0)
                            .ok_or_else(|| err("burst length must be a positive integer"))?,
                        None => 1,
                    };
                    if kind == "5xx" {
                        f.server_errors.push((n, len));
                    } else {
                        f.forbidden.push((n, len));
                    }
                }
                (_, Some(_)) => {
                    return Err(err(
                        "only 5xx and 403 take a burst length (5xx@NxK, 403@NxK)",
                    ));
                }
                _ => {
                    return Err(err(
                        "unknown kind; expected 429, expire, 5xx, 403, truncate or graphql",
                    ));
                }
            }
        }
        Ok(f)
    }
}

fn duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = num.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n * 60)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind() {
        let f = Faults::parse("429@3, 429@9,expire@12,5xx@20x3,403@4x2,truncate@25,graphql@30,latency=20ms,ttl=30s,retry=2,every429=50,pagecap=50")
            .expect("parse");
        assert_eq!(f.forbidden, vec![(4, 2)]);
        assert!(!f.forbidden_at(3) && f.forbidden_at(4) && f.forbidden_at(5) && !f.forbidden_at(6));
        assert_eq!(f.page_cap, Some(50));
        assert_eq!(f.rate_limit_at, vec![3, 9]);
        assert_eq!(f.expire_at, vec![12]);
        assert_eq!(f.server_errors, vec![(20, 3)]);
        assert!(f.server_error_at(22) && !f.server_error_at(23));
        assert_eq!(f.truncate_at, vec![25]);
        assert_eq!(f.graphql_error_at, vec![30]);
        assert_eq!(f.latency, Duration::from_millis(20));
        assert_eq!(f.token_ttl, Some(Duration::from_secs(30)));
        assert_eq!(f.retry_after_secs, 2);
        assert_eq!(f.rate_limit_every, Some(50));
        assert_eq!(Faults::parse("standard").expect("std").expire_at, vec![8]);
        assert!(Faults::parse("").expect("empty").is_none());
        let f = Faults::parse("403@2x3,refuse=statusChangedAt").expect("403");
        assert!(!f.forbidden_at(1) && f.forbidden_at(2) && f.forbidden_at(4) && !f.forbidden_at(5));
        assert_eq!(f.refused_filters, vec!["statusChangedAt".to_string()]);
        assert!(Faults::parse("refuse=").is_err());
    }

    #[test]
    fn errors_name_the_bad_item() {
        assert_eq!(
            Faults::parse("429@0").expect_err("zero").to_string(),
            "bad fault '429@0': the request number must be a positive integer"
        );
        assert_eq!(
            Faults::parse("boom@3").expect_err("kind").to_string(),
            "bad fault 'boom@3': unknown kind; expected 429, expire, 5xx, 403, truncate or graphql"
        );
        assert!(Faults::parse("latency=fast").is_err());
        assert!(Faults::parse("429@3x2").is_err());
        assert!(Faults::parse("pagecap=0").is_err());
    }
}

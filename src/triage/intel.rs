//! Exploit intelligence, offline first: the CISA KEV catalog (JSON), FIRST EPSS scores (CSV,
//! optionally gzip), and CVSS v3.x base vectors. Parsers only; the store keeps the data.

use std::collections::HashMap;
use std::io::Read;

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IntelError(pub String);

/// One KEV entry (what scoring and `show` use of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KevEntry {
    pub cve: String,
    pub vendor_project: String,
    pub product: String,
    pub name: String,
    /// `YYYY-MM-DD`.
    pub date_added: String,
    pub due_date: String,
    /// `knownRansomwareCampaignUse == "Known"`.
    pub ransomware: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KevCatalog {
    pub version: String,
    /// `dateReleased` as given.
    pub released: String,
    pub entries: Vec<KevEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCatalog {
    catalog_version: String,
    date_released: String,
    #[serde(default)]
    count: Option<u64>,
    vulnerabilities: Vec<RawKev>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawKev {
    #[serde(rename = "cveID")]
    cve_id: String,
    #[serde(default)]
    vendor_project: String,
    #[serde(default)]
    product: String,
    #[serde(default)]
    vulnerability_name: String,
    date_added: String,
    #[serde(default)]
    due_date: String,
    #[serde(default)]
    known_ransomware_campaign_use: Option<String>,
}

/// Is `s` a CVE id (`CVE-YYYY-NNNN…`)?
pub fn is_cve_id(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("CVE-") else {
        return false;
    };
    let Some((year, num)) = rest.split_once('-') else {
        return false;
    };
    year.len() == 4
        && year.bytes().all(|b| b.is_ascii_digit())
        && (4..=19).contains(&num.len())
        && num.bytes().all(|b| b.is_ascii_digit())
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// Parse the KEV catalog JSON. Unknown fields are ignored (CISA adds fields over time); a
/// malformed entry fails the whole file, naming the entry.
pub fn parse_kev(bytes: &[u8]) -> Result<KevCatalog, IntelError> {
    let bytes = strip_bom(bytes);
    let raw: RawCatalog = serde_json::from_slice(bytes).map_err(|e| {
        IntelError(format!(
            "not a CISA KEV catalog (expected catalogVersion, dateReleased, vulnerabilities): {e}"
        ))
    })?;
    if let Some(n) = raw.count
        && n as usize != raw.vulnerabilities.len()
    {
        return Err(IntelError(format!(
            "KEV catalog says count {n} but lists {} vulnerabilities (truncated file?)",
            raw.vulnerabilities.len()
        )));
    }
    let mut entries = Vec::with_capacity(raw.vulnerabilities.len());
    for (i, v) in raw.vulnerabilities.into_iter().enumerate() {
        let cve = v.cve_id.trim().to_ascii_uppercase();
        if !is_cve_id(&cve) {
            return Err(IntelError(format!(
                "KEV entry {}: cveID '{}' is not a CVE id",
                i + 1,
                crate::sanitize::one_line(&v.cve_id)
            )));
        }
        if !is_date(&v.date_added) {
            return Err(IntelError(format!(
                "KEV entry {} ({cve}): dateAdded '{}' is not YYYY-MM-DD",
                i + 1,
                crate::sanitize::one_line(&v.date_added)
            )));
        }
        entries.push(KevEntry {
            cve,
            vendor_project: v.vendor_project,
            product: v.product,
            name: v.vulnerability_name,
            date_added: v.date_added,
            due_date: v.due_date,
            ransomware: v
                .known_ransomware_campaign_use
                .is_some_and(|k| k.trim().eq_ignore_ascii_case("known")),
        });
    }
    Ok(KevCatalog {
        version: raw.catalog_version,
        released: raw.date_released,
        entries,
    })
}

/// One EPSS row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpssScore {
    /// Probability of exploitation activity in the next 30 days, 0..=1.
    pub epss: f64,
    /// Rank among all scored CVEs, 0..=1.
    pub percentile: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EpssFile {
    pub model_version: String,
    /// `score_date` as given (RFC 3339).
    pub score_date: String,
    pub scores: Vec<(String, EpssScore)>,
}

fn strip_bom(b: &[u8]) -> &[u8] {
    b.strip_prefix(&[0xEF, 0xBB, 0xBF][..]).unwrap_or(b)
}

/// Parse an EPSS CSV (`#model_version:…,score_date:…` then `cve,epss,percentile`), plain or
/// gzip-compressed. A bad line fails the file, naming the line.
pub fn parse_epss(bytes: &[u8]) -> Result<EpssFile, IntelError> {
    let decompressed;
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(|e| IntelError(format!("EPSS file: cannot decompress gzip: {e}")))?;
        decompressed = out;
        &decompressed[..]
    } else {
        bytes
    };
    let text = std::str::from_utf8(strip_bom(bytes))
        .map_err(|_| IntelError("EPSS file: not UTF-8 text".into()))?;
    let mut lines = text.lines().enumerate();
    let (mut model_version, mut score_date) = (String::new(), String::new());
    let mut header_seen = false;
    let mut scores = Vec::new();
    for (i, line) in lines.by_ref() {
        let n = i + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(meta) = line.strip_prefix('#') {
            for part in meta.split(',') {
                match part.split_once(':') {
                    Some(("model_version", v)) => model_version = v.trim().to_string(),
                    Some(("score_date", v)) => score_date = v.trim().to_string(),
                    _ => {}
                }
            }
            continue;
        }
        if !header_seen {
            let cols: Vec<&str> = line.split(',').map(str::trim).collect();
            if cols.first() != Some(&"cve") || cols.get(1) != Some(&"epss") {
                return Err(IntelError(format!(
                    "EPSS file line {n}: expected the header 'cve,epss,percentile', found '{}'",
                    crate::sanitize::one_line(&line.chars().take(60).collect::<String>())
                )));
            }
            header_seen = true;
            continue;
        }
        let mut cols = line.split(',').map(str::trim);
        let (Some(cve), Some(e), p) = (cols.next(), cols.next(), cols.next()) else {
            return Err(IntelError(format!(
                "EPSS file line {n}: expected cve,epss,percentile"
            )));
        };
        let cve = cve.to_ascii_uppercase();
        if !is_cve_id(&cve) {
            return Err(IntelError(format!(
                "EPSS file line {n}: '{}' is not a CVE id",
                crate::sanitize::one_line(&cve)
            )));
        }
        let num = |s: &str, what: &str| -> Result<f64, IntelError> {
            s.parse::<f64>()
                .ok()
                .filter(|v| (0.0..=1.0).contains(v))
                .ok_or_else(|| {
                    IntelError(format!(
                        "EPSS file line {n}: {what} '{}' is not a number from 0 to 1",
                        crate::sanitize::one_line(s)
                    ))
                })
        };
        let epss = num(e, "epss")?;
        let percentile = match p {
            Some(p) => num(p, "percentile")?,
            None => 0.0,
        };
        scores.push((cve, EpssScore { epss, percentile }));
    }
    if !header_seen {
        return Err(IntelError(
            "EPSS file: no 'cve,epss,percentile' header (is this an EPSS CSV?)".into(),
        ));
    }
    Ok(EpssFile {
        model_version,
        score_date,
        scores,
    })
}

/// A parsed CVSS v3.0/v3.1 base vector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cvss3 {
    pub attack_vector: char,
    pub attack_complexity: char,
    pub privileges: char,
    pub user_interaction: char,
    pub scope_changed: bool,
    pub c: char,
    pub i: char,
    pub a: char,
}

impl Cvss3 {
    /// Parse `CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H` (any order; temporal and
    /// environmental metrics are accepted and ignored).
    pub fn parse(vector: &str) -> Result<Cvss3, IntelError> {
        let v = vector.trim();
        let rest = v
            .strip_prefix("CVSS:3.1/")
            .or_else(|| v.strip_prefix("CVSS:3.0/"))
            .ok_or_else(|| {
                IntelError(format!(
                    "CVSS vector '{}' does not start with CVSS:3.1/ or CVSS:3.0/",
                    crate::sanitize::one_line(v)
                ))
            })?;
        let mut m: HashMap<&str, &str> = HashMap::new();
        for part in rest.split('/') {
            let Some((k, val)) = part.split_once(':') else {
                return Err(IntelError(format!(
                    "CVSS vector: '{}' is not METRIC:VALUE",
                    crate::sanitize::one_line(part)
                )));
            };
            if m.insert(k, val).is_some() {
                return Err(IntelError(format!("CVSS vector: metric {k} given twice")));
            }
        }
        let get = |k: &str, allowed: &str| -> Result<char, IntelError> {
            let val = m
                .get(k)
                .ok_or_else(|| IntelError(format!("CVSS vector: base metric {k} is missing")))?;
            let mut chars = val.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if allowed.contains(c) => Ok(c),
                _ => Err(IntelError(format!(
                    "CVSS vector: {k}:{} is not one of {}",
                    crate::sanitize::one_line(val),
                    allowed
                        .chars()
                        .map(|c| c.to_string())
                        .collect::<Vec<_>>()
                        .join("/")
                ))),
            }
        };
        Ok(Cvss3 {
            attack_vector: get("AV", "NALP")?,
            attack_complexity: get("AC", "LH")?,
            privileges: get("PR", "NLH")?,
            user_interaction: get("UI", "NR")?,
            scope_changed: get("S", "UC")? == 'C',
            c: get("C", "HLN")?,
            i: get("I", "HLN")?,
            a: get("A", "HLN")?,
        })
    }

    /// The CVSS v3.1 base score (0.0..=10.0, one decimal).
    pub fn base_score(&self) -> f64 {
        let av = match self.attack_vector {
            'N' => 0.85,
            'A' => 0.62,
            'L' => 0.55,
            _ => 0.20,
        };
        let ac = if self.attack_complexity == 'L' {
            0.77
        } else {
            0.44
        };
        let pr = match (self.privileges, self.scope_changed) {
            ('N', _) => 0.85,
            ('L', false) => 0.62,
            ('L', true) => 0.68,
            (_, false) => 0.27,
            (_, true) => 0.50,
        };
        let ui = if self.user_interaction == 'N' {
            0.85
        } else {
            0.62
        };
        let cia = |c: char| match c {
            'H' => 0.56,
            'L' => 0.22,
            _ => 0.0,
        };
        let iss = 1.0 - (1.0 - cia(self.c)) * (1.0 - cia(self.i)) * (1.0 - cia(self.a));
        let impact = if self.scope_changed {
            7.52 * (iss - 0.029) - 3.25 * (iss - 0.02f64).powi(15)
        } else {
            6.42 * iss
        };
        if impact <= 0.0 {
            return 0.0;
        }
        let expl = 8.22 * av * ac * pr * ui;
        if self.scope_changed {
            roundup((1.08 * (impact + expl)).min(10.0))
        } else {
            roundup((impact + expl).min(10.0))
        }
    }

    /// Reachable over the network without privileges or user interaction.
    pub fn remote_unauthenticated(&self) -> bool {
        self.attack_vector == 'N' && self.privileges == 'N' && self.user_interaction == 'N'
    }
}

/// CVSS v3.1 Roundup: the smallest number with one decimal that is ≥ the input, computed
/// on integers to avoid floating-point surprises (spec appendix A).
fn roundup(x: f64) -> f64 {
    let int = (x * 100_000.0).round() as i64;
    if int % 10_000 == 0 {
        int as f64 / 100_000.0
    } else {
        ((int / 10_000) + 1) as f64 / 10.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEV: &str = r#"{
  "title": "CISA Catalog of Known Exploited Vulnerabilities",
  "catalogVersion": "2026.11.20",
  "dateReleased": "2026-11-20T17:02:11.0321Z",
  "count": 2,
  "vulnerabilities": [
    {
      "cveID": "CVE-2021-44228",
      "vendorProject": "Apache",
      "product": "Log4j2",
      "vulnerabilityName": "Apache Log4j2 Remote Code Execution Vulnerability",
      "dateAdded": "2021-12-10",
      "shortDescription": "Apache Log4j2 contains a vulnerability where JNDI features do not protect against attacker-controlled JNDI-related endpoints, allowing for remote code execution.",
      "requiredAction": "For all affected software assets for which updates exist, the only acceptable remediation actions are: 1) Apply updates; OR 2) remove affected assets from agency networks.",
      "dueDate": "2021-12-24",
      "knownRansomwareCampaignUse": "Known",
      "notes": "https://nvd.nist.gov/vuln/detail/CVE-2021-44228",
      "cwes": ["CWE-20", "CWE-400", "CWE-502"]
    },
    {
      "cveID": "CVE-2022-22965",
      "vendorProject": "VMware",
      "product": "Spring Framework",
      "vulnerabilityName": "Spring Framework JDK 9+ Remote Code Execution Vulnerability",
      "dateAdded": "2022-04-04",
      "shortDescription": "Spring MVC or Spring WebFlux application running on JDK 9+ may be vulnerable to remote code execution (RCE) via data binding.",
      "requiredAction": "Apply updates per vendor instructions.",
      "dueDate": "2022-04-25",
      "knownRansomwareCampaignUse": "Unknown",
      "notes": "",
      "cwes": ["CWE-94"],
      "forensicTriage": "No"
    }
  ]
}"#;

    #[test]
    fn kev_catalog_parses() {
        let c = parse_kev(KEV.as_bytes()).expect("parse");
        assert_eq!(c.version, "2026.11.20");
        assert_eq!(c.released, "2026-11-20T17:02:11.0321Z");
        assert_eq!(c.entries.len(), 2);
        assert_eq!(c.entries[0].cve, "CVE-2021-44228");
        assert!(c.entries[0].ransomware);
        assert!(!c.entries[1].ransomware);
        assert_eq!(c.entries[1].date_added, "2022-04-04");
    }

    #[test]
    fn kev_errors_are_precise() {
        let e = parse_kev(b"{\"vulnerabilities\": []}").expect_err("no version");
        assert!(e.0.starts_with("not a CISA KEV catalog"), "{e}");
        let bad = KEV.replace("\"CVE-2022-22965\"", "\"CVE-22-1\"");
        assert_eq!(
            parse_kev(bad.as_bytes()).expect_err("bad id").0,
            "KEV entry 2: cveID 'CVE-22-1' is not a CVE id"
        );
        let short = KEV.replace("\"count\": 2", "\"count\": 3");
        assert!(
            parse_kev(short.as_bytes())
                .expect_err("count")
                .0
                .contains("count 3")
        );
        let date = KEV.replace("2021-12-10", "10/12/2021");
        assert_eq!(
            parse_kev(date.as_bytes()).expect_err("date").0,
            "KEV entry 1 (CVE-2021-44228): dateAdded '10/12/2021' is not YYYY-MM-DD"
        );
    }

    const EPSS: &str = "#model_version:v2025.03.14,score_date:2026-11-20T12:55:00Z\ncve,epss,percentile\nCVE-2021-44228,0.94358,0.99957\nCVE-2023-44487,0.94387,0.99962\ncve-2022-3602,0.12010,0.93515\n";

    #[test]
    fn epss_csv_parses_plain_and_gzip() {
        let f = parse_epss(EPSS.as_bytes()).expect("parse");
        assert_eq!(f.model_version, "v2025.03.14");
        assert_eq!(f.score_date, "2026-11-20T12:55:00Z");
        assert_eq!(f.scores.len(), 3);
        assert_eq!(f.scores[2].0, "CVE-2022-3602");
        assert!((f.scores[0].1.percentile - 0.99957).abs() < 1e-9);

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, EPSS.as_bytes()).expect("write");
        let bytes = gz.finish().expect("finish");
        assert_eq!(parse_epss(&bytes).expect("gzip"), f);
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice(EPSS.as_bytes());
        assert_eq!(parse_epss(&bom).expect("bom"), f);
    }

    #[test]
    fn epss_errors_name_the_line() {
        assert_eq!(
            parse_epss(b"cve,epss,percentile\nCVE-2021-44228,1.7,0.5\n")
                .expect_err("range")
                .0,
            "EPSS file line 2: epss '1.7' is not a number from 0 to 1"
        );
        assert_eq!(
            parse_epss(b"{\"data\":[]}").expect_err("json").0,
            "EPSS file line 1: expected the header 'cve,epss,percentile', found '{\"data\":[]}'"
        );
        assert!(
            parse_epss(b"")
                .expect_err("empty")
                .0
                .contains("no 'cve,epss,percentile' header")
        );
        assert_eq!(
            parse_epss(b"cve,epss,percentile\nLog4Shell,0.5,0.5\n")
                .expect_err("id")
                .0,
            "EPSS file line 2: 'LOG4SHELL' is not a CVE id"
        );
    }

    #[test]
    fn cvss_base_scores_match_nvd() {
        // Published NVD v3.1 base scores.
        for (v, want) in [
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0), // CVE-2021-44228
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),  // CVE-2022-22965
            ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H", 8.1),  // CVE-2024-6387
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5),  // CVE-2023-44487
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H", 8.8),  // CVE-2023-4863
            ("CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N", 5.5),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
            ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N", 6.4),
        ] {
            let c = Cvss3::parse(v).expect(v);
            assert_eq!(c.base_score(), want, "{v}");
        }
        // Any order, temporal metrics ignored.
        let c =
            Cvss3::parse("CVSS:3.1/S:U/AV:N/AC:L/PR:N/UI:N/C:H/I:H/A:H/E:F/RL:O").expect("order");
        assert_eq!(c.base_score(), 9.8);
        assert!(c.remote_unauthenticated());
    }

    #[test]
    fn cvss_errors() {
        assert_eq!(
            Cvss3::parse("AV:N/AC:L").expect_err("prefix").0,
            "CVSS vector 'AV:N/AC:L' does not start with CVSS:3.1/ or CVSS:3.0/"
        );
        assert_eq!(
            Cvss3::parse("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H")
                .expect_err("A")
                .0,
            "CVSS vector: base metric A is missing"
        );
        assert_eq!(
            Cvss3::parse("CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
                .expect_err("AV")
                .0,
            "CVSS vector: AV:X is not one of N/A/L/P"
        );
    }
}

//! Compliance frameworks: the vendors' own standard names (Prisma `complianceMetadata`, Wiz
//! `securitySubCategories`, Orca `compliance_frameworks`, Compute benchmark titles and
//! templates) normalized to the six frameworks `sitrep report --compliance` knows, and their
//! requirement text to a requirement id. Pure: the table is in docs/compliance.md.

use std::cmp::Ordering;

use crate::domain::Compliance;

/// A framework the compliance report groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Framework {
    PciDss,
    Hipaa,
    Soc2,
    Cis,
    Nist80053,
    Iso27001,
}

impl Framework {
    pub const ALL: [Framework; 6] = [
        Framework::PciDss,
        Framework::Hipaa,
        Framework::Soc2,
        Framework::Cis,
        Framework::Nist80053,
        Framework::Iso27001,
    ];

    /// The name `--compliance` takes and the report's storage key uses.
    pub fn id(self) -> &'static str {
        match self {
            Framework::PciDss => "pci-dss",
            Framework::Hipaa => "hipaa",
            Framework::Soc2 => "soc2",
            Framework::Cis => "cis",
            Framework::Nist80053 => "nist-800-53",
            Framework::Iso27001 => "iso-27001",
        }
    }

    /// The name a reader knows.
    pub fn label(self) -> &'static str {
        match self {
            Framework::PciDss => "PCI DSS",
            Framework::Hipaa => "HIPAA",
            Framework::Soc2 => "SOC 2",
            Framework::Cis => "CIS",
            Framework::Nist80053 => "NIST 800-53",
            Framework::Iso27001 => "ISO 27001",
        }
    }

    /// `--compliance` input: the id, the label, or the same without spaces, dashes, dots,
    /// underscores and case (`PCI`, `pci_dss`, `NIST`, `800-53`, `iso27001`, `SOC 2`).
    pub fn parse(s: &str) -> Option<Framework> {
        let k = squash(s);
        let f = match k.as_str() {
            "pci" | "pcidss" => Framework::PciDss,
            "hipaa" => Framework::Hipaa,
            "soc2" | "socii" => Framework::Soc2,
            "cis" => Framework::Cis,
            "nist" | "nist80053" | "80053" | "nistsp80053" => Framework::Nist80053,
            "iso" | "iso27001" | "27001" | "isoiec27001" => Framework::Iso27001,
            _ => return None,
        };
        Some(f)
    }

    /// The accepted names, for the error of an unknown one.
    pub fn accepted() -> String {
        Framework::ALL.map(Framework::id).join(", ")
    }
}

/// Lower-case ASCII letters and digits only.
fn squash(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Lower-case words of letters and digits (`CIS_Docker_v1.2.0` → cis, docker, v1, 2, 0).
fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// The framework a vendor's standard name belongs to, if it is one of the six. NIST 800-171
/// and NIST CSF, ISO 27002/27017, MITRE ATT&CK and vendor-own catalogues are other
/// frameworks and stay unmapped.
pub fn framework_of(standard: &str) -> Option<Framework> {
    let w = words(standard);
    let has = |x: &str| w.iter().any(|v| v == x);
    let squashed = squash(standard);
    if has("pci") || squashed.starts_with("pcidss") {
        return Some(Framework::PciDss);
    }
    if has("hipaa") {
        return Some(Framework::Hipaa);
    }
    if squashed.contains("soc2") || squashed.contains("socii") {
        return Some(Framework::Soc2);
    }
    if has("nist") && squashed.contains("80053") {
        return Some(Framework::Nist80053);
    }
    if squashed.contains("27001") && (has("iso") || squashed.starts_with("isoiec")) {
        return Some(Framework::Iso27001);
    }
    if has("cis") {
        return Some(Framework::Cis);
    }
    None
}

/// One vendor compliance reference, normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    pub framework: Framework,
    /// `4.1`, `SC-8`, `164.312(a)(2)(iv)`; [`UNSPECIFIED`] when the vendor named none.
    pub requirement: String,
    /// The vendor's own words after the id (`Transmission Confidentiality and Integrity`).
    pub text: Option<String>,
    /// The vendor's standard name as given (`PCI DSS v3.2.1`), for the evidence.
    pub standard: String,
}

/// The requirement id of a reference that names none.
pub const UNSPECIFIED: &str = "(no requirement given)";

/// `compliance` normalized, when its standard is one of the six frameworks.
pub fn normalize(c: &Compliance) -> Option<Normalized> {
    let framework = framework_of(&c.standard)?;
    let (requirement, text) = match c.requirement.as_deref().map(str::trim) {
        None | Some("") => (UNSPECIFIED.to_string(), None),
        Some(r) => split_requirement(framework, r),
    };
    Some(Normalized {
        framework,
        requirement,
        text,
        standard: c.standard.trim().to_string(),
    })
}

/// `SC-8 Transmission …` → (`SC-8`, `Transmission …`). A first word with a digit is the id
/// (trailing `.`/`:` dropped); a requirement that has none is its own id (`Privileged principal`).
fn split_requirement(framework: Framework, r: &str) -> (String, Option<String>) {
    let (first, rest) = match r.split_once(char::is_whitespace) {
        Some((a, b)) => (a, Some(b.trim())),
        None => (r, None),
    };
    if !first.chars().any(|c| c.is_ascii_digit()) {
        return (r.to_string(), None);
    }
    let mut id = first.trim_end_matches(['.', ':', ',']).to_string();
    if framework == Framework::Nist80053 {
        // NIST control ids are upper case (`ac-6` and `AC-6` are one control).
        id = id.to_ascii_uppercase();
    }
    let text = rest
        .map(|t| t.trim_start_matches(['-', '–', ':']).trim().to_string())
        .filter(|t| !t.is_empty());
    (id, text)
}

/// An alert's references in `framework`, one per requirement id.
pub fn requirements(compliance: &[Compliance], framework: Framework) -> Vec<Normalized> {
    let mut out: Vec<Normalized> = Vec::new();
    for n in compliance.iter().filter_map(normalize) {
        if n.framework == framework && !out.iter().any(|o| o.requirement == n.requirement) {
            out.push(n);
        }
    }
    // A reference without a requirement only counts when nothing more precise was given.
    if out.len() > 1 {
        out.retain(|n| n.requirement != UNSPECIFIED);
    }
    out
}

/// Requirement ids in reading order: numbers compare as numbers (`1.2` < `1.10` < `2`),
/// the unspecified group last.
pub fn requirement_order(a: &str, b: &str) -> Ordering {
    match (a == UNSPECIFIED, b == UNSPECIFIED) {
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    let (ka, kb) = (chunks(a), chunks(b));
    ka.cmp(&kb).then_with(|| a.cmp(b))
}

/// Runs of digits as numbers and of other characters as lower-case text.
fn chunks(s: &str) -> Vec<(u8, u64, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut digits = false;
    let flush = |cur: &mut String, digits: bool, out: &mut Vec<(u8, u64, String)>| {
        if cur.is_empty() {
            return;
        }
        if digits {
            out.push((0, cur.parse().unwrap_or(u64::MAX), String::new()));
        } else {
            out.push((1, 0, cur.to_ascii_lowercase()));
        }
        cur.clear();
    };
    for c in s.chars() {
        let d = c.is_ascii_digit();
        if d != digits {
            flush(&mut cur, digits, &mut out);
            digits = d;
        }
        cur.push(c);
    }
    flush(&mut cur, digits, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(standard: &str, requirement: Option<&str>) -> Compliance {
        Compliance {
            standard: standard.into(),
            requirement: requirement.map(Into::into),
        }
    }

    #[test]
    fn vendor_standard_names_map_to_the_six_frameworks() {
        let cases = [
            ("PCI DSS v3.1.0", Some(Framework::PciDss)),
            ("PCI DSS v4.0", Some(Framework::PciDss)),
            ("PCI", Some(Framework::PciDss)),
            ("HIPAA", Some(Framework::Hipaa)),
            ("SOC 2", Some(Framework::Soc2)),
            ("AICPA SOC2 Type II", Some(Framework::Soc2)),
            ("CIS AWS Foundations v1.5.0", Some(Framework::Cis)),
            ("CIS Docker v1.2.0", Some(Framework::Cis)),
            ("CIS EKS 1.2.0", Some(Framework::Cis)),
            ("CIS Controls v8", Some(Framework::Cis)),
            ("NIST SP 800-53 Revision 5", Some(Framework::Nist80053)),
            ("NIST 800-53 Rev5", Some(Framework::Nist80053)),
            ("ISO 27001:2013", Some(Framework::Iso27001)),
            ("ISO/IEC 27001:2022", Some(Framework::Iso27001)),
            ("NIST 800-171 Rev.2", None),
            ("NIST CSF v1.1", None),
            ("MITRE ATT&CK Matrix", None),
            ("Wiz for Risk Assessment", None),
            ("ISO 27002", None),
            ("Precision controls", None),
            ("Class 1", None),
        ];
        for (name, want) in cases {
            assert_eq!(framework_of(name), want, "{name}");
        }
    }

    #[test]
    fn requirement_ids_are_split_from_the_vendors_words() {
        let n = normalize(&c(
            "NIST SP 800-53 Revision 5",
            Some("sc-8 Transmission Confidentiality and Integrity"),
        ))
        .unwrap();
        assert_eq!(n.requirement, "SC-8");
        assert_eq!(
            n.text.as_deref(),
            Some("Transmission Confidentiality and Integrity")
        );
        let n = normalize(&c("PCI DSS v3.1.0", Some("4.1 Use strong cryptography"))).unwrap();
        assert_eq!(
            (n.requirement.as_str(), n.standard.as_str()),
            ("4.1", "PCI DSS v3.1.0")
        );
        let n = normalize(&c("HIPAA", Some("164.312(a)(2)(iv)"))).unwrap();
        assert_eq!(n.requirement, "164.312(a)(2)(iv)");
        assert_eq!(n.text, None);
        let n = normalize(&c("CIS EKS 1.2.0", Some("Privileged principal"))).unwrap();
        assert_eq!(n.requirement, "Privileged principal");
        let n = normalize(&c("HIPAA", None)).unwrap();
        assert_eq!(n.requirement, UNSPECIFIED);
        assert_eq!(normalize(&c("NIST CSF v1.1", Some("PR.DS-2"))), None);
    }

    #[test]
    fn an_alert_counts_once_per_requirement_and_unspecified_yields_to_precise() {
        let list = [
            c("PCI DSS v3.2.1", Some("1.3.1")),
            c("PCI DSS v4.0", Some("1.3.1 Inbound traffic")),
            c("PCI", None),
            c("HIPAA", None),
        ];
        let r = requirements(&list, Framework::PciDss);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].requirement, "1.3.1");
        let r = requirements(&list, Framework::Hipaa);
        assert_eq!(r[0].requirement, UNSPECIFIED);
        assert!(requirements(&list, Framework::Soc2).is_empty());
    }

    #[test]
    fn framework_names_parse_loosely_and_unknown_ones_do_not() {
        for (s, f) in [
            ("pci-dss", Framework::PciDss),
            ("PCI DSS", Framework::PciDss),
            ("soc2", Framework::Soc2),
            ("SOC 2", Framework::Soc2),
            ("nist-800-53", Framework::Nist80053),
            ("NIST", Framework::Nist80053),
            ("ISO 27001", Framework::Iso27001),
            ("cis", Framework::Cis),
            ("hipaa", Framework::Hipaa),
        ] {
            assert_eq!(Framework::parse(s), Some(f), "{s}");
        }
        for f in Framework::ALL {
            assert_eq!(Framework::parse(f.id()), Some(f));
            assert_eq!(Framework::parse(f.label()), Some(f));
        }
        assert_eq!(Framework::parse("gdpr"), None);
        assert_eq!(
            Framework::accepted(),
            "pci-dss, hipaa, soc2, cis, nist-800-53, iso-27001"
        );
    }

    #[test]
    fn requirements_sort_numerically() {
        let mut v = vec!["1.10", UNSPECIFIED, "2", "1.2", "AC-6", "AC-3", "10.1"];
        v.sort_by(|a, b| requirement_order(a, b));
        assert_eq!(
            v,
            vec!["1.2", "1.10", "2", "10.1", "AC-3", "AC-6", UNSPECIFIED]
        );
    }
}

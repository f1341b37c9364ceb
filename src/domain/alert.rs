use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::EpochMs;

/// The six CNAPP platforms sitrep reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Vendor {
    PrismaCspm,
    PrismaCompute,
    Wiz,
    Lacework,
    Orca,
    CortexXdr,
}

impl Vendor {
    pub const ALL: [Vendor; 6] = [
        Vendor::PrismaCspm,
        Vendor::PrismaCompute,
        Vendor::Wiz,
        Vendor::Lacework,
        Vendor::Orca,
        Vendor::CortexXdr,
    ];

    /// Where this vendor's row is in the tables below (its place in [`Vendor::ALL`]).
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The name used on the command line, in ids and in the store.
    pub fn as_str(self) -> &'static str {
        VENDOR_INFO[self.index()].name
    }

    /// A human label for prose ("this looks like a Wiz GraphQL response").
    pub fn display_name(self) -> &'static str {
        VENDOR_INFO[self.index()].label
    }

    /// The credential keys a `[[source]]` of this vendor needs.
    pub fn credential_names(self) -> &'static [&'static str] {
        VENDOR_INFO[self.index()].credentials
    }

    pub fn parse(s: &str) -> Option<Vendor> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        Vendor::ALL.into_iter().find(|v| v.as_str() == norm)
    }
}

/// A vendor's names, one row per variant in declaration order. Plain data so that the layers
/// below `vendors/` (config validation, ids, labels) need no `match` on the vendor; everything
/// else a vendor brings is its kit in `vendors/`.
struct VendorInfo {
    name: &'static str,
    label: &'static str,
    credentials: &'static [&'static str],
}

const VENDOR_INFO: [VendorInfo; Vendor::ALL.len()] = [
    VendorInfo {
        name: "prisma-cspm",
        label: "Prisma Cloud CSPM",
        credentials: &["access_key", "secret_key"],
    },
    VendorInfo {
        name: "prisma-compute",
        label: "Prisma Cloud Compute",
        credentials: &["username", "password"],
    },
    VendorInfo {
        name: "wiz",
        label: "Wiz",
        credentials: &["client_id", "client_secret"],
    },
    VendorInfo {
        name: "lacework",
        label: "Lacework",
        credentials: &["key_id", "secret"],
    },
    VendorInfo {
        name: "orca",
        label: "Orca",
        credentials: &["token"],
    },
    VendorInfo {
        name: "cortex-xdr",
        label: "Cortex XDR",
        credentials: &["key_id", "key"],
    },
];

impl fmt::Display for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Normalized severity. Ordered from most to least severe by [`Severity::rank`].
/// A value no mapper recognises is kept as `Other`, never rejected.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
    Info,
    Other(String),
}

impl Severity {
    /// Sort rank, higher is more severe. An unrecognised vendor severity ranks with medium:
    /// hiding an alert because we could not read its severity would be the worse mistake.
    pub fn rank(&self) -> u8 {
        match self {
            Severity::Critical => 5,
            Severity::High => 4,
            Severity::Medium | Severity::Other(_) => 3,
            Severity::Low => 2,
            Severity::Info => 1,
        }
    }

    /// Map a vendor's severity word (any case) to the normalized value.
    pub fn from_vendor(s: &str) -> Severity {
        match s.trim().to_ascii_lowercase().as_str() {
            "critical" | "crit" | "sev_050_critical" | "very_high" | "compromised" => {
                Severity::Critical
            }
            "high" | "sev_040_high" | "imminent compromise" => Severity::High,
            "medium" | "moderate" | "sev_030_medium" | "hazardous" => Severity::Medium,
            "low" | "sev_020_low" => Severity::Low,
            "info" | "informational" | "information" | "sev_010_info" | "none" => Severity::Info,
            "" => Severity::Other("unknown".into()),
            other => Severity::Other(other.to_string()),
        }
    }

    /// Parse the canonical word (as written in the store and in the filter language).
    pub fn parse(s: &str) -> Option<Severity> {
        match s.trim().to_ascii_lowercase().as_str() {
            "critical" | "crit" => Some(Severity::Critical),
            "high" => Some(Severity::High),
            "medium" | "med" => Some(Severity::Medium),
            "low" => Some(Severity::Low),
            "info" | "informational" => Some(Severity::Info),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Info => "info",
            Severity::Other(s) => s,
        }
    }

    /// The stored form: canonical words, or `other(x)`.
    pub fn to_store(&self) -> String {
        match self {
            Severity::Other(s) => format!("other({s})"),
            s => s.as_str().to_string(),
        }
    }

    pub fn from_store(s: &str) -> Severity {
        if let Some(inner) = s.strip_prefix("other(").and_then(|r| r.strip_suffix(')')) {
            return Severity::Other(inner.to_string());
        }
        Severity::parse(s).unwrap_or_else(|| Severity::Other(s.to_string()))
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_store())
    }
}

impl Serialize for Severity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_store())
    }
}

impl<'de> Deserialize<'de> for Severity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Severity::from_store(&s))
    }
}

/// What kind of problem the finding is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Category {
    Misconfiguration,
    Vulnerability,
    Runtime,
    Identity,
    Data,
    Network,
    Other(String),
}

impl Category {
    pub const KNOWN: [&'static str; 6] = [
        "misconfiguration",
        "vulnerability",
        "runtime",
        "identity",
        "data",
        "network",
    ];

    pub fn parse(s: &str) -> Option<Category> {
        match s.trim().to_ascii_lowercase().as_str() {
            "misconfiguration" | "misconfig" | "config" => Some(Category::Misconfiguration),
            "vulnerability" | "vuln" => Some(Category::Vulnerability),
            "runtime" => Some(Category::Runtime),
            "identity" | "iam" => Some(Category::Identity),
            "data" => Some(Category::Data),
            "network" | "net" => Some(Category::Network),
            _ => None,
        }
    }

    pub fn to_store(&self) -> String {
        match self {
            Category::Misconfiguration => "misconfiguration".into(),
            Category::Vulnerability => "vulnerability".into(),
            Category::Runtime => "runtime".into(),
            Category::Identity => "identity".into(),
            Category::Data => "data".into(),
            Category::Network => "network".into(),
            Category::Other(s) => format!("other({s})"),
        }
    }

    pub fn from_store(s: &str) -> Category {
        if let Some(inner) = s.strip_prefix("other(").and_then(|r| r.strip_suffix(')')) {
            return Category::Other(inner.to_string());
        }
        Category::parse(s).unwrap_or_else(|| Category::Other(s.to_string()))
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_store())
    }
}

impl Serialize for Category {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_store())
    }
}

impl<'de> Deserialize<'de> for Category {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Category::from_store(&s))
    }
}

/// The cloud (or platform) a resource lives in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Cloud {
    Aws,
    Azure,
    Gcp,
    Oci,
    Alibaba,
    Kubernetes,
    Other(String),
}

impl Cloud {
    pub fn from_vendor(s: &str) -> Cloud {
        match s.trim().to_ascii_lowercase().as_str() {
            "aws" | "amazon" | "amazon web services" => Cloud::Aws,
            "azure" | "microsoft azure" => Cloud::Azure,
            "gcp" | "google" | "google cloud" | "gcloud" => Cloud::Gcp,
            "oci" | "oracle" => Cloud::Oci,
            "alibaba" | "alibaba_cloud" | "alibabacloud" => Cloud::Alibaba,
            "kubernetes" | "k8s" | "eks" | "aks" | "gke" => Cloud::Kubernetes,
            other => Cloud::Other(other.to_string()),
        }
    }

    pub fn to_store(&self) -> String {
        match self {
            Cloud::Aws => "aws".into(),
            Cloud::Azure => "azure".into(),
            Cloud::Gcp => "gcp".into(),
            Cloud::Oci => "oci".into(),
            Cloud::Alibaba => "alibaba".into(),
            Cloud::Kubernetes => "kubernetes".into(),
            Cloud::Other(s) => format!("other({s})"),
        }
    }

    pub fn from_store(s: &str) -> Cloud {
        if let Some(inner) = s.strip_prefix("other(").and_then(|r| r.strip_suffix(')')) {
            return Cloud::Other(inner.to_string());
        }
        Cloud::from_vendor(s)
    }
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_store())
    }
}

impl Serialize for Cloud {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_store())
    }
}

impl<'de> Deserialize<'de> for Cloud {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Cloud::from_store(&s))
    }
}

/// The vendor's own view of the finding's state, normalized. The analyst's status in sitrep
/// is separate ([`super::Status`]); this one is what the vendor last said.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VendorState {
    Open,
    InProgress,
    Resolved,
    Dismissed,
    Snoozed,
    Other(String),
}

impl VendorState {
    /// The stored forms of the states in which the vendor no longer holds an alert open.
    pub const CLOSED: [&'static str; 2] = ["resolved", "dismissed"];

    /// Resolved or dismissed at the vendor.
    pub fn is_closed(&self) -> bool {
        matches!(self, VendorState::Resolved | VendorState::Dismissed)
    }

    pub fn to_store(&self) -> String {
        match self {
            VendorState::Open => "open".into(),
            VendorState::InProgress => "in_progress".into(),
            VendorState::Resolved => "resolved".into(),
            VendorState::Dismissed => "dismissed".into(),
            VendorState::Snoozed => "snoozed".into(),
            VendorState::Other(s) => format!("other({s})"),
        }
    }

    pub fn from_store(s: &str) -> VendorState {
        match s {
            "open" => VendorState::Open,
            "in_progress" => VendorState::InProgress,
            "resolved" => VendorState::Resolved,
            "dismissed" => VendorState::Dismissed,
            "snoozed" => VendorState::Snoozed,
            other => VendorState::Other(
                other
                    .strip_prefix("other(")
                    .and_then(|r| r.strip_suffix(')'))
                    .unwrap_or(other)
                    .to_string(),
            ),
        }
    }
}

impl Serialize for VendorState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_store())
    }
}

impl<'de> Deserialize<'de> for VendorState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(VendorState::from_store(&s))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub id: Option<String>,
    pub name: Option<String>,
    /// The vendor's own severity word, verbatim.
    pub vendor_severity: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    /// The strongest identity the vendor gives: an ARN, an Azure resource id, a GCP resource
    /// name, a Prisma rrn, a Kubernetes path, an image digest, a host name.
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub rtype: Option<String>,
    pub cloud: Option<Cloud>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Exposure {
    /// `Some(true)` when the vendor says the resource is reachable from the internet.
    pub internet_facing: Option<bool>,
    pub open_ports: Vec<u16>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cve {
    pub id: String,
    pub cvss: Option<f64>,
    pub cvss_vector: Option<String>,
    pub package: Option<String>,
    pub package_version: Option<String>,
    pub fixed_version: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Compliance {
    pub standard: String,
    pub requirement: Option<String>,
}

/// A vendor's assertion that a finding is itself an attack path (a Wiz toxic combination, a
/// Prisma Cloud attack-path policy, an Orca attack path), typed by the vendor's mapper so that
/// triage never reads a vendor's JSON keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VendorPath {
    pub kind: VendorPathKind,
    /// The rule, policy or finding the vendor names: vendor text, sanitized where shown.
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VendorPathKind {
    /// A Wiz issue of type `TOXIC_COMBINATION`; the name is its rule's.
    WizToxicCombination,
    /// A Prisma Cloud alert of an attack-path policy; the name is the policy's.
    PrismaAttackPathPolicy,
    /// An Orca alert with blast-radius context; the name is its title.
    OrcaBlastRadius,
    /// An Orca alert titled as an attack path.
    OrcaAttackPath,
}

impl VendorPathKind {
    /// The words shown before the name ("Wiz toxic combination: …").
    pub fn label(self) -> &'static str {
        match self {
            VendorPathKind::WizToxicCombination => "Wiz toxic combination",
            VendorPathKind::PrismaAttackPathPolicy => "Prisma Cloud attack-path policy",
            VendorPathKind::OrcaBlastRadius => "Orca attack path (blast radius)",
            VendorPathKind::OrcaAttackPath => "Orca attack path",
        }
    }
}

/// One normalized finding. Key: `(source, native_id)`; [`Alert::id`] is `<source>:<native_id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The configured source's name, or the vendor's name for `sitrep import`.
    pub source: String,
    pub vendor: Vendor,
    pub native_id: String,
    pub category: Category,
    pub title: String,
    pub description: Option<String>,
    pub policy: Policy,
    pub severity: Severity,
    pub resource: Resource,
    pub exposure: Exposure,
    pub cves: Vec<Cve>,
    pub compliance: Vec<Compliance>,
    pub first_seen: Option<EpochMs>,
    pub last_seen: Option<EpochMs>,
    /// When the vendor last changed the finding (falls back to last_seen).
    pub vendor_updated: Option<EpochMs>,
    pub vendor_status: VendorState,
    pub remediation: Option<String>,
    /// Graph or attack-path context as the vendor gives it (kept as JSON, to show).
    pub attack_context: Option<serde_json::Value>,
    /// The vendor's own word that this finding is an attack path, read by its mapper; what
    /// triage reads (never `attack_context`). Not in `show --json`, which shows the context.
    #[serde(skip)]
    pub vendor_path: Option<VendorPath>,
    /// The vendor's object for this finding, verbatim (compact JSON text; reads as a
    /// `serde_json::Value` through `Deref`).
    pub raw: RawJson,
}

impl Alert {
    pub fn id(&self) -> String {
        format!("{}:{}", self.source, self.native_id)
    }

    /// A minimal alert with every optional field empty, for mappers to fill in.
    pub fn new(vendor: Vendor, native_id: impl Into<String>, raw: impl Into<RawJson>) -> Alert {
        Alert {
            source: vendor.as_str().to_string(),
            vendor,
            native_id: native_id.into(),
            category: Category::Other("unknown".into()),
            title: String::new(),
            description: None,
            policy: Policy::default(),
            severity: Severity::Other("unknown".into()),
            resource: Resource::default(),
            exposure: Exposure::default(),
            cves: Vec::new(),
            compliance: Vec::new(),
            first_seen: None,
            last_seen: None,
            vendor_updated: None,
            vendor_status: VendorState::Open,
            remediation: None,
            attack_context: None,
            vendor_path: None,
            raw: raw.into(),
        }
    }
}

/// A vendor's object as compact JSON text — serde_json's compact serialization, which is what
/// the store writes, hashes and scans for control characters — with the parsed tree built
/// only when something reads it (`Deref` to [`serde_json::Value`], parsed once). A mapper
/// serializes the borrowed item ([`RawJson::of`]), never clones its tree.
pub struct RawJson {
    text: Box<str>,
    value: std::sync::OnceLock<serde_json::Value>,
}

impl RawJson {
    /// The compact serialization of a borrowed value (no clone of the tree).
    pub fn of(v: &serde_json::Value) -> RawJson {
        RawJson {
            text: serde_json::to_string(v)
                .unwrap_or_else(|_| "null".into())
                .into_boxed_str(),
            value: std::sync::OnceLock::new(),
        }
    }

    /// Text that is already serde_json's compact serialization of the value it holds (as the
    /// store's column is). It is parsed on first read; text that does not parse reads as
    /// `null`.
    pub fn from_compact_text(text: impl Into<Box<str>>) -> RawJson {
        RawJson {
            text: text.into(),
            value: std::sync::OnceLock::new(),
        }
    }

    /// Parse stored text now (so a corrupt column is an error where it is read), keeping both.
    pub fn parse(text: String) -> Result<RawJson, serde_json::Error> {
        let v: serde_json::Value = serde_json::from_str(&text)?;
        Ok(RawJson {
            text: text.into_boxed_str(),
            value: std::sync::OnceLock::from(v),
        })
    }

    /// The compact JSON text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parsed value (parsed on first use).
    pub fn value(&self) -> &serde_json::Value {
        self.value
            .get_or_init(|| serde_json::from_str(&self.text).unwrap_or(serde_json::Value::Null))
    }
}

impl From<serde_json::Value> for RawJson {
    fn from(v: serde_json::Value) -> RawJson {
        RawJson::of(&v)
    }
}

impl Default for RawJson {
    fn default() -> RawJson {
        serde_json::Value::Null.into()
    }
}

impl std::ops::Deref for RawJson {
    type Target = serde_json::Value;
    fn deref(&self) -> &serde_json::Value {
        self.value()
    }
}

impl Clone for RawJson {
    fn clone(&self) -> RawJson {
        RawJson {
            text: self.text.clone(),
            value: std::sync::OnceLock::new(),
        }
    }
}

impl PartialEq for RawJson {
    fn eq(&self, other: &RawJson) -> bool {
        self.text == other.text || self.value() == other.value()
    }
}

impl PartialEq<serde_json::Value> for RawJson {
    fn eq(&self, other: &serde_json::Value) -> bool {
        self.value() == other
    }
}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.value(), f)
    }
}

impl Serialize for RawJson {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(serde_json::Value::deserialize(d)?.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_enum_values_are_kept_as_other() {
        assert_eq!(
            Severity::from_vendor("Catastrophic"),
            Severity::Other("catastrophic".into())
        );
        assert_eq!(
            Severity::from_vendor("Catastrophic").to_store(),
            "other(catastrophic)"
        );
        assert_eq!(
            Severity::from_store("other(catastrophic)"),
            Severity::Other("catastrophic".into())
        );
        assert_eq!(Cloud::from_store("other(ibm)"), Cloud::Other("ibm".into()));
        assert_eq!(
            Category::from_store("other(malware)"),
            Category::Other("malware".into())
        );
        assert_eq!(
            VendorState::from_store("other(weird)"),
            VendorState::Other("weird".into())
        );
    }

    #[test]
    fn severity_ranks_are_ordered() {
        let order = ["critical", "high", "medium", "low", "informational"];
        let ranks: Vec<u8> = order
            .iter()
            .map(|s| Severity::from_vendor(s).rank())
            .collect();
        assert_eq!(ranks, vec![5, 4, 3, 2, 1]);
        assert_eq!(Severity::from_vendor("SEV_030_MEDIUM"), Severity::Medium);
    }

    #[test]
    fn closed_vendor_states_agree_with_their_stored_forms() {
        for v in [
            VendorState::Open,
            VendorState::InProgress,
            VendorState::Resolved,
            VendorState::Dismissed,
            VendorState::Snoozed,
            VendorState::Other("closed".into()),
        ] {
            assert_eq!(
                v.is_closed(),
                VendorState::CLOSED.contains(&v.to_store().as_str()),
                "{v:?}"
            );
        }
    }

    #[test]
    fn raw_json_reads_as_its_value() {
        let v = serde_json::json!({"b": [1, 2.5, "x\u{1b}"], "a": {"n": null}});
        let r = RawJson::from(v.clone());
        assert_eq!(r.as_str(), serde_json::to_string(&v).expect("json"));
        assert_eq!(r, v);
        assert_eq!(r["b"][1], 2.5);
        let lazy = RawJson::from_compact_text(r.as_str());
        assert_eq!(lazy, r);
        assert_eq!(lazy.clone()["a"], serde_json::json!({"n": null}));
        assert_eq!(serde_json::to_string(&lazy).expect("json"), r.as_str());
        let back: RawJson = serde_json::from_str(r.as_str()).expect("json");
        assert_eq!(back.as_str(), r.as_str());
        assert!(RawJson::parse("{not json".into()).is_err());
        assert!(RawJson::from_compact_text("{not json").is_null());
    }

    #[test]
    fn vendor_names_round_trip() {
        for v in Vendor::ALL {
            assert_eq!(Vendor::parse(v.as_str()), Some(v));
        }
        assert_eq!(Vendor::parse("CORTEX_XDR"), Some(Vendor::CortexXdr));
        assert_eq!(Vendor::parse("splunk"), None);
    }
}

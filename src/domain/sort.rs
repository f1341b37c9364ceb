//! The queue's orders, by name: the config's `sort`, `list --sort` and the console's sort key
//! all name one of these; the store turns it into an ORDER BY.

/// Queue order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SortKey {
    /// Priority score, then severity, then most recent activity (the default queue).
    #[default]
    Score,
    /// Severity, then most recent activity.
    Severity,
    /// Most recent activity first.
    Recent,
    /// Oldest first-seen first (SLA view).
    Oldest,
    Vendor,
    Title,
    Resource,
    Account,
    Status,
}

impl SortKey {
    pub const NAMES: [&'static str; 9] = [
        "score", "severity", "recent", "oldest", "vendor", "title", "resource", "account", "status",
    ];

    pub fn parse(s: &str) -> Option<SortKey> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "score" | "priority" => SortKey::Score,
            "severity" | "sev" => SortKey::Severity,
            "recent" | "time" | "last_seen" | "updated" => SortKey::Recent,
            "oldest" | "age" | "first_seen" => SortKey::Oldest,
            "vendor" => SortKey::Vendor,
            "title" => SortKey::Title,
            "resource" => SortKey::Resource,
            "account" => SortKey::Account,
            "status" => SortKey::Status,
            _ => return None,
        })
    }
}

//! The priority score back to the vendor (issue 22 part 6): for a `[[source]]` with
//! `score_back = true`, each open alert's score and its one-line reason go to the vendor's
//! finding as a comment, through the outbox, once per change of score band
//! (docs/prioritization.md, "Score bands"). The band last queued is kept per alert
//! (`score_bands`, migration 0015) in the same transaction as the comment's outbox row, so a
//! band is sent once and never repeated; a band that changes and comes back is a new change.

use crate::config::Config;
use crate::domain::EpochMs;
use crate::store::{BandChange, OutboxItem, OutboxKind, Store, StoreError};

use super::payload::{VendorAction, VendorPayload};

/// The bands, highest first: (name, lowest score in it).
pub const BANDS: [(&str, u8); 4] = [("critical", 80), ("high", 60), ("medium", 40), ("low", 0)];

/// The band of a score.
pub fn band(score: u8) -> &'static str {
    BANDS
        .iter()
        .find(|(_, floor)| score >= *floor)
        .map_or("low", |(name, _)| name)
}

/// Why a source's `score_back = true` cannot work (its vendor takes no comments), one line per
/// such source, for `sitrep config check`.
pub fn check(config: &Config) -> Vec<String> {
    config
        .sources
        .iter()
        .filter(|s| s.score_back && !takes_comments(s.vendor))
        .map(|s| {
            format!(
                "[[source]] {}: score_back: {} has no comment or note API, so the score cannot be written back (docs/prioritization.md); remove score_back",
                s.name,
                s.vendor.display_name()
            )
        })
        .collect()
}

fn takes_comments(v: crate::domain::Vendor) -> bool {
    crate::vendors::kit(v).write_backs.contains(&"comment")
}

/// What a pass queued.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Queued {
    /// Comments queued (band changes).
    pub queued: usize,
    /// Band changes the vendor cannot take for this alert (e.g. a Wiz vulnerability finding).
    pub refused: usize,
}

/// Compare every open alert of the `score_back` sources with the band last sent and queue a
/// comment for each change. Cheap when nothing changed: one indexed scan, no writes.
pub fn queue(store: &mut Store, config: &Config, now: EpochMs) -> Result<Queued, StoreError> {
    let sources: Vec<String> = config
        .sources
        .iter()
        .filter(|s| s.score_back && takes_comments(s.vendor))
        .map(|s| s.name.clone())
        .collect();
    let mut out = Queued::default();
    let mut changes = Vec::new();
    for c in store.score_band_candidates(&sources, 1_000_000)? {
        let b = band(c.score);
        if c.last_band.as_deref() == Some(b) {
            continue;
        }
        let Some(alert) = store.get(&c.alert_id)? else {
            continue;
        };
        if (crate::vendors::kit(alert.alert.vendor).refuse_write_back)(&alert.alert).is_some() {
            out.refused += 1;
            continue;
        }
        let reason = store
            .score_breakdown(&c.alert_id, store.scoring())?
            .and_then(|s| {
                s.factors
                    .into_iter()
                    .filter(|f| f.points > 0)
                    .max_by_key(|f| f.points)
            })
            .map(|f| format!(": {}", crate::sanitize::one_line(&f.label)))
            .unwrap_or_default();
        let text = super::notice::truncate_chars(
            &format!("[sitrep] priority {}/100 ({b}){reason}", c.score),
            500,
        );
        let payload = VendorPayload {
            native_id: c.native_id.clone(),
            action: VendorAction::Comment { text },
        };
        changes.push(BandChange {
            alert_id: c.alert_id.clone(),
            band: b.to_string(),
            score: c.score,
            outbox: OutboxItem {
                dedup_key: format!("score_back:{}:{}", c.alert_id, c.changes + 1),
                alert_id: Some(c.alert_id.clone()),
                kind: OutboxKind::Vendor,
                destination: c.source.clone(),
                payload: serde_json::to_value(payload).unwrap_or_default(),
            },
        });
    }
    out.queued = store.record_band_changes(&changes, now)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_cover_the_scale() {
        assert_eq!(band(100), "critical");
        assert_eq!(band(80), "critical");
        assert_eq!(band(79), "high");
        assert_eq!(band(60), "high");
        assert_eq!(band(59), "medium");
        assert_eq!(band(40), "medium");
        assert_eq!(band(39), "low");
        assert_eq!(band(0), "low");
    }
}

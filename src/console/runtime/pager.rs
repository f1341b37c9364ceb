//! How the worker reads a window of the queue at any position for about the cost of its
//! first page (issue 19): from the top, from the end (the kept counts say where it is), or
//! from the keys of the window it read last, whichever is fewest rows away. An OFFSET from
//! the top is the fallback only when none is nearer.

use crate::domain::{EpochMs, SortKey};
use crate::store::{ListRequest, QueueCount, QueueKey, QueueRow, Seek, Store, StoreError};
use crate::triage::query::Query;

/// Counting an arbitrary filter stops this many matches past the window (shown as "N+").
pub const COUNT_CAP: usize = 10_000;

/// The last window read: which listing, where it started, and each row's key.
struct Memo {
    filter: Option<Query>,
    sort: SortKey,
    start: usize,
    keys: Vec<QueueKey>,
    /// `PRAGMA data_version` when it was read: another connection's commit moves rows.
    version: i64,
}

pub struct Pager {
    memo: Option<Memo>,
    /// How far past the window an arbitrary filter is counted ([`COUNT_CAP`]).
    cap: usize,
}

impl Default for Pager {
    fn default() -> Pager {
        Pager {
            memo: None,
            cap: COUNT_CAP,
        }
    }
}

/// A window of the queue and how many rows the queue holds.
pub struct Page {
    pub rows: Vec<QueueRow>,
    pub total: QueueCount,
}

impl Pager {
    /// Forget the last window (after this connection wrote: positions may have moved).
    pub fn forget(&mut self) {
        self.memo = None;
    }

    /// Rows `start..start + len` of the queue under `filter` in `sort`'s order.
    pub fn window(
        &mut self,
        store: &Store,
        filter: Option<&Query>,
        sort: SortKey,
        start: usize,
        len: usize,
        now_ms: EpochMs,
    ) -> Result<Page, StoreError> {
        // A filter that names statuses, or asks for what the vendor closed, decides the
        // statuses itself (as `sitrep list` does).
        let include_closed = filter.is_some_and(|q| q.decides_statuses());
        let base = ListRequest {
            filter,
            include_closed,
            sort,
            limit: len,
            offset: 0,
            now_ms,
        };
        // A text filter is counted less far past the window (`ListRequest::count_cap`).
        let mut total = store.count_upto(&base, start + len + base.count_cap(self.cap))?;
        if !total.exact && start + len >= total.n {
            // Asked for the end of a queue counted only so far (`G`): count it all.
            total = QueueCount {
                n: store.count(&base)?,
                exact: true,
            };
        }
        let version = store.data_version()?;
        if self
            .memo
            .as_ref()
            .is_some_and(|m| m.version != version || m.sort != sort || m.filter.as_ref() != filter)
        {
            self.memo = None;
        }
        let end = (start + len).min(if total.exact { total.n } else { usize::MAX });
        let want = end.saturating_sub(start);
        let rows = if want == 0 {
            Vec::new()
        } else {
            let (seek, offset) = self.plan(start, end, total);
            let req = ListRequest {
                limit: want,
                offset,
                ..base.clone()
            };
            match seek {
                None => store.list(&req)?,
                Some(seek) => store.list_seek(&req, &seek)?,
            }
        };
        self.memo = Some(Memo {
            filter: filter.cloned(),
            sort,
            start,
            keys: rows.iter().map(|r| QueueKey::of(r, sort)).collect(),
            version,
        });
        Ok(Page { rows, total })
    }

    /// The nearest way to rows `start..end`: a seek (None: from the top) and how many rows to
    /// skip from it.
    fn plan(&self, start: usize, end: usize, total: QueueCount) -> (Option<Seek>, usize) {
        let mut best = (None, start);
        let mut consider = |seek: Seek, skip: usize| {
            if skip < best.1 {
                best = (Some(seek), skip);
            }
        };
        if total.exact {
            consider(Seek::End, total.n.saturating_sub(end));
        }
        if let Some(m) = &self.memo
            && let (Some(first), Some(last)) = (m.keys.first(), m.keys.last())
        {
            let m_end = m.start + m.keys.len();
            if start > m.start && start - 1 < m_end {
                consider(Seek::After(m.keys[start - 1 - m.start].clone()), 0);
            } else if start >= m_end {
                consider(Seek::After(last.clone()), start - m_end);
            }
            if end >= m.start && end < m_end {
                consider(Seek::Before(m.keys[end - m.start].clone()), 0);
            } else if end < m.start {
                consider(Seek::Before(first.clone()), m.start - end);
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Alert, Severity, Vendor};

    const NOW: i64 = 1_795_305_600_000;

    /// 500 alerts with many ties in the queue order.
    fn store() -> Store {
        let sevs = [Severity::Critical, Severity::High, Severity::Low];
        let alerts: Vec<Alert> = (0..500u32)
            .map(|n| {
                let mut a = Alert::new(Vendor::Wiz, format!("a{n}"), serde_json::json!({"n": n}));
                a.title = format!("finding {}", n % 4);
                a.severity = sevs[(n % 3) as usize].clone();
                a.last_seen = Some(NOW - i64::from(n % 7) * 1000);
                a
            })
            .collect();
        let mut s = Store::open_in_memory().expect("store");
        s.import(&alerts, NOW).expect("import");
        s
    }

    /// Whatever the order of the windows asked for (down a page, the end, back up, a jump),
    /// each holds exactly the rows an offset listing gives there, and the total is right;
    /// an arbitrary filter's count stops at the cap until the end is asked for.
    #[test]
    fn windows_from_any_position_are_the_offset_listings_rows() {
        let s = store();
        let text = crate::triage::query::parse("finding").expect("query");
        for filter in [None, Some(&text)] {
            let mut pager = Pager {
                cap: 40,
                ..Pager::default()
            };
            let all = s
                .list(&ListRequest {
                    filter,
                    limit: 1000,
                    now_ms: NOW,
                    ..Default::default()
                })
                .expect("list");
            assert_eq!(all.len(), 500);
            for (start, len) in [
                (0, 50),
                (50, 50),
                (120, 30),
                (470, 50),
                (440, 30),
                (300, 40),
                (260, 40),
                (262, 40),
                (0, 10),
                (498, 10),
            ] {
                let page = pager
                    .window(&s, filter, SortKey::Score, start, len, NOW)
                    .expect("window");
                let want = &all[start.min(500)..(start + len).min(500)];
                let ids = |rows: &[QueueRow]| rows.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
                assert_eq!(ids(&page.rows), ids(want), "{start}+{len} {filter:?}");
                if filter.is_none() || start + len + 40 >= 500 {
                    assert_eq!(
                        page.total,
                        QueueCount {
                            n: 500,
                            exact: true
                        }
                    );
                } else {
                    assert_eq!(
                        page.total,
                        QueueCount {
                            n: start + len + 40,
                            exact: false
                        },
                        "{start}+{len}"
                    );
                }
            }
        }
    }
}

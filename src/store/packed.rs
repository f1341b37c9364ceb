//! The stored form of an alert's raw vendor payload (`alerts.raw_json`).
//!
//! A payload is most of an alert's bytes (a Cortex XDR alert: about 5 KB of its 8 KB row) and
//! is read only when one alert is opened in full, so it is kept LZ4-compressed: a single
//! vendor item shrinks to about half (a 5.2 KB Cortex XDR alert packs into 2.4 KB), and every
//! byte not written is a byte neither the WAL nor its checkpoint copies. Short payloads, and
//! any that do not shrink, stay plain text.
//!
//! The column holds either TEXT (the payload as is; every row written before this form, and
//! the short ones) or a BLOB: one format byte [`LZ4`], the payload's length as a little-endian
//! u32, then an LZ4 block. Reading checks the declared length against a ceiling before
//! allocating, so a damaged database file cannot make a read allocate gigabytes.

use rusqlite::types::ValueRef;

/// Format byte of an LZ4 block with its length prepended (`lz4_flex::compress_prepend_size`).
const LZ4: u8 = 1;

/// Below this many bytes a payload is stored as text: it fits in its row anyway.
const MIN_PACKED: usize = 512;

/// No payload read back may claim more than this (a vendor item is kilobytes; the largest
/// page a client accepts is far below it).
const MAX_UNPACKED: usize = 64 << 20;

/// The BLOB to store for `text`, or `None` to store the text itself.
pub(super) fn pack(text: &str) -> Option<Vec<u8>> {
    if text.len() < MIN_PACKED || text.len() > MAX_UNPACKED {
        return None;
    }
    let block = lz4_flex::block::compress_prepend_size(text.as_bytes());
    if block.len() + 1 >= text.len() {
        return None;
    }
    let mut out = Vec::with_capacity(block.len() + 1);
    out.push(LZ4);
    out.extend_from_slice(&block);
    Some(out)
}

/// The payload text of a stored column value; the error names what is wrong with it.
pub(super) fn unpack(v: ValueRef<'_>) -> Result<String, String> {
    match v {
        ValueRef::Text(t) => String::from_utf8(t.to_vec()).map_err(|_| "not UTF-8".to_string()),
        ValueRef::Blob(b) => {
            let Some((&LZ4, block)) = b.split_first() else {
                return Err(format!(
                    "unknown packed form {}",
                    b.first().map_or("(empty)".into(), |f| format!("0x{f:02x}"))
                ));
            };
            let declared = block
                .get(..4)
                .map(|n| u32::from_le_bytes([n[0], n[1], n[2], n[3]]) as usize)
                .ok_or("packed payload is truncated")?;
            // LZ4 expands at most 255:1.
            if declared > MAX_UNPACKED || declared > block.len().saturating_mul(255) {
                return Err(format!("packed payload claims {declared} bytes"));
            }
            let bytes = lz4_flex::block::decompress_size_prepended(block)
                .map_err(|e| format!("packed payload does not decompress: {e}"))?;
            String::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())
        }
        ValueRef::Null => Err("missing".into()),
        ValueRef::Integer(_) | ValueRef::Real(_) => Err("a number, not a payload".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_in_either_form() {
        let long = format!(
            "{{\"alert_id\":\"1\",\"description\":\"{}\",\"é\":\"ü\"}}",
            "x y ".repeat(400)
        );
        let packed = pack(&long).expect("a long repetitive payload is packed");
        assert!(
            packed.len() * 4 < long.len(),
            "{} of {}",
            packed.len(),
            long.len()
        );
        assert_eq!(packed[0], LZ4);
        assert_eq!(
            unpack(ValueRef::Blob(&packed)).as_deref(),
            Ok(long.as_str())
        );

        let short = "{\"id\":\"P-1\"}";
        assert_eq!(pack(short), None);
        assert_eq!(
            unpack(ValueRef::Text(short.as_bytes())).as_deref(),
            Ok(short)
        );
    }

    #[test]
    fn text_that_does_not_shrink_stays_text() {
        // 600 bytes with no repeats an LZ4 match could use.
        let mut s = String::new();
        let mut x: u32 = 12345;
        while s.len() < 600 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            s.push(char::from(b'!' + ((x >> 16) % 90) as u8));
        }
        assert_eq!(pack(&s), None);
    }

    #[test]
    fn damaged_blobs_are_errors_not_allocations() {
        let good = pack(&"{\"k\":\"abcdefgh\"}".repeat(64)).expect("packed");
        // A length far beyond what the block could hold.
        let mut huge = good.clone();
        huge[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(unpack(ValueRef::Blob(&huge)).is_err_and(|e| e.contains("claims")));
        // Cut short.
        let cut = &good[..good.len() / 2];
        assert!(unpack(ValueRef::Blob(cut)).is_err());
        assert!(unpack(ValueRef::Blob(&good[..3])).is_err());
        // Another format byte, or none.
        let mut other = good.clone();
        other[0] = 7;
        assert_eq!(
            unpack(ValueRef::Blob(&other)),
            Err("unknown packed form 0x07".into())
        );
        assert_eq!(
            unpack(ValueRef::Blob(&[])),
            Err("unknown packed form (empty)".into())
        );
        assert!(unpack(ValueRef::Null).is_err());
    }
}

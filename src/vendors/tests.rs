//! The registry and item-by-item mapping, for every vendor.

use serde_json::Value;

use super::*;
use crate::sim::world::World;

/// The registry covers every vendor, each kit is its own vendor's, and the domain's name
/// table is in `Vendor::ALL` order.
#[test]
fn the_registry_covers_every_vendor() {
    for (i, v) in Vendor::ALL.into_iter().enumerate() {
        assert_eq!(kit(v).vendor, v);
        assert_eq!(v.index(), i);
        assert!(!kit(v).item_paths.is_empty(), "{v}");
        assert!(!v.credential_names().is_empty(), "{v}");
        assert_eq!(Vendor::parse(v.as_str()), Some(v));
    }
}

/// Item by item gives what the whole reply gives, for every vendor's emitted pages (compact
/// and pretty-printed) and every corpus file of its own; the envelope reads as the reply
/// with `null` items.
#[test]
fn item_by_item_equals_the_whole_reply() {
    let world = World::generate(7, 120, 1_795_305_600_000);
    let mut bodies = Vec::new();
    for vendor in Vendor::ALL {
        let findings: Vec<_> = world.findings_for(vendor).collect();
        let items = super::emit::items(vendor, &world, &findings);
        if vendor == Vendor::Wiz {
            // As the simulator serves pages: one connection per reply.
            let issues = items.iter().filter(|n| n.get("vulnerableAsset").is_none());
            let body = crate::vendors::wiz::sim::emit::page_body(
                "issues",
                issues.cloned().collect(),
                true,
            );
            bodies.push((vendor, body, true));
        }
        // The world's list body: Wiz's holds two connections, mapped whole.
        let body = super::emit::list_body(vendor, items);
        bodies.push((vendor, body, vendor != Vendor::Wiz));
    }
    for (vendor, body, by_item) in bodies {
        for text in [
            body.to_string(),
            serde_json::to_string_pretty(&body).expect("json"),
        ] {
            let page = parse_page(vendor, text.as_bytes()).expect("parses");
            assert_eq!(page.by_item(), by_item, "{vendor}");
            let whole = map_payload(vendor, "s", &body).expect("maps");
            assert_eq!(page.clone().into_value(), body, "{vendor}");
            let items = map_page(vendor, "s", page).expect("maps");
            assert!(!whole.is_empty(), "{vendor}");
            assert_eq!(items, whole, "{vendor}");
            for (a, b) in items.iter().zip(&whole) {
                assert_eq!(a.raw.as_str(), b.raw.as_str(), "{vendor}");
            }
        }
    }
}

#[test]
fn corpus_pages_map_the_same_item_by_item() {
    let Some(dir) = crate::sources::corpus::dir() else {
        return;
    };
    let mut compared = 0;
    for vendor in Vendor::ALL {
        let Ok(entries) = std::fs::read_dir(dir.join(vendor.as_str())) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.extension().and_then(|x| x.to_str()) != Some("json") {
                continue;
            }
            let text = std::fs::read(&path).expect("read");
            let Ok(body) = serde_json::from_slice::<Value>(&text) else {
                continue;
            };
            let page = parse_page(vendor, &text).expect("parses as it did whole");
            assert_eq!(page.clone().into_value(), body, "{}", path.display());
            let whole = map_payload(vendor, "s", &body);
            assert_eq!(map_page(vendor, "s", page), whole, "{}", path.display());
            compared += 1;
        }
    }
    assert!(compared > 0, "no corpus file compared");
}

/// A page whose item fails to map gives the whole reply's error, item index included.
#[test]
fn mapping_errors_read_as_the_whole_replys() {
    let text = br#"{"totalRows": 2, "items": [{"id": "P-1", "policy": {"policyType": "config", "severity": "high"}, "resource": {"id": "r"}, "alertTime": 1}, 7]}"#;
    let body: Value = serde_json::from_slice(text).expect("json");
    let page = parse_page(Vendor::PrismaCspm, text).expect("parses");
    let want = map_payload(Vendor::PrismaCspm, "s", &body);
    assert!(want.is_err(), "{want:?}");
    assert_eq!(map_page(Vendor::PrismaCspm, "s", page), want);
}

/// Streamed, a payload maps to what it maps to whole: every corpus file and the world's list
/// bodies (Wiz's with two connections), compact and pretty.
#[test]
fn payloads_map_the_same_streamed() {
    let stream = |vendor, text: &[u8]| {
        let mut out = Vec::new();
        crate::vendors::stream_payload(vendor, "s", text, |a| {
            out.extend(a);
            Ok::<(), ()>(())
        })
        .map(|_| out)
    };
    let mut bodies = Vec::new();
    let world = World::generate(7, 60, 1_795_305_600_000);
    for vendor in Vendor::ALL {
        let findings: Vec<_> = world.findings_for(vendor).collect();
        let items = super::emit::items(vendor, &world, &findings);
        let body = super::emit::list_body(vendor, items);
        bodies.push((vendor, body.to_string().into_bytes(), "world".into()));
        let pretty = serde_json::to_string_pretty(&body).expect("json");
        bodies.push((vendor, pretty.into_bytes(), "world, pretty".into()));
    }
    if let Some(dir) = crate::sources::corpus::dir() {
        for vendor in Vendor::ALL {
            let Ok(entries) = std::fs::read_dir(dir.join(vendor.as_str())) else {
                continue;
            };
            for e in entries.flatten() {
                let path = e.path();
                if path.extension().and_then(|x| x.to_str()) == Some("json") {
                    let text = std::fs::read(&path).expect("read");
                    bodies.push((vendor, text, path.display().to_string()));
                }
            }
        }
    }
    let mut compared = 0;
    for (vendor, text, name) in &bodies {
        let Ok(body) = serde_json::from_slice::<Value>(text) else {
            continue;
        };
        let whole = map_payload(*vendor, "s", &body);
        match (stream(*vendor, text), whole) {
            (Ok(got), Ok(want)) => {
                assert_eq!(got, want, "{name}");
                for (a, b) in got.iter().zip(&want) {
                    assert_eq!(a.raw.as_str(), b.raw.as_str(), "{name}");
                }
            }
            (Err(crate::vendors::StreamMapError::Map(got)), Err(want)) => {
                assert_eq!(got.to_string(), want.to_string(), "{name}")
            }
            (got, want) => panic!("{name}: streamed {got:?}, whole {want:?}"),
        }
        compared += 1;
    }
    assert!(compared > bodies.len() / 2, "only {compared} compared");
}

//! Regenerate the example payloads in examples/data/ from sitrep's seeded world:
//! `cargo run --example make_payloads`. One list response body per vendor, in that vendor's
//! own shape, on a shared resource pool (so some resources are flagged by several vendors).

use sitrep::domain::Vendor;
use sitrep::sim::world::World;
use sitrep::vendors::emit;

fn main() -> std::io::Result<()> {
    // 2026-11-20T00:00:00Z: a fixed clock, so the files only change when the generator does.
    let world = World::generate(2026, 12, 1_795_132_800_000);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data");
    std::fs::create_dir_all(&dir)?;
    for v in Vendor::ALL {
        let body = emit::vendor_body(v, &world);
        let text = serde_json::to_string_pretty(&body).map_err(std::io::Error::other)?;
        std::fs::write(dir.join(format!("{}.json", v.as_str())), text + "\n")?;
        println!("wrote examples/data/{}.json", v.as_str());
    }
    Ok(())
}

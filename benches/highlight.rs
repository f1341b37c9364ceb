//! Highlighting: a 5,000-line Terraform diff (whole, and a 60-line window through
//! `highlight_range`), and the one-time load of the grammars.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use sitrep::highlight::{Highlighter, Lang};

/// A unified diff of about 5,000 lines: hunks changing an S3 ACL and adding public access
/// blocks, as the public-storage generator writes them.
fn big_diff() -> String {
    let mut d = String::from("diff --git a/main.tf b/main.tf\n--- a/main.tf\n+++ b/main.tf\n");
    let mut line = 1;
    let mut i = 0;
    while d.lines().count() < 5_000 {
        d.push_str(&format!(
            "@@ -{line},9 +{line},17 @@ resource\n resource \"aws_s3_bucket\" \"b{i}\" {{\n   bucket = \"acme-bucket-{i}\"\n-  acl    = \"public-read\"\n+  acl    = \"private\"\n   tags = {{\n     team = \"payments\" # owner\n   }}\n }}\n+\n+resource \"aws_s3_bucket_public_access_block\" \"b{i}\" {{\n+  bucket = aws_s3_bucket.b{i}.id\n+\n+  block_public_acls       = true\n+  block_public_policy     = true\n+  ignore_public_acls      = true\n+  restrict_public_buckets = true\n+}}\n \n"
        ));
        line += 9;
        i += 1;
    }
    d
}

fn bench(c: &mut Criterion) {
    let t = std::time::Instant::now();
    sitrep::highlight::preload();
    eprintln!("grammar + theme load: {:?}", t.elapsed());
    let diff = big_diff();
    let n = diff.lines().count();
    let dark = Highlighter::new("base16-ocean.dark").expect("theme");
    let plain = Highlighter::new("none").expect("theme");
    let mut g = c.benchmark_group("highlight");
    g.sample_size(10);
    g.bench_function(format!("diff_{n}_lines_hcl"), |b| {
        b.iter(|| black_box(dark.highlight_diff(black_box(&diff), Lang::Hcl)))
    });
    g.bench_function(format!("diff_{n}_lines_plain_theme"), |b| {
        b.iter(|| black_box(plain.highlight_diff(black_box(&diff), Lang::Hcl)))
    });
    let code: String = diff
        .lines()
        .filter(|l| !l.starts_with(['-', '@', 'd']))
        .map(|l| format!("{}\n", l.get(1..).unwrap_or_default()))
        .collect();
    g.bench_function("range_60_lines_at_4000_cached", |b| {
        let _ = dark.highlight_range(&code, Lang::Hcl, 4000..4060);
        b.iter(|| black_box(dark.highlight_range(black_box(&code), Lang::Hcl, 4000..4060)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

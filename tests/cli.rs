//! The headless commands, driven through the real binary in a hermetic environment.

mod common;

use common::{Sandbox, corpus_dir, dangerous_bytes, manifest};
use sitrep::store::Store;

/// Every string value in `v` gets hostile terminal content appended (or prepended).
fn poison(v: &mut serde_json::Value, n: &mut usize) {
    const EVIL: [&str; 6] = [
        "\u{1b}]0;owned\u{07}",
        "\u{1b}[2J\u{1b}[31mRED",
        "\u{202e}txt.exe",
        "ad\u{200b}min\u{feff}",
        "\u{9b}31m\u{9d}8;;http://evil\u{9c}",
        "\r\u{8}\u{7f}\u{0}bell\u{7}",
    ];
    match v {
        serde_json::Value::String(s) => {
            *n += 1;
            let evil = EVIL[*n % EVIL.len()];
            if (*n).is_multiple_of(2) {
                s.push_str(evil);
            } else {
                s.insert_str(0, evil);
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| poison(x, n)),
        serde_json::Value::Object(m) => m.values_mut().for_each(|x| poison(x, n)),
        _ => {}
    }
}

#[test]
fn no_control_byte_reaches_stdout_in_any_format() {
    let Some(dir) = corpus_dir() else { return };
    let sb = Sandbox::new();
    let mut imported = 0;
    for (file, vendor, shape, count) in manifest(&dir) {
        if shape == "other" || count == 0 {
            continue;
        }
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(&file)).expect("read")).expect("json");
        let mut n = 0;
        poison(&mut v, &mut n);
        let p = sb.write(
            &format!("poisoned/{}", file.replace('/', "_")),
            &v.to_string(),
        );
        let out = sb.run(&["import", "--vendor", &vendor, p.to_str().expect("path")]);
        if out.status.success() {
            imported += 1;
        }
    }
    assert!(
        imported >= 10,
        "only {imported} poisoned corpus files imported"
    );
    let ids: Vec<String> = {
        let store = Store::open(&sb.db()).expect("open");
        let req = sitrep::store::ListRequest {
            include_closed: true,
            limit: 10_000,
            now_ms: common::NOW_MS,
            ..Default::default()
        };
        store
            .list(&req)
            .expect("list")
            .into_iter()
            .map(|r| r.id)
            .collect()
    };
    assert!(!ids.is_empty());
    let mut runs: Vec<Vec<String>> = vec![
        vec!["list".into(), "--all".into()],
        vec![
            "list".into(),
            "--all".into(),
            "--format".into(),
            "json".into(),
        ],
        vec![
            "list".into(),
            "--all".into(),
            "--format".into(),
            "csv".into(),
        ],
        vec!["export".into(), "--format".into(), "json".into()],
        vec!["export".into(), "--format".into(), "csv".into()],
        vec!["export".into(), "--format".into(), "markdown".into()],
    ];
    // (An id carrying NUL cannot be passed on a command line; those are covered by list/export.)
    for id in ids.iter().filter(|id| !id.contains('\0')) {
        runs.push(vec!["show".into(), id.clone()]);
        runs.push(vec![
            "show".into(),
            id.clone(),
            "--format".into(),
            "json".into(),
        ]);
    }
    for args in runs {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = sb.run(&a);
        assert!(
            out.status.success(),
            "{a:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bad = dangerous_bytes(&out.stdout);
        assert!(
            bad.is_empty(),
            "{a:?} printed {} dangerous characters, first: {:?}",
            bad.len(),
            &bad[..bad.len().min(5)]
        );
        let bad = dangerous_bytes(&out.stderr);
        assert!(bad.is_empty(), "{a:?} stderr: {bad:?}");
    }
    // And the alerts are flagged as having carried such characters.
    let shown = sb.ok(&["show", &ids[0]]);
    assert!(
        shown.contains("carried terminal escape sequences"),
        "{shown}"
    );
}

#[test]
fn bad_input_gets_one_clear_line_and_the_right_exit_code() {
    let sb = Sandbox::new();
    let missing = sb.fails(&["import", "--vendor", "wiz", "/no/such/file.json"], 2);
    assert_eq!(
        missing.trim(),
        "sitrep: error: cannot read /no/such/file.json: No such file or directory (os error 2)"
    );
    assert!(
        !sb.db().exists(),
        "a failed import must not create a database"
    );

    let bad = sb.write(
        "bad.json",
        "{\n  \"data\": {\n    \"issues\": [1, 2,\n  }\n}\n",
    );
    let err = sb.fails(&["import", "--vendor", "wiz", bad.to_str().expect("p")], 2);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("invalid JSON at line 4 column 3"), "{err}");

    let empty = sb.write("empty.json", "  \n");
    let err = sb.fails(
        &["import", "--vendor", "orca", empty.to_str().expect("p")],
        2,
    );
    assert!(err.contains("the file is empty"), "{err}");

    let err = sb.fails(&["import", "--vendor", "splunk", "x.json"], 2);
    assert!(err.contains("invalid value 'splunk'"), "{err}");

    let err = sb.fails(&["list"], 2);
    assert!(
        err.contains("no database at") && err.contains("import alerts first"),
        "{err}"
    );

    let notdb = sb.write("notdb.sqlite", &"garbage ".repeat(200));
    let err = sb.fails(&["--db", notdb.to_str().expect("p"), "list"], 1);
    assert!(
        err.starts_with("sitrep: error: cannot open database"),
        "{err}"
    );

    let cfg = sb.write("cfg.toml", "[queue]\nsort = 3\n");
    let err = sb.fails(
        &["--config", cfg.to_str().expect("p"), "config", "check"],
        2,
    );
    assert_eq!(
        err.trim(),
        format!(
            "sitrep: error: config file {}: line 2, column 8: invalid type: integer `3`, expected a string",
            cfg.display()
        )
    );
    let err = sb.fails(&["--config", "/no/such/config.toml", "config", "check"], 2);
    assert!(
        err.contains("cannot read config file /no/such/config.toml"),
        "{err}"
    );
}

#[test]
fn wrong_vendor_files_name_what_they_look_like() {
    let Some(dir) = corpus_dir() else { return };
    let sb = Sandbox::new();
    let wiz = dir.join("wiz/elastic-graphql-issues-list-response.json");
    let err = sb.fails(
        &[
            "import",
            "--vendor",
            "prisma-cspm",
            wiz.to_str().expect("p"),
        ],
        2,
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("this looks like") && err.contains("Wiz") && err.contains("not prisma-cspm"),
        "{err}"
    );
    assert!(!sb.db().exists());
    let xdr = dir.join("cortex-xdr/xsoar-get-incidents-list.json");
    let err = sb.fails(
        &["import", "--vendor", "lacework", xdr.to_str().expect("p")],
        2,
    );
    assert!(
        err.contains("this looks like") && err.contains("not lacework"),
        "{err}"
    );
}

#[test]
fn a_malformed_file_adds_nothing_and_good_files_still_import() {
    let Some(dir) = corpus_dir() else { return };
    let sb = Sandbox::new();
    let good = dir.join("prisma-cspm/elastic-v2-alert-post-page1.json");
    // A list whose second item has no id: the whole file is rejected.
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&good).expect("read")).expect("json");
    if let Some(items) = v["items"].as_array_mut()
        && let Some(obj) = items[1].as_object_mut()
    {
        obj.remove("id");
    }
    let broken = sb.write("broken.json", &v.to_string());
    let out = sb.run(&[
        "import",
        "--vendor",
        "prisma-cspm",
        good.to_str().expect("p"),
        broken.to_str().expect("p"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("broken.json") && stderr.contains("item 1"),
        "{stderr}"
    );
    assert_eq!(
        Store::open(&sb.db()).expect("open").total().expect("n"),
        2,
        "only the good file's 2 alerts"
    );
}

#[test]
fn list_show_and_export_work_end_to_end() {
    let Some(dir) = corpus_dir() else { return };
    let sb = Sandbox::new();
    for (f, v) in [
        (
            "prisma-cspm/elastic-v2-alert-post-page1.json",
            "prisma-cspm",
        ),
        (
            "prisma-cspm/elastic-v2-alert-post-page2.json",
            "prisma-cspm",
        ),
        ("wiz/port-ocean-issue-a.json", "wiz"),
        ("cortex-xdr/xsoar-get-incidents-list.json", "cortex-xdr"),
    ] {
        sb.ok(&["import", "--vendor", v, dir.join(f).to_str().expect("p")]);
    }
    let table = sb
        .cmd()
        .args(["list", "--all"])
        .env("COLUMNS", "100")
        .output()
        .expect("run");
    let table = String::from_utf8(table.stdout).expect("utf8");
    assert!(table.starts_with("REF"), "{table}");
    for line in table.lines() {
        assert!(
            sitrep::sanitize::width(line) <= 100,
            "line wider than 100: {line}"
        );
    }
    let json: serde_json::Value =
        serde_json::from_str(&sb.ok(&["list", "--all", "--format", "json"])).expect("json");
    let rows = json.as_array().expect("array");
    assert_eq!(rows.len(), 6);
    // Sorted by priority score, descending (the default order).
    let scores: Vec<u64> = rows
        .iter()
        .map(|r| r["score"].as_u64().expect("score"))
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert!(scores.iter().all(|s| *s <= 100), "{scores:?}");

    let csv = sb.ok(&["list", "--all", "--format", "csv", "--limit", "2"]);
    assert_eq!(csv.lines().count(), 3);
    assert!(csv.starts_with("ref,id,severity,vendor"));

    let shown = sb.ok(&["show", "prisma-cspm:P-1"]);
    assert!(shown.starts_with("prisma-cspm:P-1  [HIGH]"), "{shown}");
    let by_native = sb.ok(&["show", "P-1"]);
    assert_eq!(shown, by_native, "a unique native id resolves");
    let p1_ref = rows
        .iter()
        .find(|r| r["id"] == "prisma-cspm:P-1")
        .and_then(|r| r["ref"].as_i64())
        .expect("ref of P-1");
    assert_eq!(
        sb.ok(&["show", &p1_ref.to_string()]),
        shown,
        "the table's REF resolves"
    );
    let j: serde_json::Value =
        serde_json::from_str(&sb.ok(&["show", "prisma-cspm:P-1", "--format", "json"]))
            .expect("json");
    assert_eq!(j["id"], "prisma-cspm:P-1");
    assert_eq!(j["status"]["status"], "new");
    let err = sb.fails(&["show", "nope:1"], 2);
    assert!(err.contains("no alert with id 'nope:1'"), "{err}");

    let out = sb.path("out/report.md");
    std::fs::create_dir_all(out.parent().expect("parent")).expect("mkdir");
    sb.ok(&[
        "export",
        "--format",
        "markdown",
        "--output",
        out.to_str().expect("p"),
    ]);
    let md = std::fs::read_to_string(&out).expect("read");
    assert!(md.starts_with("# sitrep export"), "{md}");
    assert_eq!(
        md.lines().filter(|l| l.starts_with("| ")).count(),
        7,
        "{md}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(out.parent().expect("p"))
        .expect("ls")
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left behind");
}

#[test]
fn config_init_writes_a_private_template_that_checks_clean() {
    let sb = Sandbox::new();
    let out = sb.ok(&["config", "init"]);
    let path = sb.path("home/.config/sitrep/config.toml");
    assert_eq!(out.trim(), format!("wrote {}", path.display()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let err = sb.fails(&["config", "init"], 2);
    assert!(err.contains("already exists; pass --force"), "{err}");
    let check = sb.ok(&["config", "check"]);
    assert!(
        check.contains("(ok)") && check.contains("analyst  tester"),
        "{check}"
    );
}

#[test]
fn readonly_is_refused_outside_the_console_not_ignored() {
    let sb = Sandbox::new();
    let err = sb.fails(
        &["--readonly", "mark", "wiz:1", "--status", "acknowledged"],
        2,
    );
    assert!(
        err.contains("--readonly applies to the console only"),
        "{err}"
    );
    assert!(!sb.db().exists(), "nothing was opened, let alone written");
}

/// The table's "… N of M shown": exact where the kept counts answer (one tag or account,
/// with status, vendor and severity terms), and marked as stopped ("5,000+") where a text
/// term drives the count past the text cap, never an exact-looking number it did not count.
#[test]
fn list_counts_are_exact_or_say_where_they_stopped() {
    let sb = Sandbox::new();
    sb.import_generated(1, 6_000);
    let shown = |filter: &str| {
        let out = sb.ok(&["list", "--limit", "5", "--filter", filter]);
        out.lines()
            .find(|l| l.ends_with(" shown (use --limit)"))
            .unwrap_or_else(|| panic!("{filter}: no count line in {out}"))
            .to_string()
    };
    let listed = |filter: &str| {
        let out = sb.ok(&[
            "list", "--limit", "100000", "--format", "json", "--filter", filter,
        ]);
        let rows: serde_json::Value = serde_json::from_str(&out).expect("json");
        rows.as_array().expect("array").len()
    };
    // Every generated policy id holds the word 4499: about 5,400 open matches.
    assert!(listed("4499") > sitrep::store::TEXT_COUNT_CAP);
    assert_eq!(shown("4499"), "… 5 of 5,000+ shown (use --limit)");
    assert_eq!(
        shown("4499 -vendor:wiz"),
        "… 5 of 5,000+ shown (use --limit)"
    );
    for filter in [
        "tag:env=prod",
        "tag:TEAM=data sev:high",
        "account:000000008000",
        "account:000000008000 -sev:low",
        "tag:env=prod 4499",
    ] {
        let n = listed(filter);
        assert!(n > 5, "{filter}: {n}");
        assert_eq!(
            shown(filter),
            format!("… 5 of {n} shown (use --limit)"),
            "{filter}"
        );
    }
}

//! SIEM forwarding through the real binary (docs/siem.md): every audit entry reaches every
//! `[[siem]]` destination through the outbox, in seq order, once — Splunk HEC against the
//! loopback simulator of its documented API, syslog RFC 5424 against a real rsyslogd (TLS,
//! TCP and UDP inputs) started privately by the test. Outages, a busy or garbled HEC, a
//! refused token and an untrusted certificate lose nothing and show no secret.
//!
//! rsyslog comes from Debian (`scripts/rsyslog.sh install`); without it the rsyslog tests are
//! skipped with a note, except under `CI`, where they fail.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Sandbox;
use serde_json::Value;
use sitrep::domain::Vendor;
use sitrep::sim::server::hec::{self, HecFault, HecSimHandle, HecSimOptions};
use sitrep::sim::world::World;
use sitrep::vendors::emit;

const TOKEN_ENV: &str = "SITREP_TEST_HEC_TOKEN";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A sandbox with alerts imported and a config of `[[siem]]` tables.
struct Rig {
    sb: Sandbox,
    cfg: PathBuf,
    vars: Vec<(String, String)>,
}

impl Rig {
    fn new(siem_toml: &str, vars: Vec<(String, String)>) -> Rig {
        let sb = Sandbox::new();
        let cfg = sb.write(
            "config.toml",
            &format!("[general]\nanalyst = \"alice\"\n\n{siem_toml}"),
        );
        // A few Wiz issues of the simulators' seeded world, saved as a list response.
        let world = World::generate(7, 3, common::NOW_MS - 3_600_000);
        let body = emit::vendor_body(Vendor::Wiz, &world);
        let fixture = sb.write("wiz.json", &body.to_string());
        let rig = Rig { sb, cfg, vars };
        rig.ok(&["import", "--vendor", "wiz", fixture.to_str().expect("path")]);
        rig
    }

    fn set_config(&self, siem_toml: &str) {
        std::fs::write(
            &self.cfg,
            format!("[general]\nanalyst = \"alice\"\n\n{siem_toml}"),
        )
        .expect("write config");
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut c = self.sb.cmd();
        c.env_remove("SITREP_NOW").env("SITREP_CONFIG", &self.cfg);
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c.args(args).output().expect("run sitrep")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "sitrep {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn ids(&self) -> Vec<String> {
        let list = self.ok(&["list", "--format", "json", "--limit", "1000"]);
        let rows: Value = serde_json::from_str(&list).expect("json");
        rows.as_array()
            .expect("rows")
            .iter()
            .map(|r| r["id"].as_str().expect("id").to_string())
            .collect()
    }

    /// The audit log as exported: seq → mac.
    fn audit(&self) -> BTreeMap<i64, String> {
        let out = self.ok(&["audit", "export"]);
        out.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| Some((v.get("seq")?.as_i64()?, v.get("mac")?.as_str()?.to_string())))
            .collect()
    }

    /// Every outbox row of kind siem (JSON lines of `outbox list --all --json`).
    fn siem_rows(&self) -> Vec<Value> {
        self.ok(&["outbox", "list", "--all", "--json", "--limit", "100000"])
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|r| r["kind"] == "siem")
            .collect()
    }
}

fn hec_sim(rt: &tokio::runtime::Runtime, ack: bool, port: u16) -> HecSimHandle {
    rt.block_on(hec::start(HecSimOptions {
        port,
        seed: 5,
        ack,
        ack_after: 2,
    }))
    .expect("hec sim")
}

/// seq → the HEC events received for it (the mac of each copy).
fn received(rt: &tokio::runtime::Runtime, sim: &HecSimHandle) -> BTreeMap<i64, Vec<String>> {
    let mut out: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for e in rt.block_on(sim.state.events()) {
        let ev = &e.body["event"];
        out.entry(ev["seq"].as_i64().expect("seq"))
            .or_default()
            .push(ev["mac"].as_str().expect("mac").to_string());
    }
    out
}

#[test]
fn hec_receives_every_audit_entry_once_in_order_with_acknowledgement() {
    let rt = runtime();
    let sim = hec_sim(&rt, true, 0);
    let token = sim.state.token.clone();
    let rig = Rig::new(
        &sim.siem_toml("splunk", TOKEN_ENV),
        vec![(TOKEN_ENV.into(), token.clone())],
    );
    let ids = rig.ids();
    assert!(ids.len() >= 2, "{ids:?}");
    rig.ok(&[
        "note",
        &ids[0],
        "--text",
        "first look \u{1b}[31mred\u{1b}[0m",
    ]);
    rig.ok(&["mark", &ids[0], "--status", "acknowledged"]);
    rig.ok(&[
        "mark",
        &ids[1],
        "--status",
        "false-positive",
        "--note",
        "lab box",
    ]);

    let audit = rig.audit();
    assert!(audit.len() >= 3, "{audit:?}");
    let got = received(&rt, &sim);
    // Every entry, exactly once, with the mac the log holds.
    let want: BTreeMap<i64, Vec<String>> =
        audit.iter().map(|(s, m)| (*s, vec![m.clone()])).collect();
    assert_eq!(got, want);
    // In seq order, on the stable channel, each acknowledged before the row was done.
    let events = rt.block_on(sim.state.events());
    let seqs: Vec<i64> = events
        .iter()
        .map(|e| e.body["event"]["seq"].as_i64().expect("seq"))
        .collect();
    let mut sorted = seqs.clone();
    sorted.sort();
    assert_eq!(seqs, sorted);
    assert!(
        events
            .iter()
            .all(|e| e.channel.is_some() && e.ack_id.is_some())
    );
    assert!(
        sim.state
            .ack_polls
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 3 * events.len() as u64,
        "each ack needs three polls in this simulator"
    );
    // The envelope HEC documents, and the entry itself.
    let first = &events[0].body;
    assert_eq!(first["sourcetype"], "sitrep:audit");
    assert_eq!(first["source"], "sitrep");
    let at = first["event"]["at"].as_i64().expect("at");
    assert_eq!(first["time"].as_f64(), Some(at as f64 / 1000.0), "{first}");
    let note = events
        .iter()
        .find(|e| e.body["event"]["action"] == "note")
        .expect("the note's entry");
    assert_eq!(note.body["event"]["actor"], "alice");
    assert_eq!(note.body["event"]["subject"], ids[0].as_str());
    let all =
        serde_json::to_string(&events.iter().map(|e| &e.body).collect::<Vec<_>>()).expect("json");
    assert!(
        !all.contains('\u{1b}'),
        "escape sequences reached the SIEM: {all}"
    );
    assert!(!all.contains(&token), "the token reached an event");

    // Every siem row is done and says which ack indexed it; forwarding audits nothing itself.
    let rows = rig.siem_rows();
    assert_eq!(rows.len(), audit.len());
    for r in &rows {
        assert_eq!(r["state"], "done", "{r}");
        assert_eq!(r["destination"], "siem:splunk");
        assert!(
            r["result"]
                .as_str()
                .is_some_and(|s| s.starts_with("ackId ")),
            "{r}"
        );
    }
    assert!(rig.ok(&["audit", "verify"]).starts_with("audit log ok"));
}

#[test]
fn a_hec_outage_loses_nothing_and_a_busy_or_garbled_reply_sends_nothing_twice() {
    let rt = runtime();
    // The port of a simulator that is then stopped: HEC is down.
    let port = {
        let s = hec_sim(&rt, false, 0);
        s.addr.port()
    };
    let toml = format!(
        "[[siem]]\nname = \"splunk\"\ntype = \"splunk_hec\"\nurl = \"http://127.0.0.1:{port}\"\ntoken = {{ env = \"{TOKEN_ENV}\" }}\ntimeout = \"1s\"\n"
    );
    // The token the restarted simulator will accept (same seed, same token).
    let token = {
        let s = hec_sim(&rt, false, 0);
        s.state.token.clone()
    };
    let rig = Rig::new(&toml, vec![(TOKEN_ENV.into(), token.clone())]);
    let ids = rig.ids();
    rig.ok(&["note", &ids[0], "--text", "while HEC is down"]);
    rig.ok(&["mark", &ids[0], "--status", "in-progress"]);
    let rows = rig.siem_rows();
    assert!(rows.len() >= 2);
    for r in &rows {
        assert_eq!(r["state"], "pending", "{r}");
        if let Some(err) = r["last_error"].as_str() {
            assert!(err.starts_with("siem splunk: "), "{r}");
            assert!(!err.contains(&token));
        }
    }
    // Only the first row of the destination was tried: the rest wait their turn.
    assert_eq!(
        rows.iter().filter(|r| r["attempts"] == 0).count(),
        rows.len() - 1
    );

    // HEC comes back busy, then garbled, then slower than the timeout, then well.
    let sim = hec_sim(&rt, false, port);
    rt.block_on(sim.state.script(&[
        HecFault::Busy,
        HecFault::Garbage,
        HecFault::Slow { ms: 1_500 },
    ]));
    for _ in 0..8 {
        rig.ok(&["outbox", "retry"]);
        if rig.siem_rows().iter().all(|r| r["state"] == "done") {
            break;
        }
    }
    let rows = rig.siem_rows();
    assert!(rows.iter().all(|r| r["state"] == "done"), "{rows:?}");
    // The busy, garbled and slow replies were each met, then the entries went through.
    assert!(
        sim.state
            .requests
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 4
    );
    let audit = rig.audit();
    let got = received(&rt, &sim);
    // The slow reply indexed its event after the client gave up: that one entry may be there
    // twice (the documented at-least-once case, same seq and mac); no other entry is.
    let mut dup = 0;
    for (seq, mac) in &audit {
        let copies = got
            .get(seq)
            .unwrap_or_else(|| panic!("entry {seq} never arrived"));
        assert!(copies.iter().all(|m| m == mac));
        dup += copies.len() - 1;
    }
    assert!(dup <= 1, "{got:?}");
    assert_eq!(got.len(), audit.len());
}

#[test]
fn a_refused_token_fails_the_row_without_showing_it_and_retry_sends_it_after_the_fix() {
    let rt = runtime();
    let sim = hec_sim(&rt, false, 0);
    let wrong = "wrong-token-5f1d2c";
    let rig = Rig::new(
        &sim.siem_toml("splunk", TOKEN_ENV),
        vec![(TOKEN_ENV.into(), wrong.into())],
    );
    let ids = rig.ids();
    // The decision is recorded; the command says the delivery failed (exit 1).
    let out = rig.run(&["note", &ids[0], "--text", "bad token"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("recorded"));
    let rows = rig.siem_rows();
    let failed: Vec<&Value> = rows.iter().filter(|r| r["state"] == "failed").collect();
    assert!(!failed.is_empty(), "{rows:?}");
    let err = failed[0]["last_error"].as_str().expect("error");
    assert!(
        err.contains("HEC code 4") && err.contains("check [[siem]] token"),
        "{err}"
    );
    let everything = format!(
        "{}{}{}",
        rig.ok(&["outbox", "list", "--all"]),
        rig.ok(&["audit", "export"]),
        String::from_utf8_lossy(&std::fs::read(rig.sb.db()).expect("db"))
    );
    assert!(
        !everything.contains(wrong),
        "the token was written somewhere"
    );
    assert!(rt.block_on(sim.state.events()).is_empty());

    // With the right token, `outbox retry` sends what failed (and its own audit entry).
    let rig = Rig {
        vars: vec![(TOKEN_ENV.into(), sim.state.token.clone())],
        ..rig
    };
    rig.ok(&["outbox", "retry"]);
    assert!(rig.siem_rows().iter().all(|r| r["state"] == "done"));
    let got = received(&rt, &sim);
    assert_eq!(got.len(), rig.audit().len());
}

#[test]
fn a_destination_removed_from_the_config_fails_its_rows_and_stops_getting_new_ones() {
    let rt = runtime();
    let sim = hec_sim(&rt, false, 0);
    let rig = Rig::new(
        &sim.siem_toml("splunk", TOKEN_ENV),
        vec![(TOKEN_ENV.into(), sim.state.token.clone())],
    );
    let ids = rig.ids();
    rig.ok(&["note", &ids[0], "--text", "one", "--no-deliver"]);
    let before = rig.siem_rows().len();
    assert!(before >= 1);
    rig.set_config("");
    rig.ok(&["note", &ids[0], "--text", "two"]);
    let out = rig.run(&["outbox", "deliver"]);
    assert_eq!(out.status.code(), Some(1), "a delivery failed");
    let rows = rig.siem_rows();
    assert_eq!(
        rows.len(),
        before,
        "no row for the removed destination: {rows:?}"
    );
    assert!(rows.iter().all(|r| {
        r["state"] == "failed"
            && r["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("no longer configured"))
    }));
}

// ---- syslog against a real rsyslogd ----

fn rsyslogd() -> Option<PathBuf> {
    let candidates = ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"];
    if let Some(p) = candidates.iter().map(PathBuf::from).find(|p| p.is_file()) {
        return Some(p);
    }
    let msg = "rsyslogd not found: run scripts/rsyslog.sh install";
    assert!(
        std::env::var_os("CI").is_none(),
        "{msg} (CI must run these)"
    );
    eprintln!("skipped: {msg}");
    None
}

fn free_port(udp: bool) -> u16 {
    if udp {
        std::net::UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .expect("udp port")
            .port()
    } else {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .expect("tcp port")
            .port()
    }
}

/// A CA and a server certificate for 127.0.0.1 (PEM: ca, cert, key).
fn test_pki(cn: &str) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, format!("{cn} test CA"));
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("key")).expect("ca");
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .expect("leaf params");
    leaf.distinguished_name
        .push(rcgen::DnType::CommonName, "127.0.0.1");
    leaf.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().expect("key");
    let cert = leaf.signed_by(&key, &ca).expect("leaf");
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// A private rsyslogd: TLS, TCP and UDP inputs on loopback, every message to `out.log` as
/// `input|pri|hostname|app|procid|msgid|structured-data|msg`.
struct Rsyslog {
    child: Child,
    dir: tempfile::TempDir,
    tls: u16,
    tcp: u16,
    udp: u16,
    ca_pem: PathBuf,
}

impl Rsyslog {
    fn start(bin: &Path) -> Rsyslog {
        let dir = tempfile::tempdir().expect("tempdir");
        let (ca, cert, key) = test_pki("rsyslog");
        let d = dir.path();
        std::fs::write(d.join("ca.pem"), ca).expect("ca");
        std::fs::write(d.join("cert.pem"), cert).expect("cert");
        std::fs::write(d.join("key.pem"), key).expect("key");
        let (tls, tcp, udp) = (free_port(false), free_port(false), free_port(true));
        let conf = format!(
            r#"global(workDirectory="{d}" maxMessageSize="64k"
  defaultNetstreamDriverCAFile="{d}/ca.pem"
  defaultNetstreamDriverCertFile="{d}/cert.pem"
  defaultNetstreamDriverKeyFile="{d}/key.pem")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="{tls}" name="tls"
      streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
input(type="imtcp" address="127.0.0.1" port="{tcp}" name="tcp")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="{udp}" name="udp")
template(name="t" type="string"
         string="%inputname%|%pri%|%hostname%|%app-name%|%procid%|%msgid%|%structured-data%|%msg%\n")
action(type="omfile" file="{d}/out.log" template="t")
"#,
            d = d.display()
        );
        std::fs::write(d.join("rsyslog.conf"), conf).expect("conf");
        let child = Command::new(bin)
            .arg("-n")
            .arg("-f")
            .arg(d.join("rsyslog.conf"))
            .arg("-i")
            .arg(d.join("rsyslogd.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start rsyslogd");
        let r = Rsyslog {
            child,
            ca_pem: d.join("ca.pem"),
            dir,
            tls,
            tcp,
            udp,
        };
        // Ready when both TCP inputs accept (a readiness wait, not a timing assertion).
        let deadline = Instant::now() + Duration::from_secs(30);
        while [r.tls, r.tcp]
            .iter()
            .any(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_err())
        {
            assert!(
                Instant::now() < deadline,
                "rsyslogd did not start listening"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }

    /// The lines written so far, once at least `n` are there (UDP is asynchronous).
    fn lines(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(self.dir.path().join("out.log")).unwrap_or_default();
            let lines: Vec<String> = text.lines().map(str::to_string).collect();
            if lines.len() >= n || Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn syslog_toml(name: &str, transport: &str, port: u16, ca: Option<&Path>) -> String {
    let mut t = format!(
        "[[siem]]\nname = \"{name}\"\ntype = \"syslog\"\naddress = \"127.0.0.1:{port}\"\ntransport = \"{transport}\"\ntimeout = \"5s\"\nhostname = \"soc-laptop\"\n"
    );
    if let Some(ca) = ca {
        t.push_str(&format!("ca_file = \"{}\"\n", ca.display()));
    }
    t
}

#[test]
fn syslog_reaches_a_real_rsyslog_over_tls_tcp_and_udp_with_structured_data() {
    let Some(bin) = rsyslogd() else { return };
    let rs = Rsyslog::start(&bin);
    let toml = [
        syslog_toml("rs-tls", "tls", rs.tls, Some(&rs.ca_pem)),
        syslog_toml("rs-tcp", "tcp", rs.tcp, None),
        syslog_toml("rs-udp", "udp", rs.udp, None),
    ]
    .concat();
    let rig = Rig::new(&toml, Vec::new());
    let ids = rig.ids();
    rig.ok(&[
        "note",
        &ids[0],
        "--text",
        "quote \" bracket ] slash \\ \u{1b}]0;owned\u{7} é",
    ]);
    rig.ok(&["mark", &ids[0], "--status", "acknowledged"]);
    let audit = rig.audit();
    let lines = rs.lines(3 * audit.len());
    assert!(rig.siem_rows().iter().all(|r| r["state"] == "done"));
    for input in ["tls", "tcp", "udp"] {
        let mine: Vec<&String> = lines
            .iter()
            .filter(|l| l.starts_with(&format!("{input}|")))
            .collect();
        assert_eq!(mine.len(), audit.len(), "{input}: {lines:#?}");
        for (line, (seq, mac)) in mine.iter().zip(&audit) {
            let f: Vec<&str> = line.splitn(8, '|').collect();
            assert_eq!(f[1], "109", "facility 13, notice: {line}");
            assert_eq!(f[2], "soc-laptop");
            assert_eq!(f[3], "sitrep");
            assert!(
                f[6].starts_with(&format!("[audit@32473 seq=\"{seq}\" ")),
                "{line}"
            );
            assert!(f[6].contains(&format!("mac=\"{mac}\"")), "{line}");
            let msg: Value = serde_json::from_str(f[7]).expect("MSG is the entry as JSON");
            assert_eq!(msg["seq"].as_i64(), Some(*seq));
            assert_eq!(msg["mac"].as_str(), Some(mac.as_str()));
        }
        let note = mine
            .iter()
            .find(|l| l.split('|').nth(5) == Some("note"))
            .expect("the note's message");
        // RFC 5424 §6.3.3 escapes, as rsyslog received them.
        assert!(
            note.contains(r#"note="quote \" bracket \] slash \\"#),
            "{note}"
        );
        assert!(
            !note.contains('\u{1b}') && !note.contains('\u{7}'),
            "{note}"
        );
    }
}

#[test]
fn syslog_outage_and_an_untrusted_certificate_lose_nothing() {
    let Some(bin) = rsyslogd() else { return };
    // rsyslog is not running yet: the row waits.
    let port = free_port(false);
    let (other_ca, _, _) = test_pki("someone else");
    let sb_ca = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(sb_ca.path(), other_ca).expect("ca");
    let rig = Rig::new(&syslog_toml("rs", "tcp", port, None), Vec::new());
    let ids = rig.ids();
    rig.ok(&["note", &ids[0], "--text", "while syslog is down"]);
    let rows = rig.siem_rows();
    assert!(rows.iter().all(|r| r["state"] == "pending"), "{rows:?}");
    assert!(
        rows.iter().any(|r| r["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("siem rs (tcp 127.0.0.1:"))),
        "{rows:?}"
    );

    // rsyslog starts; the waiting entries go out in order.
    let rs = Rsyslog::start(&bin);
    rig.set_config(&syslog_toml("rs", "tcp", rs.tcp, None));
    rig.ok(&["outbox", "retry"]);
    let audit = rig.audit();
    let lines = rs.lines(audit.len());
    let seqs: Vec<String> = lines
        .iter()
        .filter(|l| l.starts_with("tcp|"))
        .map(|l| {
            l.split("seq=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap_or("")
                .to_string()
        })
        .collect();
    let want: Vec<String> = audit.keys().map(|s| s.to_string()).collect();
    assert_eq!(seqs, want);

    // A TLS destination whose CA did not sign the server's certificate: the row fails (a
    // retry cannot fix that) and says why.
    rig.set_config(&syslog_toml("rs-tls", "tls", rs.tls, Some(sb_ca.path())));
    let out = rig.run(&["note", &ids[0], "--text", "to an impostor?"]);
    assert_eq!(out.status.code(), Some(1));
    let rows = rig.siem_rows();
    let tls: Vec<&Value> = rows
        .iter()
        .filter(|r| r["destination"] == "siem:rs-tls")
        .collect();
    assert!(!tls.is_empty());
    assert!(
        tls.iter().any(|r| r["state"] == "failed"
            && r["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("certificate"))),
        "{tls:?}"
    );
    // Nothing reached the TLS input.
    assert!(!rs.lines(0).iter().any(|l| l.starts_with("tls|")));
}

// ---- the store: rows written with the entry, nothing without it ----

#[test]
fn each_audit_entry_owes_one_row_per_destination_written_in_its_transaction() {
    use sitrep::audit::{AuditEntry, AuditKey};
    use sitrep::domain::Status;
    use sitrep::store::{Decision, LocalChange, OutboxKind, OutboxState, StatusChange, Store};
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = Store::open(&dir.path().join("s.db")).expect("open");
    s.set_audit_key(AuditKey::from_bytes(&[7u8; 32]));
    s.set_siem_destinations(&["b".into(), "a".into(), "a".into()])
        .expect("destinations");
    let seq = s
        .audit_append(&AuditEntry {
            at: 1_000,
            actor: "alice",
            action: "llm_call",
            subject: "wiz:1",
            detail: &serde_json::json!({ "model": "m", "outcome": "ok" }),
        })
        .expect("append");
    let rows = s.outbox_list(&[OutboxState::Pending], 100).expect("list");
    let mut dests: Vec<&str> = rows.iter().map(|r| r.destination.as_str()).collect();
    dests.sort();
    assert_eq!(dests, ["siem:a", "siem:b"]);
    for r in &rows {
        assert_eq!(r.kind, OutboxKind::Siem);
        assert_eq!(r.alert_id, None);
        assert_eq!(r.payload["seq"], seq);
        assert_eq!(r.payload["detail"]["model"], "m", "detail kept as JSON");
        assert_eq!(r.dedup_key, format!("{}:{seq}", r.destination));
    }
    // A decision that fails rolls back with its audit entry: no row without an entry.
    let err = s.record_decision(&Decision {
        alert_id: "wiz:no-such-alert".into(),
        actor: "alice".into(),
        at: 2_000,
        change: LocalChange::Status(StatusChange {
            status: Status::Acknowledged,
            actor: "alice".into(),
            note: None,
            at: 2_000,
        }),
        outbox: Vec::new(),
        audit_detail: serde_json::json!({}),
    });
    assert!(err.is_err());
    assert_eq!(s.outbox_list(&[], 100).expect("list").len(), 2);
    // No destinations, no rows.
    s.set_siem_destinations(&[]).expect("none");
    s.audit_append(&AuditEntry {
        at: 3_000,
        actor: "alice",
        action: "note",
        subject: "wiz:1",
        detail: &serde_json::json!({}),
    })
    .expect("append");
    assert_eq!(s.outbox_list(&[], 100).expect("list").len(), 2);
    assert!(s.audit_verify().expect("verify").is_ok());
}

#[test]
fn a_tcp_receiver_gets_one_octet_counted_frame_and_one_that_never_closes_is_not_flooded() {
    use sitrep::config::siem::{SiemDestination, SiemKind, SyslogConfig, SyslogTransport};
    use sitrep::dispatch::siem::{Clients, Entry, deliver};
    use tokio::io::AsyncReadExt;
    let rt = runtime();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        // Reads everything the client sends, then keeps the connection open.
        let server = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.expect("accept");
            let mut got = Vec::new();
            sock.read_to_end(&mut got).await.expect("read");
            tokio::time::sleep(Duration::from_secs(3)).await;
            drop(sock);
            got
        });
        let dest = SiemDestination {
            name: "hold".into(),
            kind: SiemKind::Syslog(SyslogConfig {
                address: addr.to_string(),
                transport: SyslogTransport::Tcp,
                ca_file: None,
                server_name: None,
                facility: 13,
                hostname: Some("h".into()),
                app_name: "sitrep".into(),
            }),
            timeout: Duration::from_millis(500),
        };
        let entry = Entry {
            seq: 9,
            at: common::NOW_MS,
            actor: "alice".into(),
            action: "approve".into(),
            subject: "wiz:1".into(),
            detail: serde_json::json!({ "note": "ok" }),
            mac: "00ff".into(),
        };
        let out = deliver(&[dest], &mut Clients::default(), "siem:hold", &entry)
            .await
            .expect("delivered");
        assert!(out.contains("did not confirm"), "{out}");
        let got = String::from_utf8(server.await.expect("server")).expect("utf-8");
        let (len, msg) = got.split_once(' ').expect("LEN SP MSG");
        assert_eq!(len.parse::<usize>().expect("length"), msg.len(), "{got}");
        assert!(msg.starts_with("<109>1 ") && msg.contains(" approve [audit@32473 seq=\"9\""));
    });
}

#[test]
fn config_check_names_where_the_hec_token_comes_from_and_whether_it_is_there() {
    let sb = Sandbox::new();
    let cfg = sb.write(
        "config.toml",
        "[[siem]]\nname = \"splunk\"\ntype = \"splunk_hec\"\nurl = \"https://splunk.example:8088\"\ntoken = { env = \"SITREP_TEST_HEC_TOKEN\" }\n",
    );
    let run = |token: Option<&str>| {
        let mut c = sb.cmd();
        c.env("SITREP_CONFIG", &cfg);
        if let Some(t) = token {
            c.env(TOKEN_ENV, t);
        }
        c.args(["config", "check"]).output().expect("run")
    };
    let out = run(None);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("siem     splunk token: environment variable SITREP_TEST_HEC_TOKEN (MISSING"),
        "{text}"
    );
    let out = run(Some("s3cr3t-hec-token"));
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("(ok)") && !text.contains("s3cr3t-hec-token"),
        "{text}"
    );
}

#[test]
fn a_lost_hec_reply_sends_the_entry_again_with_the_same_seq_and_mac() {
    let rt = runtime();
    let sim = hec_sim(&rt, false, 0);
    rt.block_on(sim.state.script(&[HecFault::CommitThenDrop]));
    let rig = Rig::new(
        &sim.siem_toml("splunk", TOKEN_ENV),
        vec![(TOKEN_ENV.into(), sim.state.token.clone())],
    );
    let ids = rig.ids();
    rig.ok(&["note", &ids[0], "--text", "reply lost"]);
    let rows = rig.siem_rows();
    assert_eq!(rows[0]["state"], "pending", "{rows:?}");
    rig.ok(&["outbox", "retry"]);
    assert!(rig.siem_rows().iter().all(|r| r["state"] == "done"));
    // HEC indexed the first entry twice (at least once, documented); the copies carry the
    // same seq and mac, which is how a SIEM search drops one.
    let got = received(&rt, &sim);
    let audit = rig.audit();
    let first = audit.keys().next().expect("an entry");
    assert_eq!(got[first].len(), 2, "{got:?}");
    assert_eq!(got[first][0], got[first][1]);
    assert!(
        got.iter()
            .filter(|(s, _)| *s != first)
            .all(|(_, c)| c.len() == 1)
    );
}

//! Remediation against a fixture IaC checkout (tests/fixtures/iac): every generated diff passes
//! a real `git apply --check` in a fresh git repository, applies, and after applying the
//! generator proposes no further change. Plus: LLM-diff validation, shell quoting of
//! untrusted names, and golden snapshots of the rendered diffs.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use sitrep::config::IacConfig;
use sitrep::domain::{Alert, Category, Cloud, Cve, Vendor};
use sitrep::highlight::{self, Highlighter, Lang};
use sitrep::remediate::{self, DiffRejected, Form, ProposalKind};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/iac");

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read fixture dir") {
        let e = e.expect("dir entry");
        let dest = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).expect("copy fixture file");
        }
    }
}

fn git(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("git on PATH")
}

/// A fresh git repository holding a copy of the fixture.
fn checkout() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = tmp.path().join("infra");
    copy_dir(Path::new(FIXTURE), &repo);
    assert!(git(&repo, &["init", "-q"]).status.success());
    (tmp, repo)
}

fn alert(policy: &str, rtype: &str, cloud: Cloud, id: &str, name: &str) -> Alert {
    let mut a = Alert::new(
        Vendor::PrismaCspm,
        format!("n-{name}"),
        serde_json::Value::Null,
    );
    a.policy.name = Some(policy.into());
    a.title = policy.into();
    a.category = Category::Misconfiguration;
    a.resource.rtype = Some(rtype.into());
    a.resource.cloud = Some(cloud);
    a.resource.id = Some(id.into());
    a.resource.name = Some(name.into());
    a.resource.account = Some("123456789012".into());
    a
}

fn vuln(name: &str, id: &str, cves: &[(&str, &str, &str)]) -> Alert {
    let mut a = alert(
        "Vulnerable package in running image",
        "container",
        Cloud::Kubernetes,
        id,
        name,
    );
    a.category = Category::Vulnerability;
    a.cves = cves
        .iter()
        .enumerate()
        .map(|(i, (p, v, f))| Cve {
            id: format!("CVE-2024-{i:04}"),
            package: Some(p.to_string()),
            package_version: Some(v.to_string()),
            fixed_version: Some(f.to_string()),
            ..Cve::default()
        })
        .collect();
    a
}

/// The fixture's findings: (alert, generator, files the diff must touch).
fn findings() -> Vec<(Alert, &'static str, Vec<&'static str>)> {
    vec![
        (
            alert(
                "Storage bucket is publicly readable",
                "AWS::S3::Bucket",
                Cloud::Aws,
                "arn:aws:s3:::acme-public-assets",
                "acme-public-assets",
            ),
            "public-storage",
            vec!["terraform/storage.tf"],
        ),
        (
            alert(
                "Storage account container allows anonymous public blob access",
                "Microsoft.Storage/storageAccounts",
                Cloud::Azure,
                "/subscriptions/0000/resourceGroups/rg-reports-prod/providers/Microsoft.Storage/storageAccounts/reportsprodsa",
                "reportsprodsa",
            ),
            "public-storage",
            vec!["terraform/storage.tf"],
        ),
        (
            alert(
                "GCS bucket is publicly accessible to allUsers",
                "storage#bucket",
                Cloud::Gcp,
                "//storage.googleapis.com/projects/_/buckets/acme-media-prod",
                "acme-media-prod",
            ),
            "public-storage",
            vec!["terraform/storage.tf"],
        ),
        (
            alert(
                "Security group allows SSH (port 22) from the internet (0.0.0.0/0)",
                "AWS::EC2::SecurityGroup",
                Cloud::Aws,
                "arn:aws:ec2:us-east-1:123456789012:security-group/sg-0abc",
                "acme-bastion-sg",
            ),
            "open-admin-port",
            vec!["terraform/network.tf"],
        ),
        (
            alert(
                "Network security rule allows RDP (port 3389) from any source",
                "Microsoft.Network/networkSecurityGroups",
                Cloud::Azure,
                "/subscriptions/0000/resourceGroups/rg-ops/providers/Microsoft.Network/networkSecurityGroups/jump-nsg",
                "jump-nsg",
            ),
            "open-admin-port",
            vec!["terraform/network.tf"],
        ),
        (
            alert(
                "Firewall rule allows ingress on port 22 from 0.0.0.0/0",
                "compute#firewall",
                Cloud::Gcp,
                "//compute.googleapis.com/projects/p-1/global/firewalls/allow-ssh",
                "allow-ssh",
            ),
            "open-admin-port",
            vec!["terraform/network.tf"],
        ),
        (
            alert(
                "S3 bucket is not encrypted at rest",
                "AWS::S3::Bucket",
                Cloud::Aws,
                "arn:aws:s3:::acme-ledger-data",
                "acme-ledger-data",
            ),
            "unencrypted-storage",
            vec!["terraform/storage.tf"],
        ),
        (
            alert(
                "EBS volume is not encrypted",
                "AWS::EC2::Volume",
                Cloud::Aws,
                "arn:aws:ec2:us-east-1:123456789012:volume/vol-0123",
                "ledger-data-vol",
            ),
            "unencrypted-storage",
            vec!["terraform/storage.tf"],
        ),
        (
            alert(
                "Database storage is not encrypted at rest",
                "AWS::RDS::DBInstance",
                Cloud::Aws,
                "arn:aws:rds:us-east-1:123456789012:db:ledger-prod-db",
                "ledger-prod-db",
            ),
            "unencrypted-storage",
            vec!["terraform/storage.tf"],
        ),
        (
            alert(
                "IAM policy grants full administrative privileges (Action \"*\" on Resource \"*\")",
                "AWS::IAM::Role",
                Cloud::Aws,
                "arn:aws:iam::123456789012:role/acme-deployer",
                "acme-deployer",
            ),
            "iam-wildcard",
            vec!["terraform/iam.tf"],
        ),
        (
            alert(
                "CloudTrail logging is disabled in the account",
                "AWS::EC2::Instance",
                Cloud::Aws,
                "arn:aws:ec2:us-east-1:123456789012:instance/i-0aaa",
                "web-1",
            ),
            "cloudtrail-disabled",
            vec!["terraform/logging.tf"],
        ),
        (
            alert(
                "VPC flow logs are not enabled",
                "AWS::EC2::SecurityGroup",
                Cloud::Aws,
                "arn:aws:ec2:us-east-1:123456789012:security-group/sg-0abc",
                "acme-bastion-sg",
            ),
            "flow-logs-disabled",
            vec!["terraform/network.tf"],
        ),
        (
            alert(
                "Container runs privileged",
                "Deployment",
                Cloud::Kubernetes,
                "k8s/prod-cluster-1/payments/deployment/checkout-web",
                "checkout-web",
            ),
            "k8s-privileged",
            vec!["k8s/checkout.yaml"],
        ),
        (
            alert(
                "Container running as root user",
                "Deployment",
                Cloud::Kubernetes,
                "k8s/prod-cluster-1/payments/deployment/checkout-web",
                "checkout-web",
            ),
            "k8s-run-as-root",
            vec!["k8s/checkout.yaml"],
        ),
        (
            alert(
                "Workload mounts a sensitive hostPath volume",
                "Deployment",
                Cloud::Kubernetes,
                "k8s/prod-cluster-1/payments/deployment/checkout-web",
                "checkout-web",
            ),
            "k8s-host-path",
            vec!["k8s/checkout.yaml"],
        ),
        (
            alert(
                "Container has no CPU or memory limits set",
                "Deployment",
                Cloud::Kubernetes,
                "k8s/prod-cluster-1/payments/deployment/checkout-web",
                "checkout-web",
            ),
            "k8s-resource-limits",
            vec!["k8s/checkout.yaml"],
        ),
        (
            vuln(
                "checkout",
                "k8s/prod-cluster-1/payments/deployment/checkout-web",
                &[
                    ("curl", "7.88.1", "8.4.0"),
                    ("setuptools", "65.5.0", "65.5.1"),
                    ("log4j-core", "2.14.1", "2.17.1"),
                    ("nginx", "1.19", "1.25.3"),
                ],
            ),
            "vulnerable-package",
            vec!["docker/checkout/Dockerfile", "k8s/checkout.yaml"],
        ),
        (
            alert(
                "S3 bucket grants public READ access (AllUsers)",
                "AWS::S3::Bucket",
                Cloud::Aws,
                "arn:aws:s3:::acme-cfn-assets",
                "acme-cfn-assets",
            ),
            "public-storage",
            vec!["cloudformation/assets.json"],
        ),
        (
            alert(
                "S3 bucket default encryption is disabled",
                "AWS::S3::Bucket",
                Cloud::Aws,
                "arn:aws:s3:::acme-cfn-assets",
                "acme-cfn-assets",
            ),
            "unencrypted-storage",
            vec!["cloudformation/assets.json"],
        ),
    ]
}

#[test]
fn every_fixture_finding_yields_diffs_that_apply_and_then_converge() {
    for (a, generator, files) in findings() {
        let (_tmp, repo) = checkout();
        let iac = IacConfig::single(&repo);
        let rem = remediate::propose(&a, &iac);
        assert_eq!(
            rem.generator,
            Some(generator),
            "{}: {}",
            a.title,
            rem.summary
        );
        let diffs: Vec<_> = rem.proposals.iter().filter(|p| p.is_diff()).collect();
        let mut touched: Vec<String> = diffs
            .iter()
            .map(|p| match &p.kind {
                ProposalKind::Diff { path, repo: r } => {
                    assert_eq!(r, &repo);
                    path.display().to_string()
                }
                ProposalKind::Snippet => unreachable!(),
            })
            .collect();
        touched.sort();
        assert_eq!(touched, files, "{}: {}", a.title, rem.summary);
        for p in &diffs {
            assert_eq!(p.sha256, remediate::sha256_hex(p.text.as_bytes()));
            let check = Command::new("git")
                .arg("-C")
                .arg(&repo)
                .args(["apply", "--check", "-"])
                .stdin(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut c| {
                    use std::io::Write;
                    c.stdin.take().unwrap().write_all(p.text.as_bytes())?;
                    c.wait_with_output()
                })
                .unwrap();
            assert!(
                check.status.success(),
                "{}: git apply --check failed: {}\n{}",
                a.title,
                String::from_utf8_lossy(&check.stderr),
                p.text
            );
            // Our own validator agrees.
            remediate::validate_diff(&p.text, &a, &iac)
                .unwrap_or_else(|e| panic!("{}: {e}\n{}", a.title, p.text));
        }
        for p in &diffs {
            let patch = repo.join(format!("{}.patch", p.sha256));
            std::fs::write(&patch, &p.text).unwrap();
            let out = git(&repo, &["apply", patch.to_str().unwrap()]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::fs::remove_file(patch).unwrap();
        }
        let again = remediate::propose(&a, &iac);
        assert!(
            again.proposals.iter().all(|p| !p.is_diff()),
            "{}: still proposes a change after applying:\n{}",
            a.title,
            again
                .proposals
                .iter()
                .map(|p| p.text.as_str())
                .collect::<String>()
        );
        assert!(
            again.summary.contains("needs no change"),
            "{}",
            again.summary
        );
    }
}

fn only_diff(a: &Alert) -> (tempfile::TempDir, PathBuf, String) {
    let (tmp, repo) = checkout();
    let rem = remediate::propose(a, &IacConfig::single(&repo));
    let d: Vec<_> = rem.proposals.into_iter().filter(|p| p.is_diff()).collect();
    assert_eq!(d.len(), 1, "{}", rem.summary);
    (tmp, repo, d[0].text.clone())
}

#[test]
fn fixes_leave_everything_else_alone() {
    let all = findings();
    // The public-bucket fix never touches the unflagged acme-logs bucket.
    let (_t, _r, d) = only_diff(&all[0].0);
    assert!(!d.contains("acme-logs"), "{d}");
    assert!(d.contains("+  acl    = \"private\""), "{d}");
    assert!(d.contains("resource \"aws_s3_bucket_public_access_block\" \"public_assets\""));
    // The SSH fix leaves port 443 open to the world and declares the variable it uses.
    let (_t, _r, d) = only_diff(&all[3].0);
    assert_eq!(d.matches("var.admin_cidr_blocks").count(), 1, "{d}");
    assert!(d.contains("+variable \"admin_cidr_blocks\""), "{d}");
    assert_eq!(
        d.matches("-    cidr_blocks = [\"0.0.0.0/0\"]").count(),
        1,
        "{d}"
    );
    // The CloudFormation fix changes AssetsBucket only, not ArchiveBucket (also PublicRead).
    let (_t, repo, d) = only_diff(&all[17].0);
    let p = sitrep::remediate::diff::parse(&d).unwrap();
    let original = std::fs::read_to_string(repo.join("cloudformation/assets.json")).unwrap();
    let applied = sitrep::remediate::diff::apply(&original, &p[0])
        .unwrap()
        .text;
    let v: serde_json::Value = serde_json::from_str(&applied).unwrap();
    assert_eq!(
        v["Resources"]["AssetsBucket"]["Properties"]["AccessControl"],
        "Private"
    );
    assert_eq!(
        v["Resources"]["ArchiveBucket"]["Properties"]["AccessControl"],
        "PublicRead"
    );
    // The privileged fix changes checkout-web only, not ledger-api in the same file.
    let (_t, repo, d) = only_diff(&all[12].0);
    let p = sitrep::remediate::diff::parse(&d).unwrap();
    let original = std::fs::read_to_string(repo.join("k8s/checkout.yaml")).unwrap();
    let applied = sitrep::remediate::diff::apply(&original, &p[0])
        .unwrap()
        .text;
    assert!(applied.contains("ledger-api"));
    assert_eq!(applied.matches("privileged: true").count(), 1, "{applied}");
    assert_eq!(applied.matches("privileged: false").count(), 1, "{applied}");
}

#[test]
fn without_a_mapped_definition_snippets_are_standalone_and_labelled() {
    let a = alert(
        "Storage bucket is publicly readable",
        "AWS::S3::Bucket",
        Cloud::Aws,
        "arn:aws:s3:::not-in-iac",
        "not-in-iac",
    );
    let (_tmp, repo) = checkout();
    let rem = remediate::propose(&a, &IacConfig::single(&repo));
    assert!(
        rem.summary
            .contains("no definition of resource \"not-in-iac\""),
        "{}",
        rem.summary
    );
    assert!(
        rem.proposals
            .iter()
            .all(|p| p.kind == ProposalKind::Snippet)
    );
    let forms: Vec<Form> = rem.proposals.iter().map(|p| p.form).collect();
    assert!(
        forms.contains(&Form::Terraform) && forms.contains(&Form::CloudFormation),
        "{forms:?}"
    );
    assert!(
        rem.proposals
            .iter()
            .any(|p| p.title.starts_with("Standalone"))
    );

    // No checkout mapped to the account at all.
    let mut iac = IacConfig::single(&repo);
    iac.repos[0].accounts = vec!["999".into()];
    let rem = remediate::propose(&a, &iac);
    assert!(
        rem.summary
            .contains("no IaC checkout is mapped to account \"123456789012\""),
        "{}",
        rem.summary
    );

    // No generator.
    let mut b = a.clone();
    b.policy.name = Some("Reverse shell detected".into());
    b.title = "Reverse shell detected".into();
    let rem = remediate::propose(&b, &iac);
    assert_eq!(rem.generator, None);
    assert!(rem.proposals.is_empty());
    assert!(
        rem.summary
            .starts_with("no generator for policy \"Reverse shell detected\""),
        "{}",
        rem.summary
    );
}

#[test]
fn llm_diffs_are_validated_like_ours() {
    let a = &findings()[0].0;
    let (_tmp, repo, good) = only_diff(a);
    let iac = IacConfig::single(&repo);
    let v = remediate::validate_diff(&good, a, &iac).unwrap();
    assert!(v.git_checked);
    assert_eq!(v.files, vec![PathBuf::from("terraform/storage.tf")]);

    let reject = |d: &str| remediate::validate_diff(d, a, &iac).unwrap_err();
    assert!(matches!(
        reject("Sure! Here is the fix: make the bucket private."),
        DiffRejected::Parse(_)
    ));
    // Touches another resource (the acme-logs bucket).
    let other = "--- a/terraform/storage.tf\n+++ b/terraform/storage.tf\n@@ -18,3 +18,3 @@\n resource \"aws_s3_bucket\" \"logs\" {\n   bucket = \"acme-logs\"\n-  acl    = \"public-read\"\n+  acl    = \"private\"\n";
    let e = reject(other);
    assert!(matches!(e, DiffRejected::OutOfScope { .. }), "{e}");
    assert!(
        e.to_string().contains("outside the alert's resource"),
        "{e}"
    );
    // Outside the checkout.
    let e = reject(&good.replace("terraform/storage.tf", "../../etc/passwd"));
    assert!(matches!(e, DiffRejected::UnsafePath(_)), "{e}");
    // Context that is not in the file.
    let e = reject(&good.replace(
        " resource \"aws_s3_bucket_acl\"",
        " resource \"aws_s3_bucket_aclx\"",
    ));
    assert!(matches!(e, DiffRejected::DoesNotApply { .. }), "{e}");
    // A new file.
    let e =
        reject("--- /dev/null\n+++ b/terraform/evil.tf\n@@ -0,0 +1 @@\n+resource \"x\" \"y\" {}\n");
    assert!(matches!(e, DiffRejected::FileOperation(_)), "{e}");
}

#[test]
fn untrusted_names_cannot_inject_into_cli_commands() {
    let evil = "x'; touch pwned; echo '$(id)`id`\x1b]0;t\x07";
    let a = alert(
        "Storage bucket is publicly readable",
        "AWS::S3::Bucket",
        Cloud::Aws,
        &format!("arn:aws:s3:::{evil}"),
        evil,
    );
    let rem = remediate::propose(&a, &IacConfig::default());
    let cli = rem
        .proposals
        .iter()
        .find(|p| p.form == Form::Cli(remediate::Tool::Aws))
        .unwrap();
    assert!(!cli.text.contains('\x1b'));
    // Run it with `aws` replaced by a function that prints its arguments one per line.
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("sh")
        .current_dir(dir.path())
        .arg("-c")
        .arg(format!(
            "aws() {{ printf '<%s>\\n' \"$@\"; }}\n{}",
            cli.text
        ))
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected_arg = format!("<{}>", sitrep::sanitize::one_line(evil));
    assert!(printed.lines().any(|l| l == expected_arg), "{printed}");
    assert!(!dir.path().join("pwned").exists());
    assert!(!printed.contains("uid="), "{printed}");
}

fn rendered(a: &Alert, theme: &str) -> String {
    let (_tmp, _repo, d) = only_diff(a);
    let h = Highlighter::new(theme).expect("theme");
    highlight::to_marked(&h.highlight_diff(&d, Lang::Plain))
}

#[test]
fn rendered_diffs_golden() {
    let all = findings();
    insta::assert_snapshot!(
        "public_bucket_terraform_dark",
        rendered(&all[0].0, "base16-ocean.dark")
    );
    insta::assert_snapshot!(
        "privileged_k8s_dark",
        rendered(&all[12].0, "base16-ocean.dark")
    );
    insta::assert_snapshot!(
        "privileged_k8s_light",
        rendered(&all[12].0, "InspiredGitHub")
    );
    insta::assert_snapshot!("open_ssh_plain", rendered(&all[3].0, "none"));
    insta::assert_snapshot!(
        "public_bucket_cloudformation_dark",
        rendered(&all[17].0, "base16-ocean.dark")
    );
    let (_t, repo) = checkout();
    let rem = remediate::propose(&all[16].0, &IacConfig::single(&repo));
    let docker = rem
        .proposals
        .iter()
        .find(|p| p.form == Form::Dockerfile)
        .unwrap();
    let h = Highlighter::new("base16-ocean.dark").unwrap();
    insta::assert_snapshot!(
        "vulnerable_dockerfile_dark",
        highlight::to_marked(&h.highlight_diff(&docker.text, Lang::Plain))
    );
}

#[test]
fn show_diff_end_to_end() {
    let sb = common::Sandbox::new();
    std::fs::create_dir_all(sb.db().parent().unwrap()).unwrap();
    let mut public = findings().remove(0).0;
    public.native_id = "P-9".into();
    public.source = "prisma-cspm".into();
    let mut shell = public.clone();
    shell.native_id = "P-10".into();
    shell.policy.name = Some("Reverse shell detected".into());
    shell.title = "Reverse shell detected".into();
    {
        let mut store = sitrep::store::Store::open(&sb.db()).unwrap();
        store.import(&[public, shell], common::NOW_MS).unwrap();
    }
    let infra = sb.path("infra");
    copy_dir(Path::new(FIXTURE), &infra);
    let config = sb.write(
        "config.toml",
        &format!(
            "[[iac]]\npath = {:?}\naccounts = [\"123456789012\"]\n",
            infra.display().to_string()
        ),
    );
    let config = config.to_str().unwrap();

    let text = sb.ok(&["--config", config, "show", "prisma-cspm:P-9", "--diff"]);
    assert!(
        text.starts_with("remediation for prisma-cspm:P-9: public-storage\n"),
        "{text}"
    );
    assert!(
        text.contains("── Terraform diff against terraform/storage.tf ──"),
        "{text}"
    );
    assert!(text.contains("+  acl    = \"private\"\n"), "{text}");
    assert!(text.contains("── aws commands (standalone) ──"), "{text}");
    assert!(
        !text.contains('\x1b'),
        "coloured although stdout is not a terminal"
    );

    let json: serde_json::Value = serde_json::from_str(&sb.ok(&[
        "--config", config, "show", "P-9", "--diff", "--format", "json",
    ]))
    .unwrap();
    assert_eq!(json["generator"], "public-storage");
    assert_eq!(json["proposals"][0]["kind"], "diff");
    assert_eq!(json["proposals"][0]["path"], "terraform/storage.tf");
    let text0 = json["proposals"][0]["text"].as_str().unwrap();
    assert_eq!(
        json["proposals"][0]["sha256"],
        remediate::sha256_hex(text0.as_bytes())
    );

    let none = sb.ok(&["--config", config, "show", "prisma-cspm:P-10", "--diff"]);
    assert!(
        none.starts_with("remediation for prisma-cspm:P-10: no generator\n"),
        "{none}"
    );
    assert!(
        none.contains("no generator for policy \"Reverse shell detected\""),
        "{none}"
    );

    let bad = sb.write("bad.toml", "[[iac]]\npath = \"/x\"\ntags = [\"nokey\"]\n");
    let err = sb.fails(
        &["--config", bad.to_str().unwrap(), "show", "P-9", "--diff"],
        2,
    );
    assert!(
        err.contains("[[iac]] #1 tags: 'nokey' is not key=value"),
        "{err}"
    );
}

/// An approved diff goes through the outbox onto a new branch of the checkout: committed with
/// its sha256 trailer, never touching the working tree, the index or HEAD (a repeated apply
/// is covered in tests/notify.rs).
#[test]
fn an_approved_diff_is_committed_on_a_new_branch_through_the_outbox() {
    use sitrep::dispatch::decide;
    use sitrep::dispatch::worker::{self, Dispatcher};
    use sitrep::domain::Intent;
    use sitrep::store::{OutboxKind, OutboxState, Store};

    let (tmp, repo) = checkout();
    for args in [
        vec!["add", "-A"],
        vec![
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-qm",
            "infra",
        ],
    ] {
        let out = git(&repo, &args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let head = git(&repo, &["rev-parse", "HEAD"]).stdout;
    let (a, _, _) = findings().into_iter().next().expect("a fixture finding");
    let mut config = sitrep::config::Config::defaults();
    config.iac = IacConfig::single(&repo);
    config.approvals.four_eyes = false;
    config.approvals.on_approve = vec![sitrep::config::OnApprove::Patch];
    let mut store = Store::open(&tmp.path().join("s.db")).expect("store");
    store.import(std::slice::from_ref(&a), 1).expect("import");
    let id = format!("{}:{}", a.source, a.native_id);
    let out = decide::decide(
        &mut store,
        &config,
        "alice",
        &id,
        &Intent::Approve {
            note: Some("ok".into()),
            proposal: None,
        },
        worker::wall_clock_ms(),
    )
    .expect("approve");
    assert!(
        out.notes.iter().any(|n| n.contains("approved by alice")),
        "{:?}",
        out.notes
    );
    assert_eq!(out.queued, 1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let mut d = Dispatcher::new(&config);
    let pass = rt
        .block_on(worker::deliver_due(
            &mut store,
            &mut d,
            worker::wall_clock_ms,
            10,
        ))
        .expect("deliver");
    assert_eq!(pass.delivered, 1, "{:?}", store.outbox_for_alert(&id));
    let row = store
        .outbox_for_alert(&id)
        .expect("rows")
        .into_iter()
        .find(|r| r.kind == OutboxKind::Patch)
        .expect("patch row");
    assert_eq!(row.state, OutboxState::Done);
    let branch = row
        .result
        .as_deref()
        .expect("result")
        .split(' ')
        .next()
        .expect("branch");
    assert!(branch.starts_with("sitrep/fix-"), "{branch}");
    let log = git(&repo, &["log", "-1", "--format=%B", branch]);
    assert!(
        String::from_utf8_lossy(&log.stdout).contains("Sitrep-Diff-Sha256:"),
        "{}",
        String::from_utf8_lossy(&log.stdout)
    );
    // The analyst's checkout is as it was.
    assert_eq!(git(&repo, &["rev-parse", "HEAD"]).stdout, head);
    assert!(git(&repo, &["status", "--porcelain"]).stdout.is_empty());
    let history = store.history(&id).expect("history");
    assert!(
        history.iter().any(|h| h
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("not pushed"))),
        "{history:?}"
    );
}

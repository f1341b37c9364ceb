//! Attack paths: the alerts of one resource group chained internet exposure → exploitable
//! workload → privileged identity → sensitive data, from the findings' own facts and from
//! vendor graph context (Wiz toxic combinations, Orca attack paths, Prisma attack-path
//! policies). A path is scored as a whole.

use crate::domain::{Alert, AttackPath, Factor, PathStep, Stage};
use crate::triage::score::{Assessment, ScoringConfig};

/// Vendor graph context that says this finding is itself a path, in words: the typed hint
/// the vendor's mapper read ([`Alert::vendor_path`]).
pub fn vendor_context(a: &Alert) -> Option<String> {
    let p = a.vendor_path.as_ref()?;
    Some(format!(
        "{}: {}",
        p.kind.label(),
        crate::sanitize::one_line(&p.name)
    ))
}

/// The group facts a path score needs (what the store can aggregate in SQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GroupFacts {
    /// The highest member score.
    pub max_score: u8,
    /// Union of member stage bits ([`Stage::bit`]).
    pub stage_mask: u8,
    /// Members showing at least one stage.
    pub contributors: usize,
    /// A vendor asserted a path on a member.
    pub vendor_path: bool,
}

impl GroupFacts {
    pub fn stages(&self) -> Vec<Stage> {
        Stage::ALL
            .into_iter()
            .filter(|s| self.stage_mask & s.bit() != 0)
            .collect()
    }

    /// Is the group an attack path? Two or more stages, starting at internet exposure (or
    /// vouched for by a vendor's graph), shown by two or more alerts (or by the vendor).
    pub fn is_path(&self) -> bool {
        let n = self.stages().len();
        n >= 2
            && (self.stage_mask & Stage::Exposure.bit() != 0 || self.vendor_path)
            && (self.contributors >= 2 || self.vendor_path)
    }

    /// The group's score: a path scores its strongest member plus `path_step` per stage
    /// beyond the first (capped at 100); any other group scores its strongest member.
    pub fn score(&self, cfg: &ScoringConfig) -> u8 {
        if !self.is_path() {
            return self.max_score;
        }
        let extra = cfg.path_step * (self.stages().len() as i32 - 1);
        (i32::from(self.max_score) + extra).clamp(0, 100) as u8
    }
}

/// One member of a group, assessed.
pub struct Member<'a> {
    pub id: &'a str,
    pub alert: &'a Alert,
    pub assessment: &'a Assessment,
}

/// The attack path through a group's members, if they form one.
pub fn build(group_key: &str, members: &[Member<'_>], cfg: &ScoringConfig) -> Option<AttackPath> {
    // Open members only: what the vendor closed is no longer a door into the resource.
    let open: Vec<&Member<'_>> = members
        .iter()
        .filter(|m| !m.alert.vendor_status.is_closed())
        .collect();
    let members = open.as_slice();
    let mut context: Vec<String> = Vec::new();
    for c in members.iter().filter_map(|m| vendor_context(m.alert)) {
        if !context.contains(&c) {
            context.push(c);
        }
    }
    let vendor_context = context;
    let facts = GroupFacts {
        max_score: members
            .iter()
            .map(|m| m.assessment.score.total)
            .max()
            .unwrap_or(0),
        stage_mask: members
            .iter()
            .fold(0, |acc, m| acc | m.assessment.stage_mask()),
        contributors: members
            .iter()
            .filter(|m| m.assessment.stage_mask() != 0)
            .count(),
        vendor_path: !vendor_context.is_empty(),
    };
    if !facts.is_path() {
        return None;
    }
    let mut steps = Vec::new();
    for stage in facts.stages() {
        let best = members
            .iter()
            .filter_map(|m| {
                m.assessment
                    .stages
                    .iter()
                    .find(|(s, _)| *s == stage)
                    .map(|(_, label)| (m, label))
            })
            .max_by_key(|(m, _)| (m.assessment.score.total, std::cmp::Reverse(m.id)));
        if let Some((m, label)) = best {
            steps.push(PathStep {
                stage,
                alert_id: m.id.to_string(),
                label: label.clone(),
                score: m.assessment.score.total,
            });
        }
    }
    let top = members
        .iter()
        .max_by_key(|m| (m.assessment.score.total, std::cmp::Reverse(m.id)))?;
    let total = facts.score(cfg);
    let mut factors = vec![Factor {
        points: i32::from(facts.max_score),
        key: "strongest_member",
        label: format!(
            "strongest member: {} scores {}",
            crate::sanitize::one_line(top.id),
            facts.max_score
        ),
    }];
    let chain: Vec<&str> = facts.stages().iter().map(|s| s.label()).collect();
    let extra = i32::from(total) - i32::from(facts.max_score);
    let uncapped = cfg.path_step * (chain.len() as i32 - 1);
    factors.push(Factor {
        points: uncapped,
        key: "chain",
        label: format!(
            "attack chain of {} stages ({}): +{} per stage beyond the first",
            chain.len(),
            chain.join(" → "),
            cfg.path_step
        ),
    });
    if extra != uncapped {
        factors.push(Factor {
            points: extra - uncapped,
            key: "cap",
            label: "capped: scores run from 0 to 100".into(),
        });
    }
    Some(AttackPath {
        group_key: group_key.to_string(),
        resource: crate::triage::score::resource_name(top.alert),
        steps,
        total,
        factors,
        vendor_context,
    })
}

/// One step in words, its stage named once: "privileged identity: Container runs privileged",
/// "exploitable workload — known exploited: CVE-2021-44228 is in CISA KEV since 2021-12-10".
pub fn step_text(s: &PathStep) -> String {
    let label = crate::sanitize::one_line(&s.label);
    if label.starts_with(&format!("{}: ", s.stage.label())) {
        label
    } else {
        format!("{} — {label}", s.stage.label())
    }
}

/// The path as one readable line: "internet exposure — … → exploitable workload — … → …".
pub fn chain_text(p: &AttackPath) -> String {
    p.steps
        .iter()
        .map(step_text)
        .collect::<Vec<_>>()
        .join(" → ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Category, Severity, Vendor, VendorPath, VendorPathKind};
    use crate::triage::score::{IntelSet, ScoreContext, assess};

    #[test]
    fn two_stage_group_from_two_vendors_is_a_path_scored_above_its_members() {
        let cfg = ScoringConfig::default();
        let intel = IntelSet::default();
        let ctx = ScoreContext {
            config: &cfg,
            intel: &intel,
            now_ms: 0,
        };
        let mut sg = Alert::new(Vendor::PrismaCspm, "P", serde_json::json!({}));
        sg.title = "Instance allows 0.0.0.0/0 on port 22".into();
        sg.severity = Severity::High;
        let mut role = Alert::new(Vendor::Wiz, "W", serde_json::json!({}));
        role.title = "Instance role has AdministratorAccess".into();
        role.category = Category::Identity;
        role.severity = Severity::Medium;
        let (a1, a2) = (assess(&sg, &ctx), assess(&role, &ctx));
        let members = [
            Member {
                id: "prisma-cspm:P",
                alert: &sg,
                assessment: &a1,
            },
            Member {
                id: "wiz:W",
                alert: &role,
                assessment: &a2,
            },
        ];
        let p = build("aws:i-0123456789", &members, &cfg).expect("path");
        assert_eq!(p.steps.len(), 2);
        assert_eq!(p.steps[0].stage, Stage::Exposure);
        assert_eq!(p.steps[1].alert_id, "wiz:W");
        assert!(p.total > a1.score.total && p.total > a2.score.total);
        assert_eq!(
            i32::from(p.total),
            p.factors.iter().map(|f| f.points).sum::<i32>()
        );
        assert!(
            chain_text(&p).starts_with("internet exposure — internet-facing: "),
            "{}",
            chain_text(&p)
        );
        assert!(
            chain_text(&p)
                .ends_with(" → privileged identity: Instance role has AdministratorAccess"),
            "{}",
            chain_text(&p)
        );
        // One member alone is not a path.
        assert!(build("k", &members[..1], &cfg).is_none());
        // Nor is it when the vendor closed the other: only open members count.
        let mut fixed = role.clone();
        fixed.vendor_status = crate::domain::VendorState::Resolved;
        let a3 = assess(&fixed, &ctx);
        let with_closed = [
            Member {
                id: "prisma-cspm:P",
                alert: &sg,
                assessment: &a1,
            },
            Member {
                id: "wiz:W",
                alert: &fixed,
                assessment: &a3,
            },
        ];
        assert!(build("aws:i-0123456789", &with_closed, &cfg).is_none());
    }

    #[test]
    fn vendor_context_is_recognised() {
        // The mappers type the hints (their tests read the vendors' keys); triage words them.
        let mut a = Alert::new(Vendor::Wiz, "W", serde_json::json!({}));
        a.vendor_path = Some(VendorPath {
            kind: VendorPathKind::WizToxicCombination,
            name: "Publicly exposed VM with admin role".into(),
        });
        assert_eq!(
            vendor_context(&a).as_deref(),
            Some("Wiz toxic combination: Publicly exposed VM with admin role")
        );
        a.vendor_path = Some(VendorPath {
            kind: VendorPathKind::PrismaAttackPathPolicy,
            name: "Internet exposed instance\u{1b}[31m with IAM role".into(),
        });
        assert_eq!(
            vendor_context(&a).as_deref(),
            Some("Prisma Cloud attack-path policy: Internet exposed instance with IAM role")
        );
        for (kind, words) in [
            (
                VendorPathKind::OrcaBlastRadius,
                "Orca attack path (blast radius): T",
            ),
            (VendorPathKind::OrcaAttackPath, "Orca attack path: T"),
        ] {
            a.vendor_path = Some(VendorPath {
                kind,
                name: "T".into(),
            });
            assert_eq!(vendor_context(&a).as_deref(), Some(words));
        }
        // The untyped context alone says nothing to triage.
        a.vendor_path = None;
        a.attack_context = Some(serde_json::json!({"issueType": "TOXIC_COMBINATION"}));
        assert_eq!(vendor_context(&a), None);
        let f = GroupFacts {
            max_score: 95,
            stage_mask: 0b1011,
            contributors: 3,
            vendor_path: false,
        };
        assert!(f.is_path());
        assert_eq!(f.score(&ScoringConfig::default()), 100);
        let lone = GroupFacts {
            max_score: 50,
            stage_mask: 0b0011,
            contributors: 1,
            vendor_path: false,
        };
        assert!(!lone.is_path());
        assert_eq!(lone.score(&ScoringConfig::default()), 50);
    }
}

//! ServiceNow Table API: `incident` or `change_request`, Basic `user:password`.
//!
//! The fingerprint is the record's `correlation_id` (with `correlation_display = "sitrep"`);
//! `find` queries `correlation_id=fp^ORDERBYsys_created_on`. Comments are work notes, checked
//! for their marker in `sys_journal_field` first. (OAuth password grant: not implemented.)

use base64::Engine;
use reqwest::header::HeaderValue;
use serde_json::{Value, json};

use super::{
    Failure, TicketContent, TicketRef, TicketStatus, TicketSystem, auth_value, json_body, marker,
    render, send,
};
use crate::config::{Secret, ServiceNowConfig, SnTable};
use crate::dispatch::DispatchError;

const NAME: &str = "ServiceNow";

pub(crate) struct ServiceNow {
    http: reqwest::Client,
    base: String,
    table: SnTable,
    assignment_group: Option<String>,
    close_code: String,
    auth: HeaderValue,
}

/// Incident: 6 Resolved, 7 Closed, 8 Canceled. Change: 3 Closed, 4 Canceled.
fn state_done(table: SnTable, state: &str) -> bool {
    match table {
        SnTable::Incident => matches!(state, "6" | "7" | "8"),
        SnTable::ChangeRequest => matches!(state, "3" | "4"),
    }
}

fn state_name(table: SnTable, state: &str) -> &'static str {
    match (table, state) {
        (SnTable::Incident, "1") => "New",
        (SnTable::Incident, "2") => "In Progress",
        (SnTable::Incident, "3") => "On Hold",
        (SnTable::Incident, "6") => "Resolved",
        (SnTable::Incident, "7") => "Closed",
        (SnTable::Incident, "8") => "Canceled",
        (SnTable::ChangeRequest, "-5") => "New",
        (SnTable::ChangeRequest, "-4") => "Assess",
        (SnTable::ChangeRequest, "-3") => "Authorize",
        (SnTable::ChangeRequest, "-2") => "Scheduled",
        (SnTable::ChangeRequest, "-1") => "Implement",
        (SnTable::ChangeRequest, "0") => "Review",
        (SnTable::ChangeRequest, "3") => "Closed",
        (SnTable::ChangeRequest, "4") => "Canceled",
        _ => "Unknown",
    }
}

/// A sys_id is 32 hex characters; a number is letters and digits.
fn safe(s: &str, hex32: bool) -> bool {
    if hex32 {
        s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
    } else {
        !s.is_empty() && s.len() <= 40 && s.bytes().all(|b| b.is_ascii_alphanumeric())
    }
}

impl ServiceNow {
    pub(crate) fn new(
        c: &ServiceNowConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ServiceNow, DispatchError> {
        let password = super::secret(NAME, "password", &c.password, env)?;
        let raw = format!("{}:{}", c.username, password.expose());
        let header = Secret::new(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        ));
        Ok(ServiceNow {
            http: super::http_client(c.timeout)?,
            base: c.base_url.clone(),
            table: c.table,
            assignment_group: c.assignment_group.clone(),
            close_code: c.close_code.clone(),
            auth: auth_value(&header)?,
        })
    }

    fn url(&self, table: &str) -> String {
        format!("{}/api/now/table/{table}", self.base)
    }

    fn what(&self, call: &str) -> String {
        format!("{NAME} {call}")
    }

    /// A ref from a `result` record.
    fn ticket(&self, r: &Value) -> Option<TicketRef> {
        let id = r["sys_id"].as_str().filter(|s| safe(s, true))?;
        let number = r["number"].as_str().filter(|s| safe(s, false))?;
        Some(TicketRef {
            system: TicketSystem::ServiceNow,
            key: number.to_string(),
            id: id.to_string(),
            url: format!("{}/{}.do?sys_id={id}", self.base, self.table.as_str()),
        })
    }

    fn sys_id(t: &TicketRef) -> Result<&str, DispatchError> {
        if t.system != TicketSystem::ServiceNow || !safe(&t.id, true) {
            return Err(DispatchError::permanent(format!(
                "ticket {} is not a ServiceNow record",
                render::line(&t.key, 40)
            )));
        }
        Ok(&t.id)
    }

    pub(crate) async fn find(&self, fp: &str) -> Result<Option<TicketRef>, DispatchError> {
        let what = self.what("search");
        let req = self.http.get(self.url(self.table.as_str())).query(&[
            (
                "sysparm_query",
                format!("correlation_id={fp}^ORDERBYsys_created_on"),
            ),
            (
                "sysparm_fields",
                "sys_id,number,state,correlation_id".into(),
            ),
            ("sysparm_limit", "1".into()),
            ("sysparm_exclude_reference_link", "true".into()),
        ]);
        let (_, b) = send(req, &self.auth, &what).await.map_err(|f| f.err)?;
        let v = json_body(&what, &b).map_err(|f| f.err)?;
        let list = v["result"].as_array().ok_or_else(|| {
            DispatchError::transient(format!("{what}: response has no result list"))
        })?;
        Ok(list
            .iter()
            .filter(|r| r["correlation_id"].as_str() == Some(fp))
            .find_map(|r| self.ticket(r)))
    }

    pub(crate) async fn create(&self, c: &TicketContent) -> Result<TicketRef, Failure> {
        let what = self.what(&format!("create {}", self.table.as_str()));
        let (urgency, impact) = render::sn_urgency_impact(&c.severity);
        let mut short = render::sn_defuse(&render::line(&c.summary, render::SN_SHORT_MAX));
        if short.is_empty() {
            short = "sitrep alert".into();
        }
        let mut body = json!({
            "short_description": short,
            "description": render::plain_description(c),
            "urgency": urgency,
            "impact": impact,
            "correlation_id": c.fingerprint,
            "correlation_display": "sitrep",
        });
        if self.table == SnTable::ChangeRequest {
            body["type"] = json!("normal");
        }
        if let Some(g) = &self.assignment_group {
            body["assignment_group"] = json!(g);
        }
        let req = self
            .http
            .post(self.url(self.table.as_str()))
            .query(&[
                ("sysparm_fields", "sys_id,number,state,correlation_id"),
                ("sysparm_input_display_value", "true"),
                ("sysparm_exclude_reference_link", "true"),
            ])
            .json(&body);
        let (_, b) = send(req, &self.auth, &what).await?;
        let v = json_body(&what, &b)?;
        self.ticket(&v["result"]).ok_or_else(|| Failure {
            err: DispatchError::transient(format!("{what}: response has no sys_id and number")),
            ambiguous: true,
        })
    }

    pub(crate) async fn comment(
        &self,
        t: &TicketRef,
        text: &str,
        dedup: &str,
    ) -> Result<(), DispatchError> {
        let id = Self::sys_id(t)?;
        let mark = marker(dedup);
        let what = self.what("read work notes");
        let req = self.http.get(self.url("sys_journal_field")).query(&[
            (
                "sysparm_query",
                format!("element_id={id}^element=work_notes^valueLIKE{mark}"),
            ),
            ("sysparm_fields", "value".into()),
            ("sysparm_limit", "1000".into()),
        ]);
        let (_, b) = send(req, &self.auth, &what).await.map_err(|f| f.err)?;
        let v = json_body(&what, &b).map_err(|f| f.err)?;
        let notes = v["result"].as_array().ok_or_else(|| {
            DispatchError::transient(format!("{what}: response has no result list"))
        })?;
        if notes
            .iter()
            .any(|n| n["value"].as_str().is_some_and(|s| s.contains(&mark)))
        {
            return Ok(());
        }
        let req = self
            .http
            .patch(format!("{}/{id}", self.url(self.table.as_str())))
            .query(&[("sysparm_fields", "sys_id")])
            .json(&json!({"work_notes": render::plain_note(text, Some(&mark))}));
        send(req, &self.auth, &self.what("add work note"))
            .await
            .map(|_| ())
            .map_err(|f| f.err)
    }

    pub(crate) async fn status(&self, t: &TicketRef) -> Result<TicketStatus, DispatchError> {
        let id = Self::sys_id(t)?;
        let what = self.what("read status");
        let req = self
            .http
            .get(format!("{}/{id}", self.url(self.table.as_str())))
            .query(&[
                ("sysparm_fields", "state"),
                ("sysparm_display_value", "all"),
            ]);
        let (_, b) = send(req, &self.auth, &what).await.map_err(|f| f.err)?;
        let v = json_body(&what, &b).map_err(|f| f.err)?;
        let st = &v["result"]["state"];
        let code = st["value"]
            .as_str()
            .or(st.as_str())
            .ok_or_else(|| DispatchError::transient(format!("{what}: response has no state")))?;
        let name = st["display_value"]
            .as_str()
            .map(|d| render::line(d, 60))
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| state_name(self.table, code).to_string());
        Ok(TicketStatus {
            name,
            done: state_done(self.table, code),
        })
    }

    pub(crate) async fn resolve(&self, t: &TicketRef, note: &str) -> Result<(), DispatchError> {
        let id = Self::sys_id(t)?;
        if self.status(t).await?.done {
            return Ok(());
        }
        let state = match self.table {
            SnTable::Incident => "6",
            SnTable::ChangeRequest => "3",
        };
        let req = self
            .http
            .patch(format!("{}/{id}", self.url(self.table.as_str())))
            .query(&[("sysparm_fields", "sys_id,state")])
            .json(&json!({
                "state": state,
                "close_code": self.close_code,
                "close_notes": render::plain_note(note, None),
            }));
        send(req, &self.auth, &self.what("resolve"))
            .await
            .map(|_| ())
            .map_err(|f| f.err)
    }
}

//! The devices page (the enrolled fleet: online, group, policy, sessions
//! per device; admins make enrollment tickets and disable, enable or
//! remove a device) and the approvals page (device sessions waiting for
//! a second person; approvers decide). Every change is audited first.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use lifeline_proto::devices::{DevicePolicy, Ticket, anchor_part, key_fingerprint};
use lifeline_relay_core::approvals::Decision;
use serde::Deserialize;

use super::{Authed, C, CsrfForm, failure, html, on_index};
use crate::Console;
use crate::index::Filter;
use crate::pages::{self, ApprovalRow, DeviceRow, IssuedTicket};
use crate::users::Role;

async fn device_rows(c: &Arc<Console>) -> Result<Vec<DeviceRow>, Response> {
    let list = c.devices.devices().map_err(|e| {
        failure(
            None,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Devices unreadable",
            &e.to_string(),
        )
    })?;
    let live: Vec<(bool, Option<String>)> = list
        .iter()
        .map(|d| match &c.relay {
            Some(r) => r.device_presence(&d.name),
            None => (false, None),
        })
        .collect();
    on_index(c, move |_, idx| {
        Ok(list
            .into_iter()
            .zip(live)
            .map(|(d, (online, last_seen))| {
                let filter = Filter {
                    host: d.name.clone(),
                    ..Default::default()
                };
                let entry = d.entry(online, last_seen.clone());
                DeviceRow {
                    sessions: idx.query(&filter, 1).total,
                    key: key_fingerprint(&entry.key),
                    name: d.name,
                    group: d.group,
                    policy: d.policy.as_str().into(),
                    approval: d.approval,
                    online,
                    last_seen,
                    disabled: d.disabled,
                    enrolled: d.enrolled,
                }
            })
            .collect())
    })
    .await
}

async fn devices_page(
    c: &Arc<Console>,
    a: &Authed,
    status: StatusCode,
    issued: Option<&IssuedTicket>,
    error: Option<&str>,
) -> Result<Response, Response> {
    let rows = device_rows(c).await?;
    Ok(html(
        status,
        pages::devices(&a.viewer(), &rows, issued, error),
    ))
}

pub(super) async fn devices(State(c): C, a: Authed) -> Response {
    devices_page(&c, &a, StatusCode::OK, None, None)
        .await
        .unwrap_or_else(|r| r)
}

#[derive(Debug, Deserialize)]
pub(super) struct TicketForm {
    #[serde(default)]
    group: String,
    #[serde(default)]
    policy: String,
    #[serde(default)]
    approval: Option<String>,
    #[serde(default)]
    anchor: String,
    #[serde(default)]
    csrf: String,
}

/// An admin makes an enrollment ticket (shown once).
pub(super) async fn make_ticket(
    State(c): C,
    a: Authed,
    Form(f): Form<TicketForm>,
) -> Result<Response, Response> {
    let (c, a) = (&c, &a);
    let group = f.group.trim().to_owned();
    a.check_csrf(c, &f.csrf, "make an enrollment ticket")
        .await?;
    a.need_admin(c, &format!("make an enrollment ticket for {group}"))
        .await?;
    let Some(policy) = DevicePolicy::from_word(&f.policy) else {
        let e = "the policy is attended or unattended";
        return devices_page(c, a, StatusCode::BAD_REQUEST, None, Some(e)).await;
    };
    let anchor = match anchor_part(&f.anchor) {
        Ok(x) => x.to_owned(),
        Err(e) => {
            return devices_page(c, a, StatusCode::BAD_REQUEST, None, Some(&e.to_string())).await;
        }
    };
    let approval = f.approval.is_some();
    let target = format!(
        "group {group} ({}{})",
        policy.as_str(),
        if approval { ", approval" } else { "" }
    );
    a.action(c, "device_ticket", Some(target.clone())).await?;
    let valid = std::time::Duration::from_secs(24 * 3600);
    let made = c
        .devices
        .make_ticket(&group, (policy, approval), valid, SystemTime::now());
    let (secret, _) = match made {
        Ok(x) => x,
        Err(e) => {
            a.action(c, "failed", Some(format!("device ticket {target}: {e}")))
                .await?;
            return devices_page(c, a, StatusCode::BAD_REQUEST, None, Some(&e.to_string())).await;
        }
    };
    let issued = IssuedTicket {
        group,
        ticket: Ticket { secret, anchor }.to_text(),
    };
    devices_page(c, a, StatusCode::OK, Some(&issued), None).await
}

/// An admin disables, enables or removes a device.
pub(super) async fn change_device(
    State(c): C,
    a: Authed,
    Path((name, what)): Path<(String, String)>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, Response> {
    let (c, a) = (&c, &a);
    let label = format!("{what} device {name}");
    a.check_csrf(c, &f.csrf, &label).await?;
    a.need_admin(c, &label).await?;
    let action = match what.as_str() {
        "disable" => "device_disabled",
        "enable" => "device_enabled",
        "remove" => "device_removed",
        _ => {
            return Err(failure(
                Some(&a.viewer()),
                StatusCode::NOT_FOUND,
                "Not found",
                "There is no such change.",
            ));
        }
    };
    a.action(c, action, Some(name.clone())).await?;
    let done = match what.as_str() {
        "disable" => c.devices.set_disabled(&name, true),
        "enable" => c.devices.set_disabled(&name, false),
        _ => c.devices.remove(&name).map(|r| r.is_some()),
    };
    let error = match done {
        Ok(true) => return Ok(Redirect::to("/devices").into_response()),
        Ok(false) => format!("no device is named {name:?}"),
        Err(e) => e.to_string(),
    };
    a.action(c, "failed", Some(format!("{label}: {error}")))
        .await?;
    devices_page(c, a, StatusCode::BAD_REQUEST, None, Some(&error)).await
}

fn approval_rows(c: &Console) -> Vec<ApprovalRow> {
    let Some(relay) = &c.relay else {
        return Vec::new();
    };
    relay
        .approvals()
        .list()
        .into_iter()
        .map(|r| {
            let left_s = r
                .until
                .duration_since(SystemTime::now())
                .map_or(0, |d| d.as_secs());
            (r, left_s)
        })
        .collect()
}

pub(super) async fn approvals(State(c): C, a: Authed) -> Response {
    html(
        StatusCode::OK,
        pages::approvals(&a.viewer(), &approval_rows(&c), None),
    )
}

/// An approver approves or refuses a waiting device session.
pub(super) async fn decide(
    State(c): C,
    a: Authed,
    Path((session, what)): Path<(String, String)>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, Response> {
    let (c, a) = (&c, &a);
    let approved = match what.as_str() {
        "approve" => true,
        "refuse" => false,
        _ => {
            return Err(failure(
                Some(&a.viewer()),
                StatusCode::NOT_FOUND,
                "Not found",
                "There is no such decision.",
            ));
        }
    };
    let label = format!("{what} device session {session}");
    a.check_csrf(c, &f.csrf, &label).await?;
    if a.session.role != Role::Approver {
        a.action(c, "forbidden", Some(label.clone())).await?;
        return Err(failure(
            Some(&a.viewer()),
            StatusCode::FORBIDDEN,
            "Forbidden",
            "Only an approver may decide device sessions.",
        ));
    }
    let decision = Decision {
        by: a.session.user.clone(),
        approved,
    };
    let decided = match &c.relay {
        Some(r) => r
            .approvals()
            .decide(&session, decision)
            .map_err(|e| e.to_string()),
        None => Err("this console runs without its relay".to_owned()),
    };
    match decided {
        Ok(_) => Ok(Redirect::to("/approvals").into_response()),
        Err(e) => Ok(html(
            StatusCode::CONFLICT,
            pages::approvals(&a.viewer(), &approval_rows(c), Some(&e)),
        )),
    }
}

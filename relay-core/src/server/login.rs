//! `lifeline-viewer login`: a technician signs in with the relay's
//! identity provider ([`crate::signin::SignIn`]) and gets a credential
//! that works for [`crate::signin::SignIn::lifetime`], bound to who the
//! provider said it was. Every outcome is audited (a
//! `technician_login` record) before the viewer hears it; the
//! provider's own words go to the relay's log, not to the viewer. At most
//! [`MAX_SIGN_INS`] run at once (each holds a poll of the provider).

use std::sync::LazyLock;
use std::time::SystemTime;

use lifeline_proto::login::{Credential, LoginRefusal};
use tokio::sync::Semaphore;

use super::*;
use crate::signin::{Person, SignInError};

/// Sign-ins waiting for their person at once, across the process.
pub const MAX_SIGN_INS: usize = 64;
static SIGN_INS: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(MAX_SIGN_INS));

pub(crate) async fn serve_login(relay: &Arc<Relay>, conn: Connection, mut ctl: Control, via: Via) {
    let Some(provider) = relay.config.sign_in.clone() else {
        let refusal = LoginRefusal::Off;
        let why = Refusal::Refused(refusal.to_string());
        return answer_and_close(&conn, &mut ctl, &ViewerEvent::LoginRefused(refusal), why).await;
    };
    let Ok(_turn) = SIGN_INS.try_acquire() else {
        return close(
            &conn,
            &Refusal::Busy("too many sign-ins are under way; try again in a minute".into()),
        );
    };
    let record =
        |person: Option<&Person>, refusal: Option<LoginRefusal>, expires: Option<String>| {
            AuditEvent::TechnicianLogin {
                name: person.map(|p| p.name.clone()),
                issuer: provider.issuer().to_owned(),
                subject: person.map(|p| p.identity.subject.clone()),
                ip: via.ip.to_string(),
                ok: refusal.is_none(),
                reason: refusal.map(|r| r.as_str().to_owned()),
                expires,
            }
        };
    let started = match provider.start().await {
        Ok(s) => s,
        Err(e) => {
            return refused(
                relay,
                (&conn, &mut ctl),
                record(None, Some(e.refusal), None),
                e,
            )
            .await;
        }
    };
    if ctl
        .send(&ViewerEvent::LoginCode(started.code))
        .await
        .is_err()
    {
        return;
    }
    let person = tokio::select! {
        p = started.person => p,
        // The technician gave up (or the viewer died): nothing was issued.
        _ = conn.closed() => return,
        () = relay.shutdown.cancelled() => return close(&conn, &Refusal::Shutdown),
    };
    let person = match person {
        Ok(p) if p.technician => p,
        Ok(p) => {
            let e = SignInError {
                refusal: LoginRefusal::NotTechnician,
                detail: format!(
                    "{} ({}) is not in the technicians' group",
                    p.name, p.identity.subject
                ),
            };
            let r = record(Some(&p), Some(e.refusal), None);
            return refused(relay, (&conn, &mut ctl), r, e).await;
        }
        Err(e) => {
            return refused(
                relay,
                (&conn, &mut ctl),
                record(None, Some(e.refusal), None),
                e,
            )
            .await;
        }
    };
    let lifetime = provider.lifetime();
    let expires = SystemTime::now() + lifetime;
    let expires_text = humantime::format_rfc3339_seconds(expires).to_string();
    if let Err(e) = relay
        .audit
        .append(record(Some(&person), None, Some(expires_text)))
        .await
    {
        return close(&conn, &Refusal::AuditFailed(e.to_string()));
    }
    let store = crate::tokens::TechnicianStore::in_dir(&relay.config.data_dir);
    let (name, identity) = (person.name.clone(), person.identity.clone());
    let issued =
        tokio::task::spawn_blocking(move || store.add_credential(&name, identity, expires)).await;
    let token = match issued {
        Ok(Ok(token)) => token,
        other => {
            let detail = match other {
                Ok(Err(e)) => e.to_string(),
                Err(e) => e.to_string(),
                Ok(Ok(_)) => String::new(),
            };
            let e = SignInError {
                refusal: LoginRefusal::Unavailable,
                detail,
            };
            let r = record(Some(&person), Some(e.refusal), None);
            return refused(relay, (&conn, &mut ctl), r, e).await;
        }
    };
    relay.metrics.technician_login("ok");
    let credential = Credential {
        token,
        name: person.name.clone(),
        expires_in_s: u32::try_from(lifetime.as_secs()).unwrap_or(u32::MAX),
    };
    let why = Refusal::Ended(format!("signed in as {}", person.name));
    answer_and_close(&conn, &mut ctl, &ViewerEvent::LoggedIn(credential), why).await;
}

/// Audits a failed sign-in, logs the provider's detail, and tells the viewer.
async fn refused(
    relay: &Relay,
    (conn, ctl): (&Connection, &mut Control),
    record: AuditEvent,
    e: SignInError,
) {
    tracing::warn!(refusal = e.refusal.as_str(), detail = %e.detail, "a technician's sign-in failed");
    relay
        .metrics
        .technician_login(crate::metrics::sign_in_word(e.refusal));
    if let Err(err) = relay.audit.append(record).await {
        return close(conn, &Refusal::AuditFailed(err.to_string()));
    }
    let why = Refusal::Refused(e.refusal.to_string());
    answer_and_close(conn, ctl, &ViewerEvent::LoginRefused(e.refusal), why).await;
}

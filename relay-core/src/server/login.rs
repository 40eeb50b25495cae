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

/// Sign-ins waiting for their person at once, across the process …
pub const MAX_SIGN_INS: usize = 64;
/// … and from one address (an IPv6 /64 is one): a stranger cannot hold
/// them all.
pub const MAX_SIGN_INS_PER_ADDRESS: usize = 4;
static SIGN_INS: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(MAX_SIGN_INS));
static BY_ADDRESS: LazyLock<Mutex<HashMap<Source, usize>>> = LazyLock::new(Default::default);

/// An address's turn at signing in, given back when dropped.
struct AddressTurn(Source);

impl AddressTurn {
    fn take(ip: IpAddr) -> Option<Self> {
        let source = Source::of(ip);
        let mut all = lock(&BY_ADDRESS);
        let held = all.entry(source).or_default();
        if *held >= MAX_SIGN_INS_PER_ADDRESS {
            return None;
        }
        *held += 1;
        Some(Self(source))
    }
}

impl Drop for AddressTurn {
    fn drop(&mut self) {
        let mut all = lock(&BY_ADDRESS);
        if let Some(held) = all.get_mut(&self.0) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                all.remove(&self.0);
            }
        }
    }
}

pub(crate) async fn serve_login(relay: &Arc<Relay>, conn: Connection, mut ctl: Control, via: Via) {
    let Some(provider) = relay.config.sign_in.clone() else {
        let refusal = LoginRefusal::Off;
        relay
            .metrics
            .technician_login(crate::metrics::sign_in_word(refusal));
        let why = Refusal::Refused(refusal.to_string());
        return answer_and_close(&conn, &mut ctl, &ViewerEvent::LoginRefused(refusal), why).await;
    };
    let turns = (SIGN_INS.try_acquire().ok(), AddressTurn::take(via.ip));
    let (Some(_turn), Some(_here)) = turns else {
        return close(
            &conn,
            &Refusal::Busy("too many sign-ins are under way; try again in a minute".into()),
        );
    };
    let said = Said {
        issuer: provider.issuer(),
        ip: via.ip,
    };
    let started = match provider.start().await {
        Ok(s) => s,
        Err(e) => return refused(relay, (&conn, &mut ctl), said.record(None, &e), e).await,
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
        _ = conn.closed() => {
            // Counted, not audited: anyone can start and drop these.
            relay.metrics.technician_login("abandoned");
            return;
        }
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
            let r = said.record(Some(&p), &e);
            return refused(relay, (&conn, &mut ctl), r, e).await;
        }
        Err(e) => return refused(relay, (&conn, &mut ctl), said.record(None, &e), e).await,
    };
    let credential = match issue(relay, &said, &person, provider.lifetime()).await {
        Ok(c) => c,
        Err(Issue::AuditFailed(why)) => return close(&conn, &Refusal::AuditFailed(why)),
        Err(Issue::NotKept(e)) => {
            let r = said.record(Some(&person), &e);
            return refused(relay, (&conn, &mut ctl), r, e).await;
        }
    };
    relay.metrics.technician_login("ok");
    let why = Refusal::Ended(format!("signed in as {}", person.name));
    answer_and_close(&conn, &mut ctl, &ViewerEvent::LoggedIn(credential), why).await;
}

/// What every `technician_login` record of one sign-in says.
struct Said<'a> {
    issuer: &'a str,
    ip: IpAddr,
}

impl Said<'_> {
    /// The record of a sign-in that failed (`person`: who, once known).
    fn record(&self, person: Option<&Person>, e: &SignInError) -> AuditEvent {
        self.about(person, Err(e.refusal))
    }

    /// The record of `person` (once the provider said who), with the
    /// credential's end, or why none was issued.
    fn about(
        &self,
        person: Option<&Person>,
        outcome: Result<SystemTime, LoginRefusal>,
    ) -> AuditEvent {
        AuditEvent::TechnicianLogin {
            name: person.map(|p| p.name.clone()),
            issuer: self.issuer.to_owned(),
            subject: person.map(|p| p.identity.subject.clone()),
            ip: self.ip.to_string(),
            ok: outcome.is_ok(),
            reason: outcome.err().map(|r| r.as_str().to_owned()),
            expires: outcome
                .ok()
                .map(|end| humantime::format_rfc3339_seconds(end).to_string()),
        }
    }
}

/// Why no credential came of a good sign-in.
enum Issue {
    /// The audit log cannot be written: nothing was issued.
    AuditFailed(String),
    /// The store would not keep it: the name is someone else's (checked
    /// before the record of its issue, and again, under the store's lock,
    /// as it is kept), or the store failed.
    NotKept(SignInError),
}

/// Audits the credential for `person`, then keeps its hash: the secret
/// to hand the viewer, working for `lifetime`.
async fn issue(
    relay: &Relay,
    said: &Said<'_>,
    person: &Person,
    lifetime: std::time::Duration,
) -> Result<Credential, Issue> {
    let store = crate::tokens::TechnicianStore::in_dir(&relay.config.data_dir);
    // Refused before anything is audited as issued (and checked again
    // as it is kept).
    let check = store.clone();
    let (name, identity) = (person.name.clone(), person.identity.clone());
    match tokio::task::spawn_blocking(move || check.name_free_for(&name, &identity)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(Issue::NotKept(not_kept(&e))),
        Err(e) => {
            return Err(Issue::NotKept(SignInError {
                refusal: LoginRefusal::Unavailable,
                detail: e.to_string(),
            }));
        }
    }
    let expires = SystemTime::now() + lifetime;
    if let Err(e) = relay
        .audit
        .append(said.about(Some(person), Ok(expires)))
        .await
    {
        return Err(Issue::AuditFailed(e.to_string()));
    }
    let (name, identity) = (person.name.clone(), person.identity.clone());
    let kept =
        tokio::task::spawn_blocking(move || store.add_credential(&name, identity, expires)).await;
    let detail = match kept {
        Ok(Ok(token)) => {
            return Ok(Credential {
                token,
                name: person.name.clone(),
                expires_in_s: u32::try_from(lifetime.as_secs()).unwrap_or(u32::MAX),
            });
        }
        Ok(Err(e)) => return Err(Issue::NotKept(not_kept(&e))),
        Err(e) => e.to_string(),
    };
    Err(Issue::NotKept(SignInError {
        refusal: LoginRefusal::Unavailable,
        detail,
    }))
}

/// What the technician hears when the store refused a credential.
fn not_kept(e: &TokenError) -> SignInError {
    let refusal = match e {
        TokenError::NameTaken(_) => LoginRefusal::NameTaken,
        _ => LoginRefusal::Unavailable,
    };
    SignInError {
        refusal,
        detail: e.to_string(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_holds_at_most_its_share_of_sign_ins() {
        let ip: IpAddr = "2001:db8:7:7::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8:7:7::beef".parse().unwrap();
        let other: IpAddr = "2001:db8:7:8::1".parse().unwrap();
        let mut held: Vec<_> = (0..MAX_SIGN_INS_PER_ADDRESS)
            .map(|i| AddressTurn::take(if i % 2 == 0 { ip } else { same_64 }).unwrap())
            .collect();
        assert!(AddressTurn::take(ip).is_none(), "one /64 is one address");
        assert!(AddressTurn::take(same_64).is_none());
        let elsewhere = AddressTurn::take(other);
        assert!(elsewhere.is_some(), "another address has its own share");
        held.pop();
        assert!(
            AddressTurn::take(ip).is_some(),
            "a turn given back is free again"
        );
        drop(held);
        drop(elsewhere);
        assert!(!lock(&BY_ADDRESS).contains_key(&Source::of(ip)));
    }
}

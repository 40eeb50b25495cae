//! The identity provider as the relay's engine sees it for technicians
//! ([`lifeline_relay_core::signin::SignIn`]): the device flow of
//! [`super::device`], its failures turned into what the viewer is told,
//! and the technicians' group checked on the verified groups.

use std::sync::Arc;
use std::time::Duration;

use lifeline_proto::login::{Identity, LoginRefusal};
use lifeline_relay_core::signin::{Boxed, Person, SignIn, SignInError, Started};

use super::{Oidc, OidcError};

/// Signs technicians in with `oidc`; credentials work for `lifetime`.
#[derive(Debug)]
pub struct TechnicianSignIn {
    pub oidc: Arc<Oidc>,
    pub lifetime: Duration,
}

/// What the technician is told for a failure, and the detail for the log.
pub fn refusal(e: &OidcError) -> SignInError {
    let refusal = match e {
        OidcError::Unreachable(_) | OidcError::NoDeviceFlow | OidcError::Config(_) => {
            LoginRefusal::ProviderDown
        }
        OidcError::Invalid(_) => LoginRefusal::Invalid,
        OidcError::Denied => LoginRefusal::Denied,
        OidcError::TimedOut => LoginRefusal::TimedOut,
    };
    SignInError {
        refusal,
        detail: e.to_string(),
    }
}

impl SignIn for TechnicianSignIn {
    fn issuer(&self) -> &str {
        self.oidc.issuer()
    }

    fn lifetime(&self) -> Duration {
        self.lifetime
    }

    fn start(&self) -> Boxed<'_, Result<Started, SignInError>> {
        Box::pin(async move {
            let (code, login) = self.oidc.device_start().await.map_err(|e| refusal(&e))?;
            let oidc = self.oidc.clone();
            let person = Box::pin(async move {
                let who = oidc.device_finish(login).await.map_err(|e| refusal(&e))?;
                Ok(Person {
                    technician: oidc.config().groups.technician(&who.groups),
                    identity: Identity {
                        issuer: who.issuer,
                        subject: who.subject,
                    },
                    name: who.name,
                })
            });
            Ok(Started { code, person })
        })
    }
}

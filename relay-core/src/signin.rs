//! What the relay needs from an identity provider to sign a technician
//! in (`lifeline-viewer login`), as a small trait: the engine links no
//! HTTP client, so the provider's side (OpenID Connect's device flow) is
//! the console crate's, handed in with [`crate::RelayConfig::sign_in`].

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use lifeline_proto::login::{Identity, LoginCode, LoginRefusal};

/// A future the engine awaits without knowing what makes it.
pub type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Who the provider said signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub identity: Identity,
    /// The name sessions and the log show (a valid technician name).
    pub name: String,
    /// In the technicians' group at the provider.
    pub technician: bool,
}

/// Why a sign-in failed: what the technician is told, and the detail the
/// relay's own log keeps (never sent to the viewer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInError {
    pub refusal: LoginRefusal,
    pub detail: String,
}

/// A sign-in under way: the code to show, and the wait for the person.
pub struct Started {
    pub code: LoginCode,
    pub person: Boxed<'static, Result<Person, SignInError>>,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started").field("code", &self.code).finish()
    }
}

/// An identity provider the relay signs technicians in with.
pub trait SignIn: Send + Sync + std::fmt::Debug {
    /// The provider's issuer (for the audit log).
    fn issuer(&self) -> &str;
    /// How long a credential works (`serve --oidc-credential-lifetime`).
    fn lifetime(&self) -> Duration;
    /// Starts a device sign-in.
    fn start(&self) -> Boxed<'_, Result<Started, SignInError>>;
}

//! Signing in with the organisation's identity provider (OpenID Connect,
//! `serve --oidc-issuer`), with the `openidconnect` crate: discovery from
//! the issuer, the authorization code flow with PKCE for the console
//! ([`Oidc::begin`], [`Oidc::complete`]), and the device authorization
//! flow the relay runs for `lifeline-viewer login` ([`Oidc::device_start`],
//! [`Oidc::device_finish`]). Every ID token is checked (signature against
//! the provider's published keys, issuer, audience, expiry, and the nonce
//! where the flow has one) before anything in it is read; the name shown
//! is the e-mail address only when the provider says it verified it;
//! groups come from
//! the verified token, else from the user-info endpoint (checked to be
//! about the same subject). The provider's discovery document is kept
//! [`REDISCOVER`] and fetched again after it (its keys rotate) or after
//! a failure; a provider that is down fails sign-ins, nothing else.

pub mod claims;
pub mod device;
pub mod pending;
pub mod technicians;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient,
    CoreClientAuthMethod, CoreGenderClaim, CoreGrantType, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreResponseMode,
    CoreResponseType, CoreSubjectIdentifierType, CoreTokenResponse,
};
use openidconnect::{
    AdditionalClaims, AdditionalProviderMetadata, AuthorizationCode, ClientId, ClientSecret,
    CsrfToken, DeviceAuthorizationUrl, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, ProviderMetadata, RedirectUrl,
    Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};

pub use claims::{Groups, SignedIn};
pub use pending::PendingLogins;

/// How long a discovery document (and the keys it points to) is used
/// before it is fetched again.
pub const REDISCOVER: Duration = Duration::from_secs(600);
/// How long one request to the provider may take.
pub const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

/// What `serve --oidc-*` configures.
#[derive(Clone)]
pub struct OidcConfig {
    /// The issuer URL (its `/.well-known/openid-configuration` is read).
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// The claim holding the groups (`groups`).
    pub role_claim: String,
    /// Scopes asked for beside `openid`, `email` and `profile` (some
    /// providers release the groups only for a scope of their own).
    pub scopes: Vec<String>,
    pub groups: Groups,
}

impl std::fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"(hidden)")
            .field("role_claim", &self.role_claim)
            .field("scopes", &self.scopes)
            .field("groups", &self.groups)
            .finish()
    }
}

/// Whether `issuer` may be used: an https URL, or plain http to this
/// machine's loopback (a provider on the same machine, as the tests run
/// one); never with a user name or password in it.
pub fn issuer_allowed(issuer: &str) -> bool {
    let Ok(url) = openidconnect::url::Url::parse(issuer) else {
        return false;
    };
    if !url.username().is_empty() || url.password().is_some() {
        return false;
    }
    match (url.scheme(), url.host()) {
        ("https", Some(_)) => true,
        ("http", Some(openidconnect::url::Host::Ipv4(ip))) => ip.is_loopback(),
        ("http", Some(openidconnect::url::Host::Ipv6(ip))) => ip.is_loopback(),
        ("http", Some(openidconnect::url::Host::Domain(d))) => d == "localhost",
        _ => false,
    }
}

/// The scopes a sign-in asks for beside `openid`.
fn scopes(config: &OidcConfig) -> Vec<Scope> {
    let mut all = vec!["email".to_owned(), "profile".to_owned()];
    for s in &config.scopes {
        if !all.contains(s) && s != "openid" {
            all.push(s.clone());
        }
    }
    all.into_iter().map(Scope::new).collect()
}

/// Why a sign-in failed.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider could not be reached, or its answer was not OpenID
    /// Connect (discovery, token or user-info request).
    #[error("the identity provider could not be reached or answered nonsense: {0}")]
    Unreachable(String),
    /// An ID token (or user-info answer) failed verification.
    #[error("the identity provider's token failed verification: {0}")]
    Invalid(String),
    /// The person refused at the provider.
    #[error("the sign-in was refused at the identity provider")]
    Denied,
    /// The device code expired before anyone entered it.
    #[error("nobody entered the code in time")]
    TimedOut,
    /// The provider offers no device authorization endpoint.
    #[error("the identity provider offers no device sign-in (no device_authorization_endpoint)")]
    NoDeviceFlow,
    /// The configuration cannot work (a bad URL).
    #[error("the identity provider settings are wrong: {0}")]
    Config(String),
}

/// The discovery document with the device endpoint, where the provider has one.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct DeviceEndpoint {
    #[serde(default)]
    device_authorization_endpoint: Option<DeviceAuthorizationUrl>,
}
impl AdditionalProviderMetadata for DeviceEndpoint {}

type Metadata = ProviderMetadata<
    DeviceEndpoint,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// A client made from the discovery document.
type Discovered = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Every claim of a user-info answer, for the role claim.
#[derive(Clone, Debug, Deserialize, Serialize)]
struct AllClaims(HashMap<String, serde_json::Value>);
impl AdditionalClaims for AllClaims {}

/// A console sign-in between the redirect to the provider and its return.
#[derive(Debug)]
pub struct Pending {
    /// The `state` the provider hands back (compared at the return).
    pub state: String,
    nonce: Nonce,
    verifier: PkceCodeVerifier,
    redirect: RedirectUrl,
}

impl Pending {
    /// A sign-in with made-up secrets, for tests of what keeps them.
    #[cfg(test)]
    pub(crate) fn for_test(state: &str) -> Self {
        Self {
            state: state.to_owned(),
            nonce: Nonce::new("n".into()),
            verifier: PkceCodeVerifier::new("v".repeat(43)),
            redirect: RedirectUrl::new("https://console.test/login/oidc/callback".into())
                .expect("a valid URL"),
        }
    }
}

/// The relay's client of the organisation's identity provider.
#[derive(Debug)]
pub struct Oidc {
    config: OidcConfig,
    http: openidconnect::reqwest::Client,
    discovered: tokio::sync::Mutex<Option<(Instant, Arc<Metadata>)>>,
}

impl Oidc {
    /// A client for `config`; nothing is fetched until the first sign-in.
    pub fn new(config: OidcConfig) -> Result<Arc<Self>, OidcError> {
        IssuerUrl::new(config.issuer.clone()).map_err(|e| OidcError::Config(e.to_string()))?;
        let http = openidconnect::reqwest::ClientBuilder::new()
            // Following redirects would let the provider's answers send
            // the relay anywhere.
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(PROVIDER_TIMEOUT)
            .build()
            .map_err(|e| OidcError::Config(e.to_string()))?;
        Ok(Arc::new(Self {
            config,
            http,
            discovered: tokio::sync::Mutex::new(None),
        }))
    }

    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// The issuer, as configured.
    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    /// The discovery document, fetched when missing or older than
    /// [`REDISCOVER`].
    async fn metadata(&self) -> Result<Arc<Metadata>, OidcError> {
        let mut cached = self.discovered.lock().await;
        if let Some((at, meta)) = cached.as_ref()
            && at.elapsed() < REDISCOVER
        {
            return Ok(meta.clone());
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|e| OidcError::Config(e.to_string()))?;
        let meta = Metadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| OidcError::Unreachable(chain(&e)))?;
        let meta = Arc::new(meta);
        *cached = Some((Instant::now(), meta.clone()));
        Ok(meta)
    }

    /// Forgets the discovery document (after a token that failed on its
    /// keys: the provider may have rotated them).
    async fn forget(&self) {
        *self.discovered.lock().await = None;
    }

    fn client(&self, meta: &Metadata) -> Discovered {
        CoreClient::from_provider_metadata(
            meta.clone(),
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
    }

    /// Starts a console sign-in returning to `redirect`: the provider's
    /// URL to send the browser to, and what to keep until it comes back.
    pub async fn begin(&self, redirect: &str) -> Result<(String, Pending), OidcError> {
        let meta = self.metadata().await?;
        let redirect =
            RedirectUrl::new(redirect.to_owned()).map_err(|e| OidcError::Config(e.to_string()))?;
        let client = self.client(&meta).set_redirect_uri(redirect.clone());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scopes(scopes(&self.config))
            .set_pkce_challenge(challenge)
            .url();
        let pending = Pending {
            state: state.secret().clone(),
            nonce,
            verifier,
            redirect,
        };
        Ok((url.to_string(), pending))
    }

    /// Finishes a console sign-in: trades `code` (with the PKCE verifier)
    /// for tokens and verifies the ID token against `pending`'s nonce.
    pub async fn complete(&self, code: &str, pending: Pending) -> Result<SignedIn, OidcError> {
        let meta = self.metadata().await?;
        let client = self.client(&meta).set_redirect_uri(pending.redirect);
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| OidcError::Config(e.to_string()))?
            .set_pkce_verifier(pending.verifier)
            .request_async(&self.http)
            .await
            .map_err(|e| token_error(&e))?;
        let nonce = pending.nonce;
        self.identity(&client, &tokens, &nonce).await
    }

    /// Who `tokens` say signed in: the ID token verified (with `nonce`),
    /// then its claims, with the groups from user-info when the token
    /// carries none.
    async fn identity(
        &self,
        client: &Discovered,
        tokens: &CoreTokenResponse,
        nonce: impl openidconnect::NonceVerifier,
    ) -> Result<SignedIn, OidcError> {
        let id_token = tokens
            .id_token()
            .ok_or_else(|| OidcError::Invalid("no ID token in the provider's answer".into()))?;
        let verifier = client.id_token_verifier();
        let verified = match id_token.claims(&verifier, nonce) {
            Ok(c) => c,
            Err(e) => {
                // A key the cached document does not have: fetch it anew
                // next time (the token is refused either way).
                self.forget().await;
                return Err(OidcError::Invalid(chain(&e)));
            }
        };
        same_access_token(id_token, &verifier, verified.access_token_hash(), tokens)?;
        let subject = verified.subject().to_string();
        let issuer = verified.issuer().to_string();
        let raw = claims::jwt_payload(&id_token.to_string()).unwrap_or_default();
        let mut found = Found {
            groups: claims::claim_values(&raw, &self.config.role_claim),
            // An address the provider has not verified names nobody.
            email: verified
                .email()
                .filter(|_| verified.email_verified() == Some(true))
                .map(|e| e.to_string()),
            username: verified.preferred_username().map(|u| u.to_string()),
        };
        if found.groups.is_empty() || found.email.is_none() {
            self.fill_from_user_info(client, tokens, verified.subject(), &mut found)
                .await?;
        }
        Ok(SignedIn {
            name: claims::shown_name(found.email.as_deref(), found.username.as_deref(), &subject),
            issuer,
            subject,
            groups: found.groups,
        })
    }

    /// Fills in what the ID token left out from the user-info endpoint
    /// (its answer must be about `subject`), where the provider has one.
    async fn fill_from_user_info(
        &self,
        client: &Discovered,
        tokens: &CoreTokenResponse,
        subject: &openidconnect::SubjectIdentifier,
        found: &mut Found,
    ) -> Result<(), OidcError> {
        let Ok(request) = client.user_info(tokens.access_token().clone(), Some(subject.clone()))
        else {
            return Ok(());
        };
        let info: openidconnect::UserInfoClaims<AllClaims, CoreGenderClaim> = request
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                openidconnect::UserInfoError::Request(_) => OidcError::Unreachable(chain(&e)),
                _ => OidcError::Invalid(chain(&e)),
            })?;
        if found.groups.is_empty() {
            found.groups =
                claims::claim_values(&info.additional_claims().0, &self.config.role_claim);
        }
        if found.email.is_none() {
            found.email = info
                .email()
                .filter(|_| info.email_verified() == Some(true))
                .map(|e| e.to_string());
        }
        if found.username.is_none() {
            found.username = info.preferred_username().map(|u| u.to_string());
        }
        Ok(())
    }
}

/// What a sign-in's claims said, from the ID token and then user-info.
#[derive(Debug)]
struct Found {
    groups: Vec<String>,
    email: Option<String>,
    username: Option<String>,
}

/// The ID token must belong to the answer's access token when it names
/// one (`at_hash`): an ID token lifted from another answer does not.
fn same_access_token(
    id_token: &openidconnect::core::CoreIdToken,
    verifier: &openidconnect::core::CoreIdTokenVerifier<'_>,
    expected: Option<&openidconnect::AccessTokenHash>,
    tokens: &CoreTokenResponse,
) -> Result<(), OidcError> {
    let Some(expected) = expected else {
        return Ok(());
    };
    let invalid = |e: &dyn std::error::Error| OidcError::Invalid(chain(e));
    let alg = id_token.signing_alg().map_err(|e| invalid(&e))?;
    let key = id_token.signing_key(verifier).map_err(|e| invalid(&e))?;
    let actual = openidconnect::AccessTokenHash::from_token(tokens.access_token(), alg, key)
        .map_err(|e| invalid(&e))?;
    if actual != *expected {
        return Err(OidcError::Invalid(
            "the ID token belongs to another access token".into(),
        ));
    }
    Ok(())
}

/// An error and its causes on one line (for the relay's log).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

/// A failed token request: refused by the provider (a bad or reused
/// code) is a verification failure; anything else is the provider's.
fn token_error<RE: std::error::Error + 'static, T: openidconnect::ErrorResponse + 'static>(
    e: &openidconnect::RequestTokenError<RE, T>,
) -> OidcError {
    match e {
        openidconnect::RequestTokenError::ServerResponse(r) => OidcError::Invalid(r.to_string()),
        other => OidcError::Unreachable(chain(other)),
    }
}

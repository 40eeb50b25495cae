//! The device authorization flow (RFC 8628) the relay runs for
//! `lifeline-viewer login`: the provider gives a code for the technician
//! to enter at its page, and the relay polls its token endpoint (at the
//! interval the provider asks) until they have signed in, refused, or
//! the code expired. The ID token is verified like the console's; it
//! must carry no nonce (none was sent: one there came from another flow)
//! and, when it has an access-token hash, match this answer's token.

use std::sync::Arc;

use lifeline_proto::login::LoginCode;
use openidconnect::core::CoreDeviceAuthorizationResponse;
use openidconnect::{DeviceCodeErrorResponseType, Nonce};

use super::{Metadata, Oidc, OidcError, SignedIn, chain, token_error};

/// A device sign-in waiting for the technician.
#[derive(Debug)]
pub struct DeviceLogin {
    details: CoreDeviceAuthorizationResponse,
    meta: Arc<Metadata>,
}

impl Oidc {
    /// Asks the provider for a device code: what the technician is shown,
    /// and what [`Oidc::device_finish`] polls with.
    pub async fn device_start(&self) -> Result<(LoginCode, DeviceLogin), OidcError> {
        let meta = self.metadata().await?;
        let url = meta
            .additional_metadata()
            .device_authorization_endpoint
            .clone()
            .ok_or(OidcError::NoDeviceFlow)?;
        let details: CoreDeviceAuthorizationResponse = self
            .client(&meta)
            .set_device_authorization_url(url)
            .exchange_device_code()
            .add_scopes(super::scopes(&self.config))
            .request_async(&self.http)
            .await
            .map_err(|e| token_error(&e))?;
        let code = LoginCode {
            uri: details.verification_uri().to_string(),
            uri_complete: details
                .verification_uri_complete()
                .map(|u| u.secret().clone()),
            user_code: details.user_code().secret().clone(),
            expires_in_s: u32::try_from(details.expires_in().as_secs()).unwrap_or(u32::MAX),
        };
        Ok((code, DeviceLogin { details, meta }))
    }

    /// Polls until the technician has signed in (who, verified), refused,
    /// or the code expired.
    pub async fn device_finish(&self, login: DeviceLogin) -> Result<SignedIn, OidcError> {
        let client = self.client(&login.meta);
        let url = login
            .meta
            .additional_metadata()
            .device_authorization_endpoint
            .clone()
            .ok_or(OidcError::NoDeviceFlow)?;
        let polling = client.clone().set_device_authorization_url(url);
        let tokens = polling
            .exchange_device_access_token(&login.details)
            .map_err(|e| OidcError::Config(e.to_string()))?
            .request_async(&self.http, tokio::time::sleep, None)
            .await
            .map_err(|e| match &e {
                openidconnect::RequestTokenError::ServerResponse(r) => match r.error() {
                    DeviceCodeErrorResponseType::AccessDenied => OidcError::Denied,
                    DeviceCodeErrorResponseType::ExpiredToken => OidcError::TimedOut,
                    _ => OidcError::Invalid(r.to_string()),
                },
                other => OidcError::Unreachable(chain(other)),
            })?;
        let no_nonce = |n: Option<&Nonce>| match n {
            None => Ok(()),
            Some(_) => Err("a nonce in a device sign-in's ID token (none was sent)".to_owned()),
        };
        self.identity(&client, &tokens, no_nonce).await
    }
}

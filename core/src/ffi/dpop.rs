//! The DPoP key the platform holds (Secure Enclave, StrongBox/TEE) and the headers of the app's
//! own API calls, across the FFI.

use std::sync::Arc;

use super::error::StorageFailure;
use super::records::HttpHeader;
use crate::error::StorageError;
use crate::oidc::dpop::DpopKey;

/// A P-256 key the platform keeps and signs with, for DPoP (RFC 9449). Keyfob builds each
/// proof and hands its signing input to `sign`; the private key never crosses the FFI.
///
/// The Swift layer implements it on the Secure Enclave (`SecKey` with
/// `kSecAttrTokenIDSecureEnclave`), the Kotlin layer on an Android Keystore EC key (StrongBox
/// when the device has it). Report a key that is gone (deleted, invalidated) as
/// `KeyInvalidated`: a session bound to it must be signed in again. When there is no key yet,
/// `public_key` makes one.
#[uniffi::export(foreign)]
pub trait KeyfobDpopKey: Send + Sync {
    /// The public key: the uncompressed P-256 point (65 bytes, `0x04 ‖ x ‖ y`) or its DER
    /// SubjectPublicKeyInfo (91 bytes).
    fn public_key(&self) -> Result<Vec<u8>, StorageFailure>;
    /// An ES256 signature of `message` (ECDSA P-256 over its SHA-256 digest): raw `r ‖ s`
    /// (64 bytes) or DER.
    fn sign(&self, message: Vec<u8>) -> Result<Vec<u8>, StorageFailure>;
}

/// A foreign key holder as the core's [`DpopKey`].
pub(crate) struct ForeignDpopKey(pub Arc<dyn KeyfobDpopKey>);

impl DpopKey for ForeignDpopKey {
    fn public_key(&self) -> Result<Vec<u8>, StorageError> {
        self.0.public_key().map_err(Into::into)
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, StorageError> {
        self.0.sign(message.to_vec()).map_err(Into::into)
    }
}

/// The core's headers as FFI records.
pub(crate) fn headers(headers: &crate::client::AuthorizationHeaders) -> Vec<HttpHeader> {
    headers
        .pairs()
        .into_iter()
        .map(|(name, value)| HttpHeader {
            name: name.to_string(),
            value: value.to_string(),
        })
        .collect()
}

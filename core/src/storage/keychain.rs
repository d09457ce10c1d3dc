//! The session store on Apple platforms: the Keychain.
//!
//! Each storage key (`session`, `pending`) is one generic-password item:
//!
//! - service `keyfob:{issuer}#{client_id}`: one per provider and app, so two providers, or two
//!   apps sharing an access group, never read each other's session (an issuer has no fragment,
//!   so the first `#` separates the two unambiguously);
//! - account: the storage key;
//! - accessible after the first unlock, this device only
//!   (`kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly`): a background refresh works while the
//!   device is locked, and the tokens are neither in backups nor migrated to another device;
//! - optionally in a shared access group (app extensions) and protected by user presence
//!   (Face ID / Touch ID / passcode), which makes it readable only while the device is unlocked
//!   (`kSecAttrAccessibleWhenUnlockedThisDeviceOnly`) and may prompt at every read and write.
//!
//! A write updates the existing item in place (`SecItemUpdate`) and adds it only when missing,
//! so a session is never absent between two writes. Keychain status codes map onto
//! [`StorageErrorKind`]: "not found" is "nothing stored" (`Ok(None)`), a locked device or a
//! dismissed prompt is `Unavailable` (the session is not gone), an undecodable item is `Corrupt`.
//!
//! Everything above is decided in portable code and tested on every platform. Only the few
//! calls into `security-framework` are Apple-only; they follow its documented API
//! (`passwords::generic_password`, `passwords::set_generic_password_options`,
//! `passwords::delete_generic_password_options`, `item::update_item`) and can only be compiled
//! with an Apple target (scripts/build-ios.sh).

// Elsewhere the portable parts are used by the tests only.
#![cfg_attr(not(target_vendor = "apple"), allow(dead_code))]

use crate::storage::{SecureStorage, StorageError, StorageErrorKind};

/// How the session's Keychain items are shared and protected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeychainOptions {
    /// A Keychain access group shared with app extensions, e.g.
    /// `ABCDE12345.com.example.shared` (the app must have the entitlement). `None`: the app's
    /// default group.
    pub access_group: Option<String>,
    /// Require the user's presence (biometry or passcode) to read or write the session. Off by
    /// default: it rules out refreshing in the background and may prompt at every refresh.
    pub require_user_presence: bool,
}

/// When the items can be read (`kSecAttrAccessible…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Accessibility {
    /// `kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly`: from the first unlock after a
    /// restart, also while locked; never in backups. The default.
    AfterFirstUnlockThisDeviceOnly,
    /// `kSecAttrAccessibleWhenUnlockedThisDeviceOnly`: only while unlocked; never in backups.
    /// Used with user presence.
    WhenUnlockedThisDeviceOnly,
}

/// Every attribute of one Keychain item, decided in one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ItemAttributes {
    /// `kSecAttrService`.
    pub service: String,
    /// `kSecAttrAccount`: the storage key.
    pub account: String,
    /// `kSecAttrAccessGroup`, if any.
    pub access_group: Option<String>,
    /// The protection class, set through `kSecAttrAccessControl` when the item is added.
    pub accessibility: Accessibility,
    /// Whether the access control also requires user presence.
    pub user_presence: bool,
}

/// A [`SecureStorage`] in the Keychain, for one issuer and client id. Create it with
/// [`KeychainStorage::new`]; it exists on every platform but works on Apple platforms only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeychainStorage {
    service: String,
    options: KeychainOptions,
}

impl KeychainStorage {
    /// The Keychain store for `issuer` and `client_id`. Fails with
    /// [`StorageErrorKind::Failed`] on platforms that have no Keychain.
    pub fn new(
        issuer: &str,
        client_id: &str,
        options: KeychainOptions,
    ) -> Result<Self, StorageError> {
        if !cfg!(target_vendor = "apple") {
            return Err(StorageError::new(
                StorageErrorKind::Failed,
                "the Keychain exists only on Apple platforms",
            ));
        }
        Ok(Self::for_any_platform(issuer, client_id, options))
    }

    /// The store's description, on any platform (what `new` builds on Apple platforms).
    fn for_any_platform(issuer: &str, client_id: &str, options: KeychainOptions) -> Self {
        KeychainStorage {
            service: service_name(issuer, client_id),
            options,
        }
    }

    /// The `kSecAttrService` of this store's items.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The attributes of the item holding `key`.
    pub(crate) fn item(&self, key: &str) -> Result<ItemAttributes, StorageError> {
        crate::storage::check_key(key)?;
        let user_presence = self.options.require_user_presence;
        Ok(ItemAttributes {
            service: self.service.clone(),
            account: key.to_string(),
            access_group: self.options.access_group.clone(),
            accessibility: if user_presence {
                Accessibility::WhenUnlockedThisDeviceOnly
            } else {
                Accessibility::AfterFirstUnlockThisDeviceOnly
            },
            user_presence,
        })
    }
}

/// `keyfob:{issuer}#{client_id}`. Unambiguous: a valid issuer has no fragment, hence no `#`.
pub(crate) fn service_name(issuer: &str, client_id: &str) -> String {
    format!("keyfob:{issuer}#{client_id}")
}

/// The Security framework status codes Keyfob tells apart (`SecBase.h`, `MacErrors.h`).
pub(crate) mod status {
    /// `errSecItemNotFound`.
    pub const ITEM_NOT_FOUND: i32 = -25300;
    /// `errSecDuplicateItem`.
    pub const DUPLICATE_ITEM: i32 = -25299;
    /// `errSecInteractionNotAllowed`: locked device, or a prompt needed while in background.
    pub const INTERACTION_NOT_ALLOWED: i32 = -25308;
    /// `errSecNotAvailable`: no Keychain available.
    pub const NOT_AVAILABLE: i32 = -25291;
    /// `errSecUserCanceled`: the user dismissed the authentication prompt.
    pub const USER_CANCELED: i32 = -128;
    /// `errSecAuthFailed`: the user could not be authenticated.
    pub const AUTH_FAILED: i32 = -25293;
    /// `errSecDecode`: the item cannot be decoded.
    pub const DECODE: i32 = -26275;
    /// `errSecMissingEntitlement`: the access group is not in the app's entitlements.
    pub const MISSING_ENTITLEMENT: i32 = -34018;
}

/// The storage error for a failed Keychain call (`operation` names it; never the data).
pub(crate) fn storage_error(operation: &str, code: i32) -> StorageError {
    let (kind, what) = match code {
        status::INTERACTION_NOT_ALLOWED => (
            StorageErrorKind::Unavailable,
            "the Keychain is locked (device locked, or a prompt is needed while in background)",
        ),
        status::NOT_AVAILABLE => (StorageErrorKind::Unavailable, "no Keychain is available"),
        status::USER_CANCELED => (
            StorageErrorKind::Unavailable,
            "the user dismissed the authentication prompt",
        ),
        status::AUTH_FAILED => (
            StorageErrorKind::Unavailable,
            "the user could not be authenticated",
        ),
        status::DECODE => (StorageErrorKind::Corrupt, "the item cannot be decoded"),
        status::MISSING_ENTITLEMENT => (
            StorageErrorKind::Failed,
            "the access group is not in the app's keychain-access-groups entitlement",
        ),
        _ => (StorageErrorKind::Failed, "the Keychain call failed"),
    };
    StorageError::new(
        kind,
        format!("Keychain {operation}: {what} (OSStatus {code})"),
    )
}

/// The outcome of reading an item: "not found" is "nothing stored".
pub(crate) fn load_outcome(read: Result<Vec<u8>, i32>) -> Result<Option<Vec<u8>>, StorageError> {
    match read {
        Ok(bytes) => Ok(Some(bytes)),
        Err(status::ITEM_NOT_FOUND) => Ok(None),
        Err(code) => Err(storage_error("read", code)),
    }
}

/// The outcome of deleting an item: deleting a missing item succeeds.
pub(crate) fn delete_outcome(deleted: Result<(), i32>) -> Result<(), StorageError> {
    match deleted {
        Ok(()) | Err(status::ITEM_NOT_FOUND) => Ok(()),
        Err(code) => Err(storage_error("delete", code)),
    }
}

/// Writes an item: updates it in place, adds it when missing, and updates again if another
/// process added it in between. Each step is atomic in the Keychain, so a reader sees the old
/// value or the new one, never none.
pub(crate) fn save_with(
    mut update: impl FnMut() -> Result<(), i32>,
    add: impl FnOnce() -> Result<(), i32>,
) -> Result<(), StorageError> {
    let result = match update() {
        Err(status::ITEM_NOT_FOUND) => match add() {
            Err(status::DUPLICATE_ITEM) => update(),
            added => added,
        },
        updated => updated,
    };
    result.map_err(|code| storage_error("write", code))
}

#[cfg(target_vendor = "apple")]
impl SecureStorage for KeychainStorage {
    fn load(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let item = self.item(key)?;
        load_outcome(apple::read(&item))
    }

    fn save(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        let item = self.item(key)?;
        save_with(|| apple::update(&item, value), || apple::add(&item, value))
    }

    fn delete(&self, key: &str) -> Result<(), StorageError> {
        let item = self.item(key)?;
        delete_outcome(apple::delete(&item))
    }
}

#[cfg(not(target_vendor = "apple"))]
impl SecureStorage for KeychainStorage {
    // Unreachable in practice: `KeychainStorage::new` fails on these platforms.
    fn load(&self, _key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Err(no_keychain())
    }

    fn save(&self, _key: &str, _value: &[u8]) -> Result<(), StorageError> {
        Err(no_keychain())
    }

    fn delete(&self, _key: &str) -> Result<(), StorageError> {
        Err(no_keychain())
    }
}

#[cfg(not(target_vendor = "apple"))]
fn no_keychain() -> StorageError {
    StorageError::new(
        StorageErrorKind::Failed,
        "the Keychain exists only on Apple platforms",
    )
}

/// The calls into Security.framework, through `security-framework`. Statuses come back as
/// `OSStatus` codes for the portable code above to interpret.
#[cfg(target_vendor = "apple")]
mod apple {
    use core_foundation::data::CFData;
    use security_framework::access_control::{ProtectionMode, SecAccessControl};
    use security_framework::item::{
        ItemClass, ItemSearchOptions, ItemUpdateOptions, ItemUpdateValue, update_item,
    };
    use security_framework::passwords::{
        AccessControlOptions, PasswordOptions, delete_generic_password_options, generic_password,
        set_generic_password_options,
    };

    use super::{Accessibility, ItemAttributes};

    /// The item's identity (class, service, account, access group): what every query matches.
    fn identity(item: &ItemAttributes) -> PasswordOptions {
        let mut options = PasswordOptions::new_generic_password(&item.service, &item.account);
        if let Some(group) = &item.access_group {
            options.set_access_group(group);
        }
        options
    }

    pub(super) fn read(item: &ItemAttributes) -> Result<Vec<u8>, i32> {
        generic_password(identity(item)).map_err(|e| e.code())
    }

    pub(super) fn update(item: &ItemAttributes, value: &[u8]) -> Result<(), i32> {
        let mut search = ItemSearchOptions::new();
        search
            .class(ItemClass::generic_password())
            .service(&item.service)
            .account(&item.account);
        if let Some(group) = &item.access_group {
            search.access_group(group);
        }
        let mut update = ItemUpdateOptions::new();
        update.set_value(ItemUpdateValue::Data(CFData::from_buffer(value)));
        update_item(&search, &update).map_err(|e| e.code())
    }

    /// Adds the item with its protection class (and user presence) as its access control.
    /// `set_generic_password_options` adds; it only updates if the item appeared meanwhile.
    pub(super) fn add(item: &ItemAttributes, value: &[u8]) -> Result<(), i32> {
        let protection = match item.accessibility {
            Accessibility::AfterFirstUnlockThisDeviceOnly => {
                ProtectionMode::AccessibleAfterFirstUnlockThisDeviceOnly
            }
            Accessibility::WhenUnlockedThisDeviceOnly => {
                ProtectionMode::AccessibleWhenUnlockedThisDeviceOnly
            }
        };
        let flags = if item.user_presence {
            AccessControlOptions::USER_PRESENCE
        } else {
            AccessControlOptions::empty()
        };
        let access = SecAccessControl::create_with_protection(Some(protection), flags.bits())
            .map_err(|e| e.code())?;
        let mut options = identity(item);
        options.set_access_control(access);
        set_generic_password_options(value, options).map_err(|e| e.code())
    }

    pub(super) fn delete(item: &ItemAttributes) -> Result<(), i32> {
        delete_generic_password_options(identity(item)).map_err(|e| e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(options: KeychainOptions) -> KeychainStorage {
        KeychainStorage::for_any_platform("https://auth.company.com", "my-app", options)
    }

    #[test]
    fn one_service_per_issuer_and_client() {
        assert_eq!(
            service_name("https://auth.company.com", "my-app"),
            "keyfob:https://auth.company.com#my-app"
        );
        assert_ne!(
            service_name("https://auth.company.com/a", "b"),
            service_name("https://auth.company.com", "a/b"),
            "a path segment cannot move between issuer and client id"
        );
        assert_ne!(
            service_name("https://auth.company.com", "app"),
            service_name("https://auth.company.com", "app2")
        );
        assert_eq!(
            store(KeychainOptions::default()).service(),
            "keyfob:https://auth.company.com#my-app"
        );
    }

    #[test]
    fn default_items_are_readable_after_first_unlock_on_this_device_only() {
        let item = store(KeychainOptions::default()).item("session").unwrap();
        assert_eq!(
            item,
            ItemAttributes {
                service: "keyfob:https://auth.company.com#my-app".into(),
                account: "session".into(),
                access_group: None,
                accessibility: Accessibility::AfterFirstUnlockThisDeviceOnly,
                user_presence: false,
            }
        );
    }

    #[test]
    fn access_group_and_user_presence_are_applied() {
        let item = store(KeychainOptions {
            access_group: Some("ABCDE12345.com.example.shared".into()),
            require_user_presence: true,
        })
        .item("pending")
        .unwrap();
        assert_eq!(item.account, "pending");
        assert_eq!(
            item.access_group.as_deref(),
            Some("ABCDE12345.com.example.shared")
        );
        assert!(item.user_presence);
        assert_eq!(
            item.accessibility,
            Accessibility::WhenUnlockedThisDeviceOnly
        );
    }

    #[test]
    fn odd_keys_are_refused() {
        let store = store(KeychainOptions::default());
        for key in ["", "a b", "../x", &"k".repeat(65)] {
            assert_eq!(
                store.item(key).unwrap_err().kind,
                StorageErrorKind::Failed,
                "{key:?}"
            );
        }
    }

    #[test]
    fn statuses_map_onto_storage_error_kinds() {
        use StorageErrorKind::*;
        for (code, kind) in [
            (status::INTERACTION_NOT_ALLOWED, Unavailable),
            (status::NOT_AVAILABLE, Unavailable),
            (status::USER_CANCELED, Unavailable),
            (status::AUTH_FAILED, Unavailable),
            (status::DECODE, Corrupt),
            (status::MISSING_ENTITLEMENT, Failed),
            (status::DUPLICATE_ITEM, Failed),
            (-50, Failed),
        ] {
            let error = storage_error("read", code);
            assert_eq!(error.kind, kind, "OSStatus {code}");
            assert!(
                error.message.contains(&code.to_string()),
                "{}",
                error.message
            );
        }
    }

    #[test]
    fn missing_item_is_nothing_stored() {
        assert_eq!(load_outcome(Err(status::ITEM_NOT_FOUND)), Ok(None));
        assert_eq!(load_outcome(Ok(b"x".to_vec())), Ok(Some(b"x".to_vec())));
        assert_eq!(
            load_outcome(Err(status::INTERACTION_NOT_ALLOWED))
                .unwrap_err()
                .kind,
            StorageErrorKind::Unavailable,
            "a locked device is not a signed-out user"
        );
        assert_eq!(delete_outcome(Err(status::ITEM_NOT_FOUND)), Ok(()));
        assert_eq!(
            delete_outcome(Err(status::INTERACTION_NOT_ALLOWED))
                .unwrap_err()
                .kind,
            StorageErrorKind::Unavailable
        );
    }

    #[test]
    fn save_updates_in_place_and_adds_only_when_missing() {
        use std::cell::RefCell;
        let calls = RefCell::new(Vec::new());
        let run = |update_results: Vec<Result<(), i32>>, add_result: Result<(), i32>| {
            calls.borrow_mut().clear();
            let mut updates = update_results.into_iter();
            let result = save_with(
                || {
                    calls.borrow_mut().push("update");
                    updates.next().expect("no more updates expected")
                },
                || {
                    calls.borrow_mut().push("add");
                    add_result
                },
            );
            (result, calls.borrow().clone())
        };

        assert_eq!(run(vec![Ok(())], Ok(())), (Ok(()), vec!["update"]));
        assert_eq!(
            run(vec![Err(status::ITEM_NOT_FOUND)], Ok(())),
            (Ok(()), vec!["update", "add"])
        );
        // Another process added the item between our update and add: update it.
        assert_eq!(
            run(
                vec![Err(status::ITEM_NOT_FOUND), Ok(())],
                Err(status::DUPLICATE_ITEM)
            ),
            (Ok(()), vec!["update", "add", "update"])
        );
        let (result, calls) = run(vec![Err(status::INTERACTION_NOT_ALLOWED)], Ok(()));
        assert_eq!(result.unwrap_err().kind, StorageErrorKind::Unavailable);
        assert_eq!(
            calls,
            vec!["update"],
            "a locked Keychain is not a missing item"
        );
    }

    #[test]
    fn only_apple_platforms_have_a_keychain() {
        let created = KeychainStorage::new(
            "https://auth.company.com",
            "my-app",
            KeychainOptions::default(),
        );
        if cfg!(target_vendor = "apple") {
            assert!(created.is_ok());
        } else {
            assert_eq!(created.unwrap_err().kind, StorageErrorKind::Failed);
        }
    }
}

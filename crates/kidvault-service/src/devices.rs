//! Devices: paired by a guardian to one child, authenticated by a bearer token
//! shown once, revocable at any time (effective on the next request).

use std::sync::Arc;

use kidvault_domain::entities::{parse_label, Device};
use kidvault_domain::ids::{ChildId, DeviceId};
use kidvault_domain::Timestamp;
use kidvault_store::DeviceRecord;

use crate::principal::{Action, Actor, GuardianSession};
use crate::tokens::{new_token, token_hash, DEVICE_PREFIX};
use crate::{Result, ServiceError, Vault};

/// A newly paired device and its token (the only time the token is shown).
#[derive(Clone)]
pub struct PairedDevice {
    pub device_id: DeviceId,
    pub token: String,
}

impl std::fmt::Debug for PairedDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PairedDevice").field("device_id", &self.device_id).finish_non_exhaustive()
    }
}

/// A device as its guardian sees it.
#[derive(Clone)]
pub struct DeviceView {
    pub device: Device,
    pub name: String,
}

impl std::fmt::Debug for DeviceView {
    // The name identifies the child: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceView").field("device", &self.device).finish_non_exhaustive()
    }
}

impl Vault {
    pub async fn pair_device(
        &self,
        g: &GuardianSession,
        child: ChildId,
        name: &str,
        now: Timestamp,
    ) -> Result<PairedDevice> {
        let grant = self.authorize(Actor::Guardian(g), child, Action::Manage).await?;
        let name = parse_label(name, 64)
            .ok_or_else(|| ServiceError::invalid("invalid_device_name", "name must be 1 to 64 characters"))?;
        let device_id = DeviceId::generate(now);
        let token = new_token(DEVICE_PREFIX)?;
        let store = Arc::clone(&self.store);
        self.store_sealed_device(&grant, device_id, &name, token_hash(&token), now, move |r| {
            let store = Arc::clone(&store);
            async move { store.create_device(&r).await }
        })
        .await?;
        Ok(PairedDevice { device_id, token })
    }

    /// Seals a new device's name under the child's key ("Mia's watch"
    /// identifies the child) and stores the device with `store_it`, sealing
    /// again once if a concurrent key rotation retired the key (as ingest does).
    pub(crate) async fn store_sealed_device<T, F, Fut>(
        &self,
        grant: &crate::access::Grant,
        device_id: DeviceId,
        name: &str,
        token_hash: [u8; 32],
        now: Timestamp,
        store_it: F,
    ) -> Result<T>
    where
        F: Fn(DeviceRecord) -> Fut,
        Fut: std::future::Future<Output = kidvault_store::Result<T>>,
    {
        for retry in [false, true] {
            let sealed = self.seal(grant, device_id.as_bytes(), name.as_bytes()).await?;
            let record = DeviceRecord {
                device: Device {
                    id: device_id,
                    household_id: grant.child().child.household_id,
                    child_id: grant.child_id(),
                    created_at: now,
                    revoked_at: None,
                },
                name: sealed,
                token_hash,
            };
            match store_it(record).await {
                Err(kidvault_store::StoreError::StaleKeyEpoch) if !retry => self.keys.forget(grant.child_id()),
                other => return Ok(other?),
            }
        }
        Err(ServiceError::Internal("device name sealed under a retired key twice".into()))
    }

    /// The child's devices with their names (opened under one access record).
    pub async fn list_devices(&self, g: &GuardianSession, child: ChildId, now: Timestamp) -> Result<Vec<DeviceView>> {
        let grant = self.authorize(Actor::Guardian(g), child, Action::ViewChild).await?;
        let records = self.store.devices_of(grant.child_id()).await?;
        let sealed: Vec<(&[u8; 16], &kidvault_store::Sealed)> =
            records.iter().map(|r| (r.device.id.as_bytes(), &r.name)).collect();
        let names = self.open_many(&grant, &sealed, "devices.list", now).await?;
        Ok(records
            .into_iter()
            .zip(names)
            .map(|(r, name)| DeviceView { device: r.device, name: String::from_utf8_lossy(&name).into_owned() })
            .collect())
    }

    /// Revokes a device; returns its child. Revoking twice is not an error.
    pub async fn revoke_device(&self, g: &GuardianSession, device: DeviceId, now: Timestamp) -> Result<ChildId> {
        let record = self.store.device(device).await?.ok_or(ServiceError::NotFound)?;
        let grant = self.authorize(Actor::Guardian(g), record.device.child_id, Action::Manage).await?;
        debug_assert_eq!(grant.child_id(), record.device.child_id);
        self.store.revoke_device(device, now).await?;
        Ok(grant.child_id())
    }
}

//! Deployment identity: the data store and the keystore are bound to one
//! deployment id, and the data store to the root key and ledger key it was
//! created with. A store and keys of different deployments (a key volume
//! swapped, a keystore restored from elsewhere, a root key file replaced)
//! refuse to start together, instead of serving 404s and 500s to existing
//! families and losing new families' writes once the right keys return.

use serde::{Deserialize, Serialize};

use crate::{Result, ServiceError, Vault};

/// What the data store records about its deployment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct DataBinding {
    deployment: uuid::Uuid,
    /// The root key's public fingerprint.
    root_key: String,
    /// The ledger's verifier key (public).
    ledger_key: String,
}

/// What the keystore records about its deployment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct KeyBinding {
    deployment: uuid::Uuid,
}

fn parse<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| ServiceError::Internal(format!("the {what}'s deployment record: {e}")))
}

fn json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| ServiceError::Internal(e.to_string()))
}

impl Vault {
    /// Binds an unbound deployment (a new one, or one from before bindings),
    /// and refuses (`wrong_deployment`) a data store, keystore, root key or
    /// ledger key that belongs to another.
    pub async fn check_deployment(&self) -> Result<()> {
        let keystore = self.keys.keystore();
        let here = DataBinding {
            deployment: uuid::Uuid::nil(),
            root_key: self.keys.root_key_id().to_owned(),
            ledger_key: self.signer.verifier_key(),
        };
        let refuse = |what: String| {
            Err(ServiceError::Conflict {
                code: "wrong_deployment",
                message: format!(
                    "{what} ({}). kidvault never serves one deployment's data with another's keys: put the right \
                     key directory (or data store) back",
                    self.config.locations
                ),
            })
        };
        let data: Option<DataBinding> =
            self.store.deployment_binding().await?.map(|t| parse(&t, "data store")).transpose()?;
        let keys: Option<KeyBinding> =
            keystore.deployment_binding().await?.map(|t| parse(&t, "keystore")).transpose()?;
        let (data, keys) = match (data, keys) {
            (Some(d), Some(k)) => (d, k),
            (Some(d), None) => {
                return refuse(format!(
                    "the data store belongs to deployment {}, but the keystore belongs to none: a new, empty \
                     keystore in place of this deployment's",
                    d.deployment
                ))
            }
            (None, found) => {
                // Keystore first, so a crash in between adopts its id next time.
                let id = found.map_or_else(uuid::Uuid::now_v7, |k| k.deployment);
                let k: KeyBinding =
                    parse(&keystore.bind_deployment(&json(&KeyBinding { deployment: id })?).await?, "keystore")?;
                let d: DataBinding = parse(
                    &self
                        .store
                        .bind_deployment(&json(&DataBinding { deployment: k.deployment, ..here.clone() })?)
                        .await?,
                    "data store",
                )?;
                tracing::info!(deployment = %d.deployment, "bound the data store and keystore to their deployment");
                (d, k)
            }
        };
        if data.deployment != keys.deployment {
            return refuse(format!(
                "the keystore belongs to deployment {}, the data store to deployment {}",
                keys.deployment, data.deployment
            ));
        }
        if data.root_key != here.root_key {
            return refuse(format!(
                "the root key file is not this deployment's (fingerprint {}, expected {})",
                here.root_key, data.root_key
            ));
        }
        if data.ledger_key != here.ledger_key {
            return refuse("the ledger signing key (ledger.key) is not this deployment's".to_owned());
        }
        Ok(())
    }
}

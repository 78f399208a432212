//! # kidvault-blob-s3
//!
//! [`BlobStore`] on S3-compatible object storage (AWS S3, MinIO, Ceph, moto...),
//! for deployments whose nodes share their blobs. Each blob is one object,
//! `<prefix>blobs/<id>`, holding ciphertext only (sealed before it gets here).
//!
//! **Deleting removes every version.** On a versioned bucket a plain DELETE only
//! adds a delete marker and keeps the bytes; so a deletion lists the key's
//! versions and delete markers and deletes each by version id, then checks that
//! none is left. A deletion that cannot finish fails (the deletion step is
//! retried), never reports success over a surviving version.
//!
//! Requests are path-style and signed with AWS Signature V4 ([`sigv4`]) by a
//! small client of our own: the `object_store` crate has no way to list or
//! delete object versions. Credentials come from the environment
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`), never from a file kidvault writes.

pub mod sigv4;

use async_trait::async_trait;
use bytes::Bytes;
use kidvault_store::{BlobLocator, BlobStore, Result, StoreError};
use uuid::Uuid;

/// Where the blobs live: `s3://BUCKET[/PREFIX]?endpoint=URL[&region=R]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Location {
    pub endpoint: String,
    pub bucket: String,
    pub prefix: String,
    pub region: String,
}

impl S3Location {
    pub fn parse(url: &str) -> std::result::Result<Self, String> {
        let rest = url.strip_prefix("s3://").ok_or("an S3 blob store URL starts with s3://")?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
        if bucket.is_empty() {
            return Err("s3:// needs a bucket: s3://BUCKET?endpoint=URL".into());
        }
        let mut endpoint = None;
        let mut region = "us-east-1".to_owned();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("endpoint", v)) => endpoint = Some(v.trim_end_matches('/').to_owned()),
                Some(("region", v)) => region = v.to_owned(),
                _ => return Err(format!("unknown S3 option {pair:?}: endpoint=URL, region=R")),
            }
        }
        let endpoint = endpoint.ok_or("s3:// needs endpoint=URL (e.g. https://s3.eu-west-1.amazonaws.com)")?;
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(format!("endpoint {endpoint:?} is not an http(s) URL"));
        }
        let prefix = match prefix.trim_matches('/') {
            "" => String::new(),
            p => format!("{p}/"),
        };
        Ok(Self { endpoint, bucket: bucket.to_owned(), prefix, region })
    }
}

/// Blobs in an S3-compatible bucket.
#[derive(Debug)]
pub struct S3BlobStore {
    location: S3Location,
    signer: sigv4::Signer,
    host: String,
    http: reqwest::Client,
}

const LOCATOR_PREFIX: &str = "s3:";
/// Tries per request (transient failures only).
const MAX_ATTEMPTS: u32 = 5;

fn backend(what: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("S3: {what}"))
}

impl S3BlobStore {
    /// A store at `location` with credentials from `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY`.
    pub fn from_env(location: S3Location) -> Result<Self> {
        let var = |k: &str| std::env::var(k).map_err(|_| backend(format!("{k} is not set")));
        let signer = sigv4::Signer {
            access_key: var("AWS_ACCESS_KEY_ID")?,
            secret_key: var("AWS_SECRET_ACCESS_KEY")?,
            region: location.region.clone(),
        };
        let host = location.endpoint.split_once("://").map_or("", |(_, h)| h).trim_end_matches('/').to_owned();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| backend(format!("client: {e}")))?;
        Ok(Self { location, signer, host, http })
    }

    fn key(&self, id: Uuid) -> String {
        format!("{}blobs/{id}", self.location.prefix)
    }

    /// One signed request; returns the status and body.
    async fn send(
        &self,
        method: reqwest::Method,
        key: Option<&str>,
        query: &[(&str, &str)],
        body: Bytes,
    ) -> Result<(reqwest::StatusCode, Bytes)> {
        let path = match key {
            Some(k) => sigv4::uri_encode(&format!("/{}/{k}", self.location.bucket), true),
            None => sigv4::uri_encode(&format!("/{}", self.location.bucket), true),
        };
        let query_string = sigv4::canonical_query(query);
        let url = if query_string.is_empty() {
            format!("{}{path}", self.location.endpoint)
        } else {
            format!("{}{path}?{query_string}", self.location.endpoint)
        };
        // Every request here is idempotent: a dropped connection or a 5xx
        // (S3's SlowDown included) is retried with backoff, signed afresh.
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let headers = self.signer.headers(method.as_str(), &self.host, &path, query, &body, chrono::Utc::now());
            let mut req = self.http.request(method.clone(), &url).body(body.clone());
            for (name, value) in headers {
                req = req.header(name, value);
            }
            let outcome = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    resp.bytes().await.map(|b| (status, b))
                }
                Err(e) => Err(e),
            };
            match outcome {
                Ok((status, bytes)) if !status.is_server_error() || attempt >= MAX_ATTEMPTS => {
                    return Ok((status, bytes))
                }
                Err(e) if attempt >= MAX_ATTEMPTS => {
                    return Err(backend(format!("request failed: {}", e.without_url())))
                }
                Ok((status, _)) => tracing::debug!(%status, attempt, "S3 request retried"),
                Err(e) => tracing::debug!(error = %e.without_url(), attempt, "S3 request retried"),
            }
            tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
        }
    }

    /// Turns versioning on for the bucket (tests; an operator may do it too).
    pub async fn enable_versioning(&self) -> Result<()> {
        let body = Bytes::from_static(
            b"<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>Enabled</Status></VersioningConfiguration>",
        );
        let (status, text) = self.send(reqwest::Method::PUT, None, &[("versioning", "")], body).await?;
        ensure_ok(status, &text, "enabling versioning")
    }

    /// Creates the bucket if it does not exist (tests and first runs).
    pub async fn create_bucket(&self) -> Result<()> {
        let (status, text) = self.send(reqwest::Method::PUT, None, &[], Bytes::new()).await?;
        if status.is_success() || status == reqwest::StatusCode::CONFLICT {
            return Ok(());
        }
        ensure_ok(status, &text, "creating the bucket")
    }

    /// Every version id of `key`, delete markers included.
    pub async fn versions(&self, key: &str) -> Result<Vec<String>> {
        Ok(self.versions_under(key).await?.into_iter().filter(|(k, _)| k == key).map(|(_, v)| v).collect())
    }

    /// Every version (and delete marker) of every blob this store holds, as
    /// (key, version id): what a check that nothing was stored compares.
    pub async fn stored_versions(&self) -> Result<Vec<(String, String)>> {
        self.versions_under(&format!("{}blobs/", self.location.prefix)).await
    }

    /// Every version of every key starting with `prefix`, as (key, version id).
    async fn versions_under(&self, key: &str) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        let (mut key_marker, mut version_marker) = (String::new(), String::new());
        loop {
            let mut query = vec![("versions", ""), ("prefix", key)];
            if !key_marker.is_empty() {
                query.push(("key-marker", &key_marker));
                query.push(("version-id-marker", &version_marker));
            }
            let (status, body) = self.send(reqwest::Method::GET, None, &query, Bytes::new()).await?;
            ensure_ok(status, &body, "listing versions")?;
            let listing: ListVersionsResult = quick_xml::de::from_reader(body.as_ref())
                .map_err(|e| backend(format!("listing versions: unreadable answer: {e}")))?;
            for entry in listing.versions.into_iter().chain(listing.delete_markers) {
                out.push((entry.key, entry.version_id.unwrap_or_else(|| "null".into())));
            }
            if !listing.is_truncated {
                return Ok(out);
            }
            key_marker = listing.next_key_marker.unwrap_or_default();
            version_marker = listing.next_version_id_marker.unwrap_or_default();
            if key_marker.is_empty() {
                return Ok(out);
            }
        }
    }

    /// The ids among `ids` of which some version is still stored (`verify-erasure`).
    pub async fn residue(&self, ids: &[Uuid]) -> Result<Vec<(String, Uuid)>> {
        let mut out = Vec::new();
        for id in ids {
            let key = self.key(*id);
            if !self.versions(&key).await?.is_empty() {
                out.push((key, *id));
            }
        }
        Ok(out)
    }

    /// The object key a locator names (refusing any other store's locator).
    pub fn key_of(&self, locator: &BlobLocator) -> Result<String> {
        locator
            .0
            .strip_prefix(LOCATOR_PREFIX)
            .map(str::to_owned)
            .ok_or_else(|| StoreError::Corrupt(format!("not an S3 blob locator: {}", locator.0)))
    }
}

fn ensure_ok(status: reqwest::StatusCode, body: &[u8], what: &str) -> Result<()> {
    if status.is_success() {
        return Ok(());
    }
    let code = quick_xml::de::from_reader::<_, S3Error>(body).map_or_else(|_| status.to_string(), |e| e.code);
    Err(backend(format!("{what}: {code}")))
}

/// S3's `ListObjectVersions` answer (read with quick-xml; versions and delete
/// markers come interleaved).
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListVersionsResult {
    #[serde(default)]
    is_truncated: bool,
    next_key_marker: Option<String>,
    next_version_id_marker: Option<String>,
    #[serde(rename = "Version", default)]
    versions: Vec<VersionEntry>,
    #[serde(rename = "DeleteMarker", default)]
    delete_markers: Vec<VersionEntry>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct VersionEntry {
    key: String,
    version_id: Option<String>,
}

/// An S3 error answer: its `Code`.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct S3Error {
    code: String,
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, id: Uuid, ciphertext: Bytes) -> Result<BlobLocator> {
        let key = self.key(id);
        let (status, body) = self.send(reqwest::Method::PUT, Some(&key), &[], ciphertext).await?;
        ensure_ok(status, &body, "storing a blob")?;
        Ok(BlobLocator(format!("{LOCATOR_PREFIX}{key}")))
    }

    fn holds(&self, locator: &BlobLocator) -> bool {
        self.key_of(locator).is_ok_and(|k| k.starts_with(&format!("{}blobs/", self.location.prefix)))
    }

    async fn get(&self, locator: &BlobLocator) -> Result<Bytes> {
        let key = self.key_of(locator)?;
        let (status, body) = self.send(reqwest::Method::GET, Some(&key), &[], Bytes::new()).await?;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(StoreError::NotFound);
        }
        ensure_ok(status, &body, "reading a blob")?;
        Ok(body)
    }

    async fn delete(&self, locator: &BlobLocator) -> Result<()> {
        let key = self.key_of(locator)?;
        // Unversioned buckets: the object itself. Then every version and marker.
        let (status, body) = self.send(reqwest::Method::DELETE, Some(&key), &[], Bytes::new()).await?;
        if status != reqwest::StatusCode::NOT_FOUND {
            ensure_ok(status, &body, "deleting a blob")?;
        }
        for version in self.versions(&key).await? {
            let (status, body) =
                self.send(reqwest::Method::DELETE, Some(&key), &[("versionId", &version)], Bytes::new()).await?;
            if status != reqwest::StatusCode::NOT_FOUND {
                ensure_ok(status, &body, "deleting a blob version")?;
            }
        }
        let left = self.versions(&key).await?;
        if !left.is_empty() {
            return Err(backend(format!("{} versions of a deleted blob remain", left.len())));
        }
        Ok(())
    }

    async fn delete_many(&self, locators: &[BlobLocator]) -> Result<()> {
        for locator in locators {
            self.delete(locator).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn urls_name_bucket_prefix_endpoint_and_region() {
        let l = S3Location::parse("s3://kv/prod/eu?endpoint=http://127.0.0.1:9000/&region=eu-west-1").unwrap();
        assert_eq!(
            l,
            S3Location {
                endpoint: "http://127.0.0.1:9000".into(),
                bucket: "kv".into(),
                prefix: "prod/eu/".into(),
                region: "eu-west-1".into()
            }
        );
        assert_eq!(S3Location::parse("s3://kv?endpoint=https://s3.example").unwrap().prefix, "");
        for bad in
            ["s3://?endpoint=http://x", "s3://kv", "s3://kv?endpoint=ftp://x", "s3://kv?endpoint=http://x&acl=1", "kv"]
        {
            assert!(S3Location::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn version_listings_are_read_with_their_delete_markers() {
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
            <ListVersionsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>kv</Name>\
            <IsTruncated>true</IsTruncated><NextKeyMarker>blobs/ab</NextKeyMarker>\
            <NextVersionIdMarker>v9</NextVersionIdMarker>\
            <Version><Key>blobs/a</Key><VersionId>v1</VersionId><IsLatest>false</IsLatest>\
            <Owner><ID>x</ID></Owner></Version>\
            <DeleteMarker><Key>blobs/a</Key><VersionId>m1</VersionId></DeleteMarker>\
            <Version><Key>blobs/a&amp;b</Key><VersionId>v9</VersionId></Version></ListVersionsResult>";
        let l: ListVersionsResult = quick_xml::de::from_str(xml).unwrap();
        let versions: Vec<_> = l.versions.iter().map(|v| (v.key.as_str(), v.version_id.as_deref())).collect();
        assert_eq!(versions, [("blobs/a", Some("v1")), ("blobs/a&b", Some("v9"))]);
        assert_eq!(l.delete_markers[0].version_id.as_deref(), Some("m1"));
        assert!(l.is_truncated);
        assert_eq!((l.next_key_marker.as_deref(), l.next_version_id_marker.as_deref()), (Some("blobs/ab"), Some("v9")));
        let err: S3Error =
            quick_xml::de::from_str("<Error><Code>NoSuchBucket</Code><Message>m</Message></Error>").unwrap();
        assert_eq!(err.code, "NoSuchBucket");
    }
}

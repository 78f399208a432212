//! `kidvault backup` and `kidvault restore`, for both backends.
//!
//! A backup is one file: a clear header (which backup, when, until when it can
//! be restored) and a sealed stream holding the data store, the blob segments
//! (local blobs; an S3 bucket keeps its own) and the keystore, each as SQLite
//! would read them (on PostgreSQL, the tables copied out of one snapshot into
//! that form, see `kidvault_store_postgres::backup`). The stream is sealed in
//! 1 MiB chunks (AES-256-GCM) under a key made for this backup alone, bound to
//! the header, the chunk's place and whether it is the last (nothing can be
//! cut, reordered or spliced from another backup). That backup key is kept,
//! wrapped under the root key, in `<key dir>/backup-keys.db` and destroyed one
//! backup window (`backup_window_days`, default 30) after the backup: from then
//! on the file opens nothing. So a key destroyed today is unrecoverable from
//! every kidvault backup after at most the window, whatever the operator keeps.
//!
//! `backup-keys.db` uses a rollback journal with `secure_delete`: a destroyed
//! backup key is overwritten in the file, and the journal holding its old page
//! is deleted when the transaction commits.
//!
//! The keystore goes into a backup taken out of the seal chain (each row as
//! the root key wrapped it, sealed now only by the backup's own key), so a
//! restore works whatever generations the chain has forgotten since, and
//! seals the restored rows under the chain's newest generation before serving.
//!
//! Restoring brings back survivors and never the deleted: with the live
//! keystore kept (the default), an item or child deleted since the backup has
//! no key and is deleted again (reason `restore`) before the server serves;
//! when the keystore is restored too, every key the live data store records as
//! deleted is destroyed in it first.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use kidvault_crypto as aead;
use kidvault_crypto::{sha256, KeyProvider, SealChain, SecretKey};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

const MAGIC: &str = "kidvault-backup v1";
const CHUNK: usize = 1 << 20;

/// The clear part of a backup file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Header {
    pub backup_id: uuid::Uuid,
    pub created_at: DateTime<Utc>,
    /// When its key is destroyed: the backup opens nothing from then on.
    pub restorable_until: DateTime<Utc>,
    pub window_days: i64,
    /// What is inside, by name (`data/...`, `keys/keystore.db`).
    pub files: Vec<String>,
    /// The backend it was taken from: `embedded` (absent in older backups) or `postgres`.
    #[serde(default = "embedded")]
    pub backend: String,
}

fn embedded() -> String {
    "embedded".into()
}

/// A backup that can still be restored.
#[derive(Clone, Debug)]
pub struct Restorable {
    pub id: uuid::Uuid,
    pub created_at: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// The backup keys, in `<key dir>/backup-keys.db`.
#[derive(Debug)]
pub struct BackupKeys {
    conn: Connection,
}

fn context(id: uuid::Uuid) -> Vec<u8> {
    let mut c = b"kidvault/backup-key/v1\0".to_vec();
    c.extend_from_slice(id.as_bytes());
    c
}

impl BackupKeys {
    pub fn open(key_dir: &Path) -> anyhow::Result<Self> {
        let path = key_dir.join("backup-keys.db");
        let conn = Connection::open(&path).with_context(|| format!("opening {}", path.display()))?;
        // A rollback journal, deleted at commit: a destroyed key leaves no page
        // image behind; secure_delete overwrites it in the file.
        conn.execute_batch(
            "PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL; PRAGMA secure_delete=ON; PRAGMA temp_store=MEMORY;
             CREATE TABLE IF NOT EXISTS backup_keys (
                 id BLOB PRIMARY KEY, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, wrapped BLOB NOT NULL);",
        )?;
        Ok(Self { conn })
    }

    fn create(
        &self,
        provider: &dyn KeyProvider,
        now: DateTime<Utc>,
        window: chrono::Duration,
    ) -> anyhow::Result<(uuid::Uuid, SecretKey, DateTime<Utc>)> {
        let id = uuid::Uuid::now_v7();
        let key = SecretKey::generate()?;
        let until = now + window;
        let wrapped = provider.wrap(&context(id), &key)?;
        self.conn.execute(
            "INSERT INTO backup_keys (id, created_at, expires_at, wrapped) VALUES (?1, ?2, ?3, ?4)",
            params![id.as_bytes().to_vec(), now.timestamp(), until.timestamp(), wrapped],
        )?;
        Ok((id, key, until))
    }

    fn get(&self, provider: &dyn KeyProvider, id: uuid::Uuid) -> anyhow::Result<Option<SecretKey>> {
        let wrapped: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT wrapped FROM backup_keys WHERE id = ?1", [id.as_bytes().to_vec()], |r| r.get(0))
            .optional()?;
        Ok(match wrapped {
            Some(w) => Some(provider.unwrap(&context(id), &w).context("the root key does not open this backup key")?),
            None => None,
        })
    }

    /// Destroys every backup key whose window has passed by `now`. Returns how many.
    pub fn expire(&self, now: DateTime<Utc>) -> anyhow::Result<usize> {
        Ok(self.conn.execute("DELETE FROM backup_keys WHERE expires_at <= ?1", [now.timestamp()])?)
    }

    /// The backups that can still be restored.
    pub fn list(&self) -> anyhow::Result<Vec<Restorable>> {
        let mut stmt = self.conn.prepare("SELECT id, created_at, expires_at FROM backup_keys ORDER BY created_at")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)))?;
        let mut out = Vec::new();
        for r in rows {
            let (id, c, e) = r?;
            let at = |t: i64| DateTime::from_timestamp(t, 0).unwrap_or_default();
            out.push(Restorable { id: uuid::Uuid::from_slice(&id)?, created_at: at(c), until: at(e) });
        }
        Ok(out)
    }
}

/// Writes a byte stream as sealed chunks: `[last: u8][len: u32][sealed]`.
struct SealedWriter<W: Write> {
    out: W,
    key: SecretKey,
    bound: [u8; 32],
    index: u64,
    buf: Vec<u8>,
}

fn chunk_aad(bound: &[u8; 32], index: u64, last: bool) -> Vec<u8> {
    let mut aad = b"kidvault/backup-chunk/v1\0".to_vec();
    aad.extend_from_slice(bound);
    aad.extend_from_slice(&index.to_be_bytes());
    aad.push(u8::from(last));
    aad
}

impl<W: Write> SealedWriter<W> {
    fn flush_chunk(&mut self, last: bool) -> anyhow::Result<()> {
        let sealed = aead::seal(&self.key, &chunk_aad(&self.bound, self.index, last), &self.buf)?;
        self.out.write_all(&[u8::from(last)])?;
        self.out.write_all(&u32::try_from(sealed.len())?.to_be_bytes())?;
        self.out.write_all(&sealed)?;
        zeroize::Zeroize::zeroize(&mut self.buf);
        self.buf.clear();
        self.index += 1;
        Ok(())
    }

    fn write(&mut self, mut data: &[u8]) -> anyhow::Result<()> {
        while !data.is_empty() {
            let n = (CHUNK - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.buf.len() == CHUNK {
                self.flush_chunk(false)?;
            }
        }
        Ok(())
    }

    /// One file of the stream: its name, its size, its bytes.
    fn file(&mut self, name: &str, path: &Path) -> anyhow::Result<()> {
        let mut f = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
        let size = f.metadata()?.len();
        self.write(&u16::try_from(name.len())?.to_be_bytes())?;
        self.write(name.as_bytes())?;
        self.write(&size.to_be_bytes())?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut left = size;
        while left > 0 {
            let want = usize::try_from(left.min(buf.len() as u64))?;
            let n = f.read(&mut buf[..want])?;
            if n == 0 {
                bail!("{} shrank while being backed up", path.display());
            }
            self.write(&buf[..n])?;
            left -= n as u64;
        }
        Ok(())
    }

    fn finish(mut self) -> anyhow::Result<W> {
        self.write(&0u16.to_be_bytes())?; // the end of the file list
        self.flush_chunk(true)?;
        Ok(self.out)
    }
}

/// Reads what [`SealedWriter`] wrote; fails on any altered, missing or extra chunk.
struct SealedReader<R: Read> {
    input: R,
    key: SecretKey,
    bound: [u8; 32],
    index: u64,
    buf: Vec<u8>,
    pos: usize,
    done: bool,
}

impl<R: Read> SealedReader<R> {
    fn fill(&mut self) -> anyhow::Result<()> {
        if self.done {
            bail!("the backup ends early");
        }
        let mut head = [0u8; 5];
        self.input.read_exact(&mut head).context("the backup is cut short")?;
        let last = head[0] == 1;
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if len > CHUNK + 64 {
            bail!("the backup is damaged (a chunk of {len} bytes)");
        }
        let mut sealed = vec![0u8; len];
        self.input.read_exact(&mut sealed).context("the backup is cut short")?;
        self.buf = aead::open(&self.key, &chunk_aad(&self.bound, self.index, last), &sealed)
            .map_err(|_| anyhow::anyhow!("the backup is damaged or altered (chunk {})", self.index))?;
        self.pos = 0;
        self.index += 1;
        if last {
            self.done = true;
            let mut extra = [0u8; 1];
            if self.input.read(&mut extra)? != 0 {
                bail!("the backup has bytes after its last chunk");
            }
        }
        Ok(())
    }

    fn read_exact(&mut self, mut out: &mut [u8]) -> anyhow::Result<()> {
        while !out.is_empty() {
            if self.pos == self.buf.len() {
                self.fill()?;
            }
            let n = (self.buf.len() - self.pos).min(out.len());
            out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            out = &mut out[n..];
        }
        Ok(())
    }
}

/// A consistent copy of a live SQLite database (`VACUUM INTO`: no free pages,
/// no WAL), next to it; the caller removes it with [`discard`].
fn snapshot(db: &Path, id: uuid::Uuid) -> anyhow::Result<PathBuf> {
    let copy = db.with_file_name(format!(".backup-{id}.db"));
    let conn = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute("VACUUM INTO ?1", [copy.to_str().context("path is not UTF-8")?])?;
    Ok(copy)
}

/// Takes a keystore copy's rows out of the seal chain (each stays wrapped
/// under the root key) and drops its record of generations, page by page.
fn out_of_chain(copy: &Path, chain: Option<&SealChain>) -> anyhow::Result<()> {
    use kidvault_domain::ids::{ChildId, ItemId};
    use kidvault_store::KeyRowId;
    const PAGE: usize = 1000;
    let conn = Connection::open(copy)?;
    conn.execute_batch("PRAGMA secure_delete=ON; PRAGMA journal_mode=MEMORY; BEGIN;")?;
    let unseal = |row: KeyRowId, wrapped: &[u8]| -> anyhow::Result<Option<Vec<u8>>> {
        if kidvault_crypto::chain::generation_of(wrapped).is_none() {
            return Ok(None);
        }
        let chain = chain.context("the keystore's rows are sealed under a seal chain, but its file is missing")?;
        let inner = kidvault_service::keyring::open_row(chain, row, wrapped)
            .map_err(|e| anyhow::anyhow!("a keystore row does not open from the seal chain: {e}"))?;
        Ok(Some(inner.to_vec()))
    };
    let mut after = (Vec::new(), -1i64);
    loop {
        let page: Vec<(Vec<u8>, i64, Vec<u8>)> = conn
            .prepare(
                "SELECT child_id, epoch, wrapped FROM child_keys WHERE (child_id, epoch) > (?1, ?2)
                 ORDER BY child_id, epoch LIMIT ?3",
            )?
            .query_map(params![after.0, after.1, PAGE as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        let Some(last) = page.last() else { break };
        after = (last.0.clone(), last.1);
        for (child, epoch, wrapped) in page {
            let row = KeyRowId::Child(ChildId(uuid::Uuid::from_slice(&child)?), u32::try_from(epoch)?);
            if let Some(inner) = unseal(row, &wrapped)? {
                conn.execute(
                    "UPDATE child_keys SET wrapped = ?3 WHERE child_id = ?1 AND epoch = ?2",
                    params![child, epoch, inner],
                )?;
            }
        }
    }
    let mut after = Vec::new();
    loop {
        let page: Vec<(Vec<u8>, Vec<u8>)> = conn
            .prepare("SELECT item_id, wrapped FROM item_keys WHERE item_id > ?1 ORDER BY item_id LIMIT ?2")?
            .query_map(params![after, PAGE as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let Some(last) = page.last() else { break };
        after = last.0.clone();
        for (item, wrapped) in page {
            let row = KeyRowId::Item(ItemId(uuid::Uuid::from_slice(&item)?));
            if let Some(inner) = unseal(row, &wrapped)? {
                conn.execute("UPDATE item_keys SET wrapped = ?2 WHERE item_id = ?1", params![item, inner])?;
            }
        }
    }
    conn.execute("DELETE FROM seal_generations", [])?;
    conn.execute_batch("COMMIT;")?;
    Ok(())
}

/// Overwrites a temporary copy (and any journal SQLite left beside it) with
/// zeros, then removes it.
fn discard(db: &Path) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        zero_and_remove(Path::new(&name))?;
    }
    Ok(())
}

fn zero_and_remove(path: &Path) -> anyhow::Result<()> {
    if let Ok(meta) = std::fs::metadata(path) {
        let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
        let zeros = vec![0u8; 64 * 1024];
        let mut left = meta.len();
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            f.write_all(&zeros[..n])?;
            left -= n as u64;
        }
        f.sync_all()?;
        std::fs::remove_file(path)?;
    }
    Ok(())
}

/// Where a deployment's parts live.
#[derive(Debug)]
pub struct Layout {
    /// The embedded data store's file (on PostgreSQL: where its copy is staged).
    pub data_db: PathBuf,
    /// The PostgreSQL database holding the data store and keystore, if not embedded.
    pub database: Option<String>,
    /// Local blobs (an S3 bucket is not part of a backup).
    pub blobs: Option<PathBuf>,
    pub key_dir: PathBuf,
}

impl Layout {
    fn keystore(&self) -> PathBuf {
        self.key_dir.join("keystore.db")
    }

    fn backend(&self) -> &'static str {
        if self.database.is_some() {
            "postgres"
        } else {
            "embedded"
        }
    }
}

/// A consistent copy of the deployment's data store and keystore as embedded
/// files (discarded by the caller).
fn copies(layout: &Layout, id: uuid::Uuid) -> anyhow::Result<(PathBuf, PathBuf)> {
    let Some(url) = &layout.database else {
        // The data store first, then the keystore: every item in the copy of the
        // data has its key in the copy of the keys (keys are written before items).
        let data = snapshot(&layout.data_db, id)?;
        return match snapshot(&layout.keystore(), id) {
            Ok(keys) => Ok((data, keys)),
            Err(e) => {
                discard(&data)?;
                Err(e)
            }
        };
    };
    if let Some(dir) = layout.data_db.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let data = layout.data_db.with_file_name(format!(".backup-{id}.db"));
    let keys = layout.key_dir.join(format!(".backup-{id}.db"));
    // Both from one snapshot of the database.
    if let Err(e) = kidvault_store_postgres::backup::export_sqlite(url, &data, &keys) {
        discard(&data)?;
        discard(&keys)?;
        return Err(e.into());
    }
    Ok((data, keys))
}

/// Writes a backup of the deployment to `to` (the server may be running).
pub fn create(
    layout: &Layout,
    provider: &dyn KeyProvider,
    chain: Option<&SealChain>,
    to: &Path,
    now: DateTime<Utc>,
    window: chrono::Duration,
) -> anyhow::Result<Header> {
    if layout.database.is_none() {
        anyhow::ensure!(layout.data_db.exists(), "no data store at {}", layout.data_db.display());
        anyhow::ensure!(layout.keystore().exists(), "no keystore at {}", layout.keystore().display());
    }
    let keys = BackupKeys::open(&layout.key_dir)?;
    keys.expire(now)?;
    let (id, key, until) = keys.create(provider, now, window)?;
    let (data, keystore) = copies(layout, id)?;
    let result = (|| {
        out_of_chain(&keystore, chain)?;
        let mut files = vec![("data/kidvault.db".to_owned(), data.clone())];
        if let Some(blobs) = layout.blobs.as_ref().filter(|b| b.exists()) {
            let mut segments: Vec<_> =
                std::fs::read_dir(blobs)?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
            segments.sort();
            for s in segments {
                let name = s.file_name().and_then(|n| n.to_str()).context("blob file name")?.to_owned();
                files.push((format!("data/blobs/{name}"), s));
            }
        }
        files.push(("keys/keystore.db".to_owned(), keystore.clone()));
        let header = Header {
            backup_id: id,
            created_at: now,
            restorable_until: until,
            window_days: window.num_days(),
            files: files.iter().map(|(n, _)| n.clone()).collect(),
            backend: layout.backend().to_owned(),
        };
        let head = serde_json::to_string(&header)?;
        let tmp = to.with_extension("partial");
        let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        writeln!(out, "{MAGIC}")?;
        writeln!(out, "{head}")?;
        let mut w = SealedWriter { out, key, bound: sha256(head.as_bytes()), index: 0, buf: Vec::with_capacity(CHUNK) };
        for (name, path) in &files {
            w.file(name, path)?;
        }
        let out = w.finish()?;
        out.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?.sync_all()?;
        std::fs::rename(&tmp, to)?;
        Ok(header)
    })();
    discard(&data)?;
    discard(&keystore)?;
    result
}

/// Reads a backup's clear header.
pub fn header(file: &Path) -> anyhow::Result<(Header, String, std::io::BufReader<std::fs::File>)> {
    use std::io::BufRead;
    let mut input =
        std::io::BufReader::new(std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?);
    let mut magic = String::new();
    input.read_line(&mut magic)?;
    if magic.trim_end() != MAGIC {
        bail!("{} is not a kidvault backup", file.display());
    }
    let mut head = String::new();
    input.read_line(&mut head)?;
    let head = head.trim_end().to_owned();
    let header: Header = serde_json::from_str(&head).context("the backup's header is damaged")?;
    Ok((header, head, input))
}

/// What a restore brings back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parts {
    /// The data store and blobs; the live keystore stays.
    Data,
    /// The keystore only; the live data stays.
    Keys,
    /// Both.
    Both,
}

/// Restores `file` into the deployment (the server stopped). Returns the
/// header. Refused, changing nothing, if the backup's key was destroyed.
pub fn restore(
    layout: &Layout,
    provider: &dyn KeyProvider,
    chain: Option<&SealChain>,
    file: &Path,
    parts: Parts,
    now: DateTime<Utc>,
) -> anyhow::Result<(Header, Option<String>)> {
    let (header, head, input) = header(file)?;
    if header.backend != layout.backend() {
        bail!(
            "backup {} was taken from {} storage and this deployment's is {}: restore it into a deployment of \
             its own kind (then `kidvault migrate-store` moves an embedded one to PostgreSQL)",
            header.backup_id,
            header.backend,
            layout.backend()
        );
    }
    let keys = BackupKeys::open(&layout.key_dir)?;
    keys.expire(now)?;
    let Some(key) = keys.get(provider, header.backup_id)? else {
        if header.restorable_until <= now {
            bail!(
                "backup {} (taken {}) expired on {}: its key was destroyed after the {}-day backup window, so it \
                 opens nothing, by design",
                header.backup_id,
                header.created_at.format("%Y-%m-%d %H:%M UTC"),
                header.restorable_until.format("%Y-%m-%d %H:%M UTC"),
                header.window_days
            );
        }
        bail!(
            "backup {} cannot be opened: its key is not in {} (the backup was expired early with `kidvault backup \
             expire`, or was not made by this deployment)",
            header.backup_id,
            layout.key_dir.join("backup-keys.db").display()
        );
    };
    // What the live data store records as deleted: applied to a restored keystore.
    let deleted = match &layout.database {
        _ if parts == Parts::Data => Deleted::default(),
        Some(url) => kidvault_store_postgres::backup::deleted(url)?.into(),
        None if layout.data_db.exists() => deleted_ids(&layout.data_db)?,
        None => Deleted::default(),
    };
    let mut r =
        SealedReader { input, key, bound: sha256(head.as_bytes()), index: 0, buf: Vec::new(), pos: 0, done: false };
    let staging_data = layout.data_db.with_file_name(".restoring");
    let staging_keys = layout.key_dir.join(".restoring");
    for dir in [&staging_data, &staging_keys] {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir)?;
    }
    loop {
        let mut len = [0u8; 2];
        r.read_exact(&mut len)?;
        let len = u16::from_be_bytes(len) as usize;
        if len == 0 {
            break;
        }
        let mut name = vec![0u8; len];
        r.read_exact(&mut name)?;
        let name = String::from_utf8(name).context("a file name in the backup")?;
        let mut size = [0u8; 8];
        r.read_exact(&mut size)?;
        let size = u64::from_be_bytes(size);
        let target = match name.strip_prefix("data/") {
            Some(rest) if !rest.contains("..") => staging_data.join(rest),
            _ if name == "keys/keystore.db" => staging_keys.join("keystore.db"),
            _ => bail!("the backup names an unexpected file {name:?}"),
        };
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut out = std::fs::File::create(&target)?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut left = size;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            r.read_exact(&mut buf[..n])?;
            out.write_all(&buf[..n])?;
            left -= n as u64;
        }
        out.sync_all()?;
    }
    // Everything read and authenticated: now swap the parts in.
    let swapped = swap_in(layout, chain, parts, &deleted, &staging_data, &staging_keys);
    for dir in [&staging_data, &staging_keys] {
        for f in crate::backup::files_under(dir) {
            discard(&f)?;
        }
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok((header, swapped?))
}

/// Puts the staged parts in place of the live ones; says what it left out.
fn swap_in(
    layout: &Layout,
    chain: Option<&SealChain>,
    parts: Parts,
    deleted: &Deleted,
    staging_data: &Path,
    staging_keys: &Path,
) -> anyhow::Result<Option<String>> {
    if matches!(parts, Parts::Data | Parts::Both) {
        match &layout.database {
            Some(url) => {
                kidvault_store_postgres::backup::restore_data(url, &staging_data.join("kidvault.db"))?;
            }
            None => {
                remove_db(&layout.data_db)?;
                std::fs::rename(staging_data.join("kidvault.db"), &layout.data_db)?;
            }
        }
        if let Some(blobs) = &layout.blobs {
            let _ = std::fs::remove_dir_all(blobs);
            if staging_data.join("blobs").exists() {
                std::fs::rename(staging_data.join("blobs"), blobs)?;
            }
        }
    }
    if matches!(parts, Parts::Keys | Parts::Both) {
        match &layout.database {
            Some(url) => {
                let left_out = restore_pg_keys(url, chain, deleted, &staging_keys.join("keystore.db"))?;
                return Ok(Some(format!(
                    "{left_out} keys of what was deleted since the backup left out of the database"
                )));
            }
            None => {
                let keystore = layout.keystore();
                remove_db(&keystore)?;
                std::fs::rename(staging_keys.join("keystore.db"), &keystore)?;
                destroy_deleted(&keystore, deleted)?;
            }
        }
    }
    Ok(None)
}

/// A restored keystore into PostgreSQL: every row sealed under the live seal
/// chain's newest generation before it enters the database, and no key the
/// live data store records as deleted entering it at all (a row inserted
/// then deleted would stay in its WAL, openable with the root key alone).
fn restore_pg_keys(url: &str, chain: Option<&SealChain>, deleted: &Deleted, keys: &Path) -> anyhow::Result<i64> {
    use kidvault_store::{KeyRowId, StoreError};
    let generation = kidvault_store_postgres::backup::newest_generation(url)?;
    let reseal = |row: KeyRowId, child: kidvault_domain::ids::ChildId, wrapped: &[u8]| {
        let gone = deleted.children.contains(&child.0)
            || matches!(row, KeyRowId::Item(item) if deleted.items.contains(&item.0));
        if gone {
            return Ok(None);
        }
        let (Some(chain), Some(generation)) = (chain, generation) else {
            return Ok(Some(wrapped.to_vec()));
        };
        let seal = || -> kidvault_service::Result<Vec<u8>> {
            let inner = kidvault_service::keyring::open_row(chain, row, wrapped)?;
            chain
                .seal(generation, &kidvault_service::keyring::row_context(row), &inner)
                .map_err(kidvault_service::ServiceError::from)
        };
        seal().map(Some).map_err(|e| StoreError::Backend(format!("a restored keystore row: {e}")))
    };
    let counts = kidvault_store_postgres::backup::restore_keys(url, keys, &reseal)?;
    Ok(counts.get("left_out").copied().unwrap_or(0))
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn remove_db(db: &Path) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        match std::fs::remove_file(PathBuf::from(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The ids the live data store records as deleted.
#[derive(Debug, Default)]
struct Deleted {
    /// Every item of every deletion.
    items: std::collections::HashSet<uuid::Uuid>,
    /// Every child deleted whole.
    children: std::collections::HashSet<uuid::Uuid>,
}

impl From<(Vec<kidvault_domain::ids::ItemId>, Vec<kidvault_domain::ids::ChildId>)> for Deleted {
    fn from((items, children): (Vec<kidvault_domain::ids::ItemId>, Vec<kidvault_domain::ids::ChildId>)) -> Self {
        Self { items: items.into_iter().map(|i| i.0).collect(), children: children.into_iter().map(|c| c.0).collect() }
    }
}

fn deleted_ids(db: &Path) -> anyhow::Result<Deleted> {
    let conn = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut out = Deleted::default();
    let mut stmt = conn.prepare("SELECT item_id FROM deletion_items")?;
    for r in stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))? {
        out.items.insert(uuid::Uuid::from_slice(&r?)?);
    }
    let mut stmt = conn.prepare("SELECT child_id, scope FROM deletions")?;
    for r in stmt.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?)))? {
        let (child, scope) = r?;
        let scope: kidvault_domain::deletion::DeletionScope = serde_json::from_str(&scope)?;
        if scope.is_child() {
            out.children.insert(uuid::Uuid::from_slice(&child)?);
        }
    }
    Ok(out)
}

/// Destroys, in a restored keystore, every key the live data store records as
/// deleted, then leaves no copy of them in its files.
fn destroy_deleted(keystore: &Path, deleted: &Deleted) -> anyhow::Result<()> {
    let conn = Connection::open(keystore)?;
    conn.execute_batch("PRAGMA secure_delete=ON; BEGIN IMMEDIATE;")?;
    for id in &deleted.children {
        conn.execute("DELETE FROM child_keys WHERE child_id = ?1", [id.as_bytes()])?;
        conn.execute("DELETE FROM item_keys WHERE child_id = ?1", [id.as_bytes()])?;
    }
    for id in &deleted.items {
        conn.execute("DELETE FROM item_keys WHERE item_id = ?1", [id.as_bytes()])?;
    }
    conn.execute_batch("COMMIT;")?;
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    if mode.eq_ignore_ascii_case("wal") {
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    }
    Ok(())
}

/// After a restore: what the restored data store holds whose keys the keystore
/// does not (deleted since the backup): children, and items that are not
/// derived from another such item. Each is to be deleted again.
pub fn deleted_since(
    layout: &Layout,
) -> anyhow::Result<
    Vec<(kidvault_domain::ids::ChildId, kidvault_domain::ids::HouseholdId, kidvault_domain::deletion::DeletionScope)>,
> {
    use kidvault_domain::deletion::DeletionScope;
    use kidvault_domain::ids::{ChildId, HouseholdId, ItemId};
    if let Some(url) = &layout.database {
        let found = kidvault_store_postgres::backup::without_keys(url)?;
        return Ok(found
            .into_iter()
            .map(|(child, household, item)| {
                (child, household, item.map_or(DeletionScope::Child, |item| DeletionScope::Item { item }))
            })
            .collect());
    }
    let conn = Connection::open_with_flags(&layout.data_db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.execute("ATTACH DATABASE ?1 AS ks", [layout.keystore().to_str().context("path is not UTF-8")?])?;
    let uuid = |b: Vec<u8>| uuid::Uuid::from_slice(&b);
    let mut out = Vec::new();
    let mut stmt = conn.prepare(
        "SELECT id, household_id FROM children
         WHERE status != 'deleting' AND id NOT IN (SELECT child_id FROM ks.child_keys)",
    )?;
    let mut gone_children = std::collections::HashSet::new();
    for r in stmt.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?)))? {
        let (c, h) = r?;
        gone_children.insert(c.clone());
        out.push((ChildId(uuid(c)?), HouseholdId(uuid(h)?), DeletionScope::Child));
    }
    let mut stmt = conn.prepare(
        "SELECT i.id, i.child_id, c.household_id FROM items i JOIN children c ON c.id = i.child_id
         WHERE i.state = 'live' AND length(i.wrapped_key) = 0
           AND i.id NOT IN (SELECT item_id FROM ks.item_keys)
           AND NOT EXISTS (SELECT 1 FROM item_edges e JOIN items p ON p.id = e.source_id
                           WHERE e.item_id = i.id AND p.state = 'live' AND length(p.wrapped_key) = 0
                             AND p.id NOT IN (SELECT item_id FROM ks.item_keys))",
    )?;
    for r in stmt.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, Vec<u8>>(2)?)))? {
        let (i, c, h) = r?;
        if gone_children.contains(&c) {
            continue;
        }
        out.push((ChildId(uuid(c)?), HouseholdId(uuid(h)?), DeletionScope::Item { item: ItemId(uuid(i)?) }));
    }
    Ok(out)
}

/// The deployment's layout.
fn layout(cfg: &crate::config::Config) -> anyhow::Result<Layout> {
    let (data_db, database) = match cfg.backend()? {
        crate::config::Backend::Sqlite(data_db) => (data_db, None),
        crate::config::Backend::Postgres(url) => (cfg.data_dir.join("kidvault.db"), Some(url)),
    };
    let blobs = match cfg.blobs()? {
        crate::config::Blobs::Local(blobs) => Some(blobs),
        crate::config::Blobs::S3(_) => None,
    };
    let key_file = cfg.key_file();
    let key_dir = key_file.parent().unwrap_or(Path::new(".")).to_owned();
    Ok(Layout { data_db, database, blobs, key_dir })
}

/// The root key of an existing deployment (never created here).
fn root_key(cfg: &crate::config::Config) -> anyhow::Result<kidvault_crypto::FileKeyProvider> {
    let key_file = cfg.key_file();
    anyhow::ensure!(key_file.exists(), "no root key at {}", key_file.display());
    Ok(kidvault_crypto::FileKeyProvider::load_or_create(&key_file)?.0)
}

/// The backup keys of the deployment `cfg` names.
pub fn keys_for(cfg: &crate::config::Config) -> anyhow::Result<BackupKeys> {
    BackupKeys::open(&layout(cfg)?.key_dir)
}

/// `kidvault backup create`.
pub fn create_for(cfg: &crate::config::Config, to: &Path, now: DateTime<Utc>) -> anyhow::Result<Header> {
    let window = cfg.vault_config()?.backup_window;
    let chain = SealChain::load(&crate::app::seal_chain_file(cfg))?;
    create(&layout(cfg)?, &root_key(cfg)?, chain.as_ref(), to, now, window)
}

/// `kidvault restore`: the files, then the ledger's rollback, then what was
/// deleted since the backup deleted again. Returns what it did, in words.
pub async fn restore_into(
    cfg: &crate::config::Config,
    from: &Path,
    parts: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let parts = match parts {
        "data" => Parts::Data,
        "keys" => Parts::Keys,
        "both" => Parts::Both,
        other => bail!("--parts {other:?}: use data, keys or both"),
    };
    let layout = layout(cfg)?;
    let chain = SealChain::load(&crate::app::seal_chain_file(cfg))?;
    let (header, left_out) = restore(&layout, &root_key(cfg)?, chain.as_ref(), from, parts, now)?;
    let vault = crate::app::open(cfg)?;
    let mut said = vec![format!(
        "restored {} of backup {} taken {}",
        match parts {
            Parts::Data => "the data store and blobs",
            Parts::Keys => "the keystore",
            Parts::Both => "the data store, blobs and keystore",
        },
        header.backup_id,
        header.created_at.to_rfc3339()
    )];
    said.extend(left_out);
    if vault.check_anchor().await.is_err() {
        let reason = format!("restored from backup {} taken {}", header.backup_id, header.created_at.to_rfc3339());
        let index = vault.accept_rollback(&reason, now).await?;
        said.push(format!("the ledger's rollback is entry {index}"));
    }
    // As `serve` starts: joins the seal chain (a restored keystore has left
    // it), then seals every restored row under the newest generation.
    vault.prepare(now).await?;
    if matches!(parts, Parts::Keys | Parts::Both) {
        let sealed = vault.reseal_keys(now).await?.resealed;
        said.push(format!("{sealed} restored keystore rows sealed under the seal chain's newest generation"));
    }
    let again = deleted_since(&layout)?;
    let n = vault.redo_deletions(&again, now).await?.len();
    while vault.run_deletions(now).await? > 0 {}
    vault.checkpoint(now).await?;
    said.push(format!(
        "{n} children or items without keys (deleted since the backup, or newer than the keys restored) deleted again"
    ));
    Ok(said.join("; "))
}

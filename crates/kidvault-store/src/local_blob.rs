//! [`BlobStore`] on a local directory, as append-only segment files.
//!
//! One writer thread appends every waiting blob to the current segment and then
//! calls `fdatasync` once for the batch (group commit): a `put` returns only after
//! its bytes are on disk, without paying one fsync per file. Records are
//! `"KVB1" ‖ blob id (16) ‖ length (u64 LE) ‖ ciphertext`; a locator names
//! `segment:offset:length`. Deleting overwrites the bytes with zeros and syncs;
//! compaction of dead space comes with the deletion pipeline. Only ciphertext is
//! ever written here.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

use async_trait::async_trait;
use bytes::Bytes;
use uuid::Uuid;

use crate::model::BlobLocator;
use crate::{BlobStore, Result, StoreError};

const MAGIC: &[u8; 4] = b"KVB1";
const HEADER_LEN: u64 = 28;
const SEGMENT_LIMIT: u64 = 256 * 1024 * 1024;
const MAX_BATCH: usize = 256;

type Reply = tokio::sync::oneshot::Sender<Result<BlobLocator>>;

pub struct LocalBlobStore {
    dir: PathBuf,
    jobs: Option<mpsc::Sender<(Uuid, Bytes, Reply)>>,
    writer: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for LocalBlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalBlobStore")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("seg-{n:08}.kvb"))
}

struct Segment {
    n: u64,
    file: File,
    len: u64,
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn new_segment(dir: &Path, n: u64) -> std::io::Result<Segment> {
    let file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(segment_path(dir, n))?;
    sync_dir(dir)?; // the new file's directory entry must survive a crash too
    Ok(Segment { n, file, len: 0 })
}

impl LocalBlobStore {
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        // Always start a fresh segment: a torn, unacknowledged tail of the last one
        // is never referenced and never appended after.
        let last = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_prefix("seg-")?
                    .strip_suffix(".kvb")?
                    .parse::<u64>()
                    .ok()
            })
            .max()
            .unwrap_or(0);
        let segment = new_segment(dir, last + 1)?;
        let (tx, rx) = mpsc::channel();
        let writer_dir = dir.to_owned();
        let writer = std::thread::Builder::new()
            .name("blob-writer".into())
            .spawn(move || writer_loop(&writer_dir, segment, &rx))?;
        Ok(Self {
            dir: dir.to_owned(),
            jobs: Some(tx),
            writer: Some(writer),
        })
    }

    fn parse(&self, loc: &BlobLocator) -> Result<(PathBuf, u64, u64)> {
        let bad = || StoreError::Corrupt(format!("bad blob locator {:?}", loc.0));
        let rest = loc.0.strip_prefix("local:").ok_or_else(bad)?;
        let mut parts = rest.split(':').map(str::parse::<u64>);
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(Ok(seg)), Some(Ok(off)), Some(Ok(len)), None) => {
                Ok((segment_path(&self.dir, seg), off, len))
            }
            _ => Err(bad()),
        }
    }
}

impl Drop for LocalBlobStore {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

fn append(dir: &Path, seg: &mut Segment, id: Uuid, data: &[u8]) -> std::io::Result<BlobLocator> {
    if seg.len > 0 && seg.len + HEADER_LEN + data.len() as u64 > SEGMENT_LIMIT {
        seg.file.sync_data()?;
        *seg = new_segment(dir, seg.n + 1)?;
    }
    let mut header = [0u8; HEADER_LEN as usize];
    header[..4].copy_from_slice(MAGIC);
    header[4..20].copy_from_slice(id.as_bytes());
    header[20..].copy_from_slice(&(data.len() as u64).to_le_bytes());
    seg.file.write_all(&header)?;
    seg.file.write_all(data)?;
    let offset = seg.len + HEADER_LEN;
    seg.len = offset + data.len() as u64;
    Ok(BlobLocator(format!(
        "local:{}:{}:{}",
        seg.n,
        offset,
        data.len()
    )))
}

fn writer_loop(dir: &Path, mut seg: Segment, jobs: &mpsc::Receiver<(Uuid, Bytes, Reply)>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let written: Vec<(Reply, std::io::Result<BlobLocator>)> = batch
            .into_iter()
            .map(|(id, data, reply)| (reply, append(dir, &mut seg, id, &data)))
            .collect();
        let synced = seg.file.sync_data();
        for (reply, res) in written {
            let out = match (&synced, res) {
                (Ok(()), Ok(loc)) => Ok(loc),
                (Err(e), _) => Err(StoreError::Backend(format!("blob sync failed: {e}"))),
                (_, Err(e)) => Err(StoreError::Backend(format!("blob write failed: {e}"))),
            };
            let _ = reply.send(out);
        }
    }
    let _ = seg.file.sync_data();
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    async fn put(&self, id: Uuid, ciphertext: Bytes) -> Result<BlobLocator> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .as_ref()
            .ok_or_else(|| StoreError::Backend("blob store is closed".into()))?
            .send((id, ciphertext, tx))
            .map_err(|_| StoreError::Backend("blob writer has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Backend("blob writer has stopped".into()))?
    }

    async fn get(&self, loc: &BlobLocator) -> Result<Bytes> {
        let (path, off, len) = self.parse(loc)?;
        tokio::task::spawn_blocking(move || {
            let file = File::open(&path).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => StoreError::NotFound,
                _ => e.into(),
            })?;
            let mut buf = vec![
                0u8;
                usize::try_from(len)
                    .map_err(|_| StoreError::Corrupt("blob too large".into()))?
            ];
            file.read_exact_at(&mut buf, off)?;
            Ok(Bytes::from(buf))
        })
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?
    }

    async fn delete(&self, loc: &BlobLocator) -> Result<()> {
        let (path, off, len) = self.parse(loc)?;
        tokio::task::spawn_blocking(move || {
            let file = OpenOptions::new().write(true).open(&path)?;
            let zeros = vec![0u8; 64 * 1024];
            let mut done = 0u64;
            while done < len {
                let n = (len - done).min(zeros.len() as u64);
                file.write_all_at(&zeros[..n as usize], off + done)?;
                done += n;
            }
            file.sync_data()?;
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?
    }
}

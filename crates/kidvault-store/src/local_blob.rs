//! [`BlobStore`] on a local directory, as append-only segment files.
//!
//! One writer thread appends every waiting blob to the current segment and then
//! calls `fdatasync` once for the batch (group commit): a `put` returns only after
//! its bytes are on disk, without paying one fsync per file. Records are
//! `"KVB1" ‖ blob id (16) ‖ length (u64 LE) ‖ ciphertext ‖ zero padding` to a 4 KiB
//! boundary; a locator names `segment:offset:length`. Segments are written with
//! `O_DIRECT` from one aligned buffer per batch (no page-cache copy, no writeback
//! work), falling back to buffered writes where the filesystem refuses it. The
//! buffer is reused and its padding zeroed, so no stale bytes reach the disk.
//! Deleting zeroes whole records (header included) in place, with `O_DIRECT` and
//! one sync per segment. Only ciphertext is ever written here.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
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
/// Bounds the reused write buffer: a batch stops growing at 16 MiB of blobs.
const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;

type Reply = tokio::sync::oneshot::Sender<Result<BlobLocator>>;

pub struct LocalBlobStore {
    dir: PathBuf,
    jobs: Option<mpsc::Sender<(Uuid, Bytes, Reply)>>,
    writer: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for LocalBlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalBlobStore").field("dir", &self.dir).finish_non_exhaustive()
    }
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("seg-{n:08}.kvb"))
}

const ALIGN: usize = 4096;

struct Segment {
    n: u64,
    file: File,
    /// Always a multiple of [`ALIGN`].
    len: u64,
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn new_segment(dir: &Path, n: u64) -> std::io::Result<Segment> {
    let path = segment_path(dir, n);
    let direct = OpenOptions::new().create_new(true).write(true).custom_flags(libc::O_DIRECT).open(&path);
    let file = match direct {
        Ok(f) => f,
        // tmpfs and some network filesystems refuse O_DIRECT.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            let _ = std::fs::remove_file(&path);
            OpenOptions::new().create_new(true).write(true).open(&path)?
        }
        Err(e) => return Err(e),
    };
    sync_dir(dir)?; // the new file's directory entry must survive a crash too
    Ok(Segment { n, file, len: 0 })
}

fn padded(len: usize) -> usize {
    len.div_ceil(ALIGN) * ALIGN
}

/// A reusable buffer whose working slice starts on an [`ALIGN`] boundary.
struct AlignedBuf {
    raw: Vec<u8>,
}

impl AlignedBuf {
    fn slice(&mut self, len: usize) -> &mut [u8] {
        if self.raw.len() < len + ALIGN {
            self.raw = vec![0; len + ALIGN];
        }
        let off = self.raw.as_ptr().align_offset(ALIGN);
        &mut self.raw[off..off + len]
    }
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
                name.strip_prefix("seg-")?.strip_suffix(".kvb")?.parse::<u64>().ok()
            })
            .max()
            .unwrap_or(0);
        let segment = new_segment(dir, last + 1)?;
        let (tx, rx) = mpsc::channel();
        let writer_dir = dir.to_owned();
        let writer = std::thread::Builder::new()
            .name("blob-writer".into())
            .spawn(move || writer_loop(&writer_dir, segment, &rx))?;
        Ok(Self { dir: dir.to_owned(), jobs: Some(tx), writer: Some(writer) })
    }

    fn parse(&self, loc: &BlobLocator) -> Result<(PathBuf, u64, u64)> {
        let bad = || StoreError::Corrupt(format!("bad blob locator {:?}", loc.0));
        let rest = loc.0.strip_prefix("local:").ok_or_else(bad)?;
        let mut parts = rest.split(':').map(str::parse::<u64>);
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(Ok(seg)), Some(Ok(off)), Some(Ok(len)), None) => Ok((segment_path(&self.dir, seg), off, len)),
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

/// Writes one batch as a single aligned write; returns each blob's locator.
fn append_batch(
    dir: &Path,
    seg: &mut Segment,
    buf: &mut AlignedBuf,
    blobs: &[(Uuid, Bytes)],
) -> std::io::Result<Vec<BlobLocator>> {
    let total: usize = blobs.iter().map(|(_, d)| padded(HEADER_LEN as usize + d.len())).sum();
    if seg.len > 0 && seg.len + total as u64 > SEGMENT_LIMIT {
        seg.file.sync_data()?;
        *seg = new_segment(dir, seg.n + 1)?;
    }
    let out = buf.slice(total);
    let mut pos = 0usize;
    let mut locators = Vec::with_capacity(blobs.len());
    for (id, data) in blobs {
        let rec = padded(HEADER_LEN as usize + data.len());
        let r = &mut out[pos..pos + rec];
        r[..4].copy_from_slice(MAGIC);
        r[4..20].copy_from_slice(id.as_bytes());
        r[20..28].copy_from_slice(&(data.len() as u64).to_le_bytes());
        r[28..28 + data.len()].copy_from_slice(data);
        r[28 + data.len()..].fill(0);
        locators.push(BlobLocator(format!("local:{}:{}:{}", seg.n, seg.len + pos as u64 + HEADER_LEN, data.len())));
        pos += rec;
    }
    seg.file.write_all_at(out, seg.len)?;
    seg.len += total as u64;
    Ok(locators)
}

fn writer_loop(dir: &Path, mut seg: Segment, jobs: &mpsc::Receiver<(Uuid, Bytes, Reply)>) {
    let mut buf = AlignedBuf { raw: Vec::new() };
    while let Some(batch) = crate::batch::next_batch(jobs, MAX_BATCH, MAX_BATCH_BYTES, |(_, data, _)| data.len()) {
        let (blobs, replies): (Vec<(Uuid, Bytes)>, Vec<Reply>) =
            batch.into_iter().map(|(id, data, reply)| ((id, data), reply)).unzip();
        let written = append_batch(dir, &mut seg, &mut buf, &blobs).and_then(|locs| {
            seg.file.sync_data()?;
            Ok(locs)
        });
        match written {
            Ok(locs) => {
                for (reply, loc) in replies.into_iter().zip(locs) {
                    let _ = reply.send(Ok(loc));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "blob batch write failed");
                let full = crate::is_full(&e);
                for reply in replies {
                    let why = format!("blob write failed: {e}");
                    let _ = reply.send(Err(if full { StoreError::Full(why) } else { StoreError::Backend(why) }));
                }
                // Never append after a torn write: continue in a fresh segment.
                match new_segment(dir, seg.n + 1) {
                    Ok(s) => seg = s,
                    Err(e) => tracing::error!(error = %e, "could not open a new blob segment"),
                }
            }
        }
    }
    let _ = seg.file.sync_data();
}

/// Opens a segment to zero records in place: O_DIRECT where the filesystem
/// allows it (no page-cache copy), buffered otherwise.
fn open_for_erase(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .or_else(|_| OpenOptions::new().write(true).open(path))
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
        rx.await.map_err(|_| StoreError::Backend("blob writer has stopped".into()))?
    }

    fn holds(&self, loc: &BlobLocator) -> bool {
        self.parse(loc).is_ok()
    }

    async fn get(&self, loc: &BlobLocator) -> Result<Bytes> {
        let (path, off, len) = self.parse(loc)?;
        tokio::task::spawn_blocking(move || {
            let file = File::open(&path).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => StoreError::NotFound,
                _ => e.into(),
            })?;
            let len = usize::try_from(len).map_err(|_| StoreError::Corrupt("blob too large".into()))?;
            // Read into spare capacity: no pass to zero a buffer about to be overwritten.
            let mut buf = Vec::with_capacity(len);
            let mut file = std::io::Read::take(file, len as u64);
            std::io::Seek::seek(file.get_mut(), std::io::SeekFrom::Start(off))?;
            std::io::Read::read_to_end(&mut file, &mut buf)?;
            if buf.len() != len {
                return Err(StoreError::Corrupt("blob shorter than its locator".into()));
            }
            Ok(Bytes::from(buf))
        })
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?
    }

    async fn delete_many(&self, locators: &[BlobLocator]) -> Result<()> {
        // Whole records (header, bytes, padding: 4 KiB-aligned), grouped by
        // segment, adjacent ones merged; zeroed with O_DIRECT, one sync per segment.
        if locators.is_empty() {
            return Ok(());
        }
        let mut by_segment: std::collections::BTreeMap<PathBuf, Vec<(u64, u64)>> = Default::default();
        for loc in locators {
            let (path, off, len) = self.parse(loc)?;
            let start = off.checked_sub(HEADER_LEN).ok_or_else(|| StoreError::Corrupt("bad blob offset".into()))?;
            by_segment.entry(path).or_default().push((start, padded((HEADER_LEN + len) as usize) as u64));
        }
        tokio::task::spawn_blocking(move || {
            let mut zeros = AlignedBuf { raw: Vec::new() };
            let zeros = zeros.slice(1 << 20);
            zeros.fill(0);
            for (path, mut ranges) in by_segment {
                let file = match open_for_erase(&path) {
                    Ok(f) => f,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e.into()),
                };
                ranges.sort_unstable();
                let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
                for (start, len) in ranges {
                    match merged.last_mut() {
                        Some((s, l)) if *s + *l >= start => *l = (*l).max(start + len - *s),
                        _ => merged.push((start, len)),
                    }
                }
                for (start, len) in merged {
                    let mut done = 0u64;
                    while done < len {
                        let n = (len - done).min(zeros.len() as u64);
                        file.write_all_at(&zeros[..n as usize], start + done)?;
                        done += n;
                    }
                }
                file.sync_data()?;
            }
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?
    }

    async fn delete(&self, loc: &BlobLocator) -> Result<()> {
        self.delete_many(std::slice::from_ref(loc)).await
    }
}

/// Scans every segment in `dir` for records of the given blob ids whose bytes are
/// not all zeros (what deletion must leave). Returns `(segment, offset, id)`.
pub fn residue(dir: &Path, ids: &[Uuid]) -> std::io::Result<Vec<(PathBuf, u64, Uuid)>> {
    let mut found = Vec::new();
    let mut segments: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "kvb"))
        .collect();
    segments.sort();
    for path in segments {
        let bytes = std::fs::read(&path)?;
        let mut off = 0usize;
        while off + HEADER_LEN as usize <= bytes.len() {
            if &bytes[off..off + 4] != MAGIC {
                // An erased record: zeros to the next block. Anything else ends the
                // segment (a torn tail).
                if bytes[off..(off + ALIGN).min(bytes.len())].iter().all(|b| *b == 0) {
                    off += ALIGN;
                    continue;
                }
                break;
            }
            let id = Uuid::from_slice(&bytes[off + 4..off + 20]).unwrap_or_default();
            let mut len_bytes = [0u8; 8];
            len_bytes.copy_from_slice(&bytes[off + 20..off + 28]);
            let len = u64::from_le_bytes(len_bytes) as usize;
            let data = bytes.get(off + 28..off + 28 + len).unwrap_or(&[]);
            if ids.contains(&id) && data.iter().any(|b| *b != 0) {
                found.push((path.clone(), off as u64, id));
            }
            off += padded(HEADER_LEN as usize + len);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn residue_finds_live_blobs_and_not_deleted_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path()).unwrap();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let la = store.put(a, Bytes::from(vec![7u8; 5000])).await.unwrap();
        store.put(b, Bytes::from(vec![9u8; 100])).await.unwrap();
        let found = residue(dir.path(), &[a]).unwrap();
        assert_eq!(found.iter().map(|(_, _, id)| *id).collect::<Vec<_>>(), vec![a]);
        store.delete(&la).await.unwrap();
        assert!(residue(dir.path(), &[a]).unwrap().is_empty());
        assert_eq!(residue(dir.path(), &[b]).unwrap().len(), 1, "others untouched");
    }
}

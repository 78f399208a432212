//! The space reserve of an embedded deployment: a ballast file on the data
//! volume (`<data_dir>/space-reserve`, written out, so it holds real blocks).
//! When the disk fills, the service releases it, and the room it held lets
//! reads record their access and deletions finish
//! ([`kidvault_service::storage`]); it is set aside again once the volume has
//! room for it and as much again (checked by writing both, never by guessing).

use std::io::Write;
use std::path::{Path, PathBuf};

use kidvault_service::storage::SpaceReserve;

#[derive(Debug)]
pub struct FileReserve {
    path: PathBuf,
    probe: PathBuf,
    bytes: u64,
}

impl FileReserve {
    /// Sets `bytes` aside in `dir` (keeping a reserve already there).
    pub fn create(dir: &Path, bytes: u64) -> std::io::Result<Self> {
        let reserve = Self { path: dir.join("space-reserve"), probe: dir.join("space-reserve.probe"), bytes };
        let _ = std::fs::remove_file(&reserve.probe);
        if std::fs::metadata(&reserve.path).map(|m| m.len()).ok() != Some(bytes) {
            write_zeros(&reserve.path, bytes)?;
        }
        Ok(reserve)
    }
}

/// Writes `bytes` zeros to `path` and syncs; on failure nothing is left.
fn write_zeros(path: &Path, bytes: u64) -> std::io::Result<()> {
    let written = (|| {
        let file = std::fs::File::create(path)?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, &file);
        let chunk = vec![0u8; 1 << 20];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            w.write_all(&chunk[..n])?;
            left -= n as u64;
        }
        w.flush()?;
        drop(w);
        file.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(path);
    }
    written
}

impl SpaceReserve for FileReserve {
    fn release(&self) {
        match std::fs::remove_file(&self.path) {
            Ok(()) => tracing::warn!(bytes = self.bytes, "released the space reserve for reads and deletions"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::error!(error = %e, "could not release the space reserve"),
        }
    }

    fn restore(&self) -> bool {
        // Room for the reserve and as much again, or the reserve stays released.
        let room = write_zeros(&self.probe, self.bytes).and_then(|()| write_zeros(&self.path, self.bytes));
        let _ = std::fs::remove_file(&self.probe);
        match room {
            Ok(()) => true,
            Err(_) => {
                let _ = std::fs::remove_file(&self.path);
                false
            }
        }
    }
}

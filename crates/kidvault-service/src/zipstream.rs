//! A streaming ZIP writer: entries are STORED (audio and JSON gain little from
//! deflate, and storing keeps the writer simple and the CPU free) with a data
//! descriptor after each, so nothing needs to be known before the bytes go out
//! and nothing is buffered beyond one entry. Each finished part is handed to a
//! sink as it is produced; the archive never touches the disk.
//!
//! Limits: no ZIP64, so each entry and the whole archive stay under 4 GiB and
//! 65,535 entries; going past is an error, never a corrupt archive.

use bytes::{BufMut, Bytes, BytesMut};

/// CRC-32 (IEEE 802.3, as ZIP uses).
pub fn crc32(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, slot) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            }
            *slot = c;
        }
        t
    });
    !data.iter().fold(!0u32, |c, b| table[((c ^ u32::from(*b)) & 0xFF) as usize] ^ (c >> 8))
}

#[derive(Debug)]
struct Central {
    name: String,
    crc: u32,
    size: u32,
    offset: u32,
    dos_time: u16,
    dos_date: u16,
}

/// Why an archive cannot be written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ZipError {
    #[error("the archive would pass 4 GiB or 65,535 entries (ZIP64 is not supported)")]
    TooLarge,
}

/// Builds an archive part by part; every method returns the bytes to send next.
#[derive(Debug, Default)]
pub struct ZipStream {
    offset: u64,
    entries: Vec<Central>,
}

fn dos_datetime(t: chrono::DateTime<chrono::Utc>) -> (u16, u16) {
    use chrono::{Datelike, Timelike};
    let year = t.year().clamp(1980, 2107) as u16;
    let time = ((t.hour() as u16) << 11) | ((t.minute() as u16) << 5) | (t.second() as u16 / 2);
    let date = ((year - 1980) << 9) | ((t.month() as u16) << 5) | t.day() as u16;
    (time, date)
}

impl ZipStream {
    /// One whole file: local header, content, data descriptor.
    pub fn file(
        &mut self,
        name: &str,
        modified: chrono::DateTime<chrono::Utc>,
        data: &[u8],
    ) -> Result<Bytes, ZipError> {
        let size = u32::try_from(data.len()).map_err(|_| ZipError::TooLarge)?;
        let offset = u32::try_from(self.offset).map_err(|_| ZipError::TooLarge)?;
        if self.entries.len() >= 0xFFFF {
            return Err(ZipError::TooLarge);
        }
        let (dos_time, dos_date) = dos_datetime(modified);
        let crc = crc32(data);
        let mut b = BytesMut::with_capacity(30 + name.len() + data.len() + 16);
        b.put_u32_le(0x0403_4b50);
        b.put_u16_le(20); // version needed
        b.put_u16_le(0x0808); // data descriptor follows; names are UTF-8
        b.put_u16_le(0); // stored
        b.put_u16_le(dos_time);
        b.put_u16_le(dos_date);
        b.put_u32_le(0); // crc, sizes: in the descriptor
        b.put_u32_le(0);
        b.put_u32_le(0);
        b.put_u16_le(name.len() as u16);
        b.put_u16_le(0);
        b.put_slice(name.as_bytes());
        b.put_slice(data);
        b.put_u32_le(0x0807_4b50);
        b.put_u32_le(crc);
        b.put_u32_le(size);
        b.put_u32_le(size);
        self.offset += b.len() as u64;
        if self.offset > u64::from(u32::MAX) {
            return Err(ZipError::TooLarge);
        }
        self.entries.push(Central { name: name.to_owned(), crc, size, offset, dos_time, dos_date });
        Ok(b.freeze())
    }

    /// The central directory and its end record: the archive's last bytes.
    pub fn finish(self) -> Result<Bytes, ZipError> {
        let mut b = BytesMut::new();
        let start = u32::try_from(self.offset).map_err(|_| ZipError::TooLarge)?;
        for e in &self.entries {
            b.put_u32_le(0x0201_4b50);
            b.put_u16_le(0x031E); // made by: Unix, spec 3.0
            b.put_u16_le(20);
            b.put_u16_le(0x0808);
            b.put_u16_le(0);
            b.put_u16_le(e.dos_time);
            b.put_u16_le(e.dos_date);
            b.put_u32_le(e.crc);
            b.put_u32_le(e.size);
            b.put_u32_le(e.size);
            b.put_u16_le(e.name.len() as u16);
            b.put_u16_le(0); // extra
            b.put_u16_le(0); // comment
            b.put_u16_le(0); // disk
            b.put_u16_le(0); // internal attributes
            b.put_u32_le(0o100644 << 16); // regular file, rw-r--r--
            b.put_u32_le(e.offset);
            b.put_slice(e.name.as_bytes());
        }
        let size = u32::try_from(b.len()).map_err(|_| ZipError::TooLarge)?;
        start.checked_add(size).ok_or(ZipError::TooLarge)?;
        b.put_u32_le(0x0605_4b50);
        b.put_u16_le(0);
        b.put_u16_le(0);
        b.put_u16_le(self.entries.len() as u16);
        b.put_u16_le(self.entries.len() as u16);
        b.put_u32_le(size);
        b.put_u32_le(start);
        b.put_u16_le(0);
        Ok(b.freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn an_archive_reads_back_with_an_independent_unzip() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-28T10:20:30Z").unwrap().with_timezone(&chrono::Utc);
        let mut z = ZipStream::default();
        let mut out = Vec::new();
        out.extend_from_slice(&z.file("README.txt", t, b"hello").unwrap());
        out.extend_from_slice(&z.file("audio/é.wav", t, &[0u8, 1, 2, 255]).unwrap());
        out.extend_from_slice(&z.file("empty", t, b"").unwrap());
        out.extend_from_slice(&z.finish().unwrap());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.zip");
        std::fs::write(&path, &out).unwrap();
        let script = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\n\
                      print(sorted((i.filename, i.file_size, i.date_time) for i in z.infolist()))\n\
                      print(z.read('README.txt').decode(), list(z.read('audio/é.wav')))";
        let py = std::process::Command::new("python3").arg("-c").arg(script).arg(&path).output().unwrap();
        assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
        let text = String::from_utf8(py.stdout).unwrap();
        assert!(text.contains("('README.txt', 5, (2026, 11, 28, 10, 20, 30))"), "{text}");
        assert!(text.contains("('audio/é.wav', 4,") && text.contains("('empty', 0,"), "{text}");
        assert!(text.contains("hello [0, 1, 2, 255]"), "{text}");
    }
}

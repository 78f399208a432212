//! A streaming ZIP writer: entries are STORED (audio and JSON gain little from
//! deflate, and storing keeps the writer simple and the CPU free) with a data
//! descriptor after each, so nothing needs to be known before the bytes go out
//! and nothing is buffered beyond one entry. Each finished part is handed to a
//! sink as it is produced; the archive never touches the disk.
//!
//! ZIP64 where it is needed: more than 65,535 entries (a location every 30 s
//! for a month is ~86,000), or entries and a central directory past 4 GiB.
//! Each single entry stays under 4 GiB (a recording is a few MiB); a larger one
//! is an error, never a corrupt archive. Written here rather than with a general
//! ZIP crate: the writer must stream with data descriptors and never touch the
//! disk, and ZIP64 adds only the records below (APPNOTE 6.3.10, 4.3.14-4.3.15,
//! 4.5.3).

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
    offset: u64,
    dos_time: u16,
    dos_date: u16,
}

/// Why an archive cannot be written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ZipError {
    #[error("one file of the archive would pass 4 GiB")]
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
        let offset = self.offset;
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
        self.entries.push(Central { name: name.to_owned(), crc, size, offset, dos_time, dos_date });
        Ok(b.freeze())
    }

    /// The central directory and its end records: the archive's last bytes.
    pub fn finish(self) -> Result<Bytes, ZipError> {
        const MAX16: u64 = 0xFFFF;
        const MAX32: u64 = 0xFFFF_FFFF;
        let mut b = BytesMut::new();
        let start = self.offset;
        for e in &self.entries {
            // An offset past 4 GiB goes in a ZIP64 extra field instead.
            let far = e.offset >= MAX32;
            b.put_u32_le(0x0201_4b50);
            b.put_u16_le(if far { 0x032D } else { 0x031E }); // made by: Unix, spec 4.5 / 3.0
            b.put_u16_le(if far { 45 } else { 20 });
            b.put_u16_le(0x0808);
            b.put_u16_le(0);
            b.put_u16_le(e.dos_time);
            b.put_u16_le(e.dos_date);
            b.put_u32_le(e.crc);
            b.put_u32_le(e.size);
            b.put_u32_le(e.size);
            b.put_u16_le(e.name.len() as u16);
            b.put_u16_le(if far { 12 } else { 0 }); // extra
            b.put_u16_le(0); // comment
            b.put_u16_le(0); // disk
            b.put_u16_le(0); // internal attributes
            b.put_u32_le(0o100644 << 16); // regular file, rw-r--r--
            b.put_u32_le(e.offset.min(MAX32) as u32);
            b.put_slice(e.name.as_bytes());
            if far {
                b.put_u16_le(0x0001); // ZIP64 extended information
                b.put_u16_le(8);
                b.put_u64_le(e.offset);
            }
        }
        let size = b.len() as u64;
        let count = self.entries.len() as u64;
        if count >= MAX16 || size >= MAX32 || start >= MAX32 {
            let record = start + size;
            b.put_u32_le(0x0606_4b50); // ZIP64 end of central directory record
            b.put_u64_le(44);
            b.put_u16_le(0x032D);
            b.put_u16_le(45);
            b.put_u32_le(0);
            b.put_u32_le(0);
            b.put_u64_le(count);
            b.put_u64_le(count);
            b.put_u64_le(size);
            b.put_u64_le(start);
            b.put_u32_le(0x0706_4b50); // its locator
            b.put_u32_le(0);
            b.put_u64_le(record);
            b.put_u32_le(1);
        }
        b.put_u32_le(0x0605_4b50);
        b.put_u16_le(0);
        b.put_u16_le(0);
        b.put_u16_le(count.min(MAX16) as u16);
        b.put_u16_le(count.min(MAX16) as u16);
        b.put_u32_le(size.min(MAX32) as u32);
        b.put_u32_le(start.min(MAX32) as u32);
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

    /// Python's zipfile over an archive written to `path`: entry count, names
    /// checked by CRC, and the content of the entries named in `read`.
    fn python_reads(path: &std::path::Path, read: &[&str]) -> String {
        let script = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\n\
                      names = z.namelist()\nprint(len(names), len(set(names)))\n\
                      for n in sys.argv[2:]:\n    print(n, z.read(n).decode())";
        let py = std::process::Command::new("python3").arg("-c").arg(script).arg(path).args(read).output().unwrap();
        assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
        String::from_utf8(py.stdout).unwrap()
    }

    #[test]
    fn more_than_65535_entries_take_zip64_and_read_back() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-28T10:20:30Z").unwrap().with_timezone(&chrono::Utc);
        let mut z = ZipStream::default();
        let mut out = Vec::new();
        for i in 0..70_000u32 {
            out.extend_from_slice(
                &z.file(&format!("locations/{i}.json"), t, format!("{{\"n\":{i}}}").as_bytes()).unwrap(),
            );
        }
        out.extend_from_slice(&z.finish().unwrap());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("many.zip");
        std::fs::write(&path, &out).unwrap();
        let text = python_reads(&path, &["locations/0.json", "locations/69999.json"]);
        assert!(text.starts_with("70000 70000\n"), "{text}");
        assert!(text.contains("locations/69999.json {\"n\":69999}"), "{text}");
    }

    #[test]
    fn entries_past_4_gib_take_zip64_offsets_and_read_back() {
        // The archive as it would be after 5 GiB of earlier entries, written
        // into a sparse file at its real offsets (the hole costs no disk).
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-28T10:20:30Z").unwrap().with_timezone(&chrono::Utc);
        let mut z = ZipStream::default();
        let mut parts = vec![(0u64, z.file("first.txt", t, b"near").unwrap())];
        z.offset = 5 << 30;
        parts.push((z.offset, z.file("far.txt", t, b"far away").unwrap()));
        parts.push((z.offset, z.finish().unwrap()));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("far.zip");
        let file = std::fs::File::create(&path).unwrap();
        for (at, bytes) in &parts {
            std::os::unix::fs::FileExt::write_all_at(&file, bytes, *at).unwrap();
        }
        drop(file);
        let text = python_reads(&path, &["first.txt", "far.txt"]);
        assert!(text.contains("first.txt near") && text.contains("far.txt far away"), "{text}");
    }
}

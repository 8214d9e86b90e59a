//! gzip bodies joined from parts compressed apart: each part is raw deflate
//! ending on a sync flush (byte-aligned, no final block), so parts compressed
//! once per cycle concatenate into one gzip member; the checksum is the
//! combination of the parts' CRC-32s (RFC 1952 framing).

use bytes::Bytes;
use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// One part, compressed.
#[derive(Debug, Default)]
pub(crate) struct Deflated {
    pub data: Bytes,
    pub crc: Crc,
}

/// Compress `raw` at `level` (0–9) as a part of a deflate stream; `None` if
/// the compressor fails (the page is then served uncompressed).
pub(crate) fn deflate(raw: &[u8], level: u32) -> Option<Deflated> {
    let mut crc = Crc::new();
    crc.update(raw);
    if raw.is_empty() {
        return Some(Deflated {
            data: Bytes::new(),
            crc,
        });
    }
    let mut c = Compress::new(Compression::new(level.min(9)), false);
    let mut out = Vec::with_capacity(raw.len() / 4 + 64);
    loop {
        let done = c.total_in() as usize;
        let status = c
            .compress_vec(&raw[done..], &mut out, FlushCompress::Sync)
            .ok()?;
        let all_in = c.total_in() as usize == raw.len();
        // Flushed when the input is consumed and output room was left over.
        if all_in && out.len() < out.capacity() && status != Status::BufError {
            break;
        }
        out.reserve(out.capacity().max(4096));
    }
    Some(Deflated {
        data: Bytes::from(out),
        crc,
    })
}

/// The gzip member made of `parts`, in order: header, the parts' deflate
/// data, an empty final block, then CRC-32 and length.
pub(crate) fn member<'a>(parts: impl IntoIterator<Item = &'a Deflated>) -> Vec<Bytes> {
    // Magic, deflate, no flags, no mtime, no extra flags, unknown OS.
    let mut body = vec![Bytes::from_static(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff])];
    let mut crc = Crc::new();
    for p in parts {
        crc.combine(&p.crc);
        if !p.data.is_empty() {
            body.push(p.data.clone());
        }
    }
    let mut tail = Vec::with_capacity(10);
    // Final block: fixed Huffman codes, just the end-of-block code.
    tail.extend_from_slice(&[0x03, 0x00]);
    tail.extend_from_slice(&crc.sum().to_le_bytes());
    tail.extend_from_slice(&crc.amount().to_le_bytes());
    body.push(Bytes::from(tail));
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    fn gunzip(parts: &[Bytes]) -> Vec<u8> {
        let all: Vec<u8> = parts.iter().flat_map(|b| b.iter().copied()).collect();
        let mut d = flate2::read::GzDecoder::new(&all[..]);
        let mut out = Vec::new();
        d.read_to_end(&mut out).expect("a valid gzip member");
        out
    }

    #[test]
    fn parts_compressed_apart_make_one_member() {
        let a = b"kurento_up{kms=\"a\"} 1\n".repeat(1000);
        let b: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let pieces = [
            deflate(&a, 1).unwrap(),
            deflate(b"", 1).unwrap(),
            deflate(&b, 6).unwrap(),
            deflate(b"# EOF\n", 1).unwrap(),
        ];
        let body = member(&pieces);
        let mut want = a.clone();
        want.extend_from_slice(&b);
        want.extend_from_slice(b"# EOF\n");
        assert_eq!(gunzip(&body), want);
        assert!(pieces[0].data.len() < a.len() / 20);
    }

    #[test]
    fn an_empty_page_is_a_valid_member() {
        assert_eq!(gunzip(&member(&[])), b"");
    }
}

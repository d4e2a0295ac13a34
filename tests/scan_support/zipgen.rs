//! Zips as streaming writers make them, for the scan tests and the `tree_walk` fuzz
//! target (which includes this file by path): the zip crate writes sizes up front.

use std::io::Write;

/// A zip as a streaming writer (Python's `zipfile` on a pipe) writes it: each member's
/// CRC and sizes in a data descriptor after its data (APPNOTE.TXT 4.3.9), zeros in its
/// local header; `signature`: whether the descriptors carry their optional signature.
pub fn zip_with_descriptors(members: &[(String, Vec<u8>)], signature: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in members {
        let offset = out.len() as u32;
        let mut deflate =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        deflate.write_all(data).unwrap();
        let packed = deflate.finish().unwrap();
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let sizes = [crc.sum(), packed.len() as u32, data.len() as u32];
        let header = |out: &mut Vec<u8>, central: bool| {
            let sig: u32 = if central { 0x0201_4b50 } else { 0x0403_4b50 };
            out.extend(sig.to_le_bytes());
            if central {
                out.extend(20u16.to_le_bytes());
            }
            out.extend(20u16.to_le_bytes());
            out.extend(0x08u16.to_le_bytes());
            out.extend(8u16.to_le_bytes());
            out.extend([0u8; 4]);
            for v in sizes {
                out.extend(if central { v } else { 0 }.to_le_bytes());
            }
            out.extend((name.len() as u16).to_le_bytes());
            out.extend(0u16.to_le_bytes());
            if central {
                out.extend([0u8; 6]);
                out.extend(0u32.to_le_bytes());
                out.extend(offset.to_le_bytes());
            }
            out.extend(name.as_bytes());
        };
        header(&mut out, false);
        out.extend(&packed);
        if signature {
            out.extend(0x0807_4b50u32.to_le_bytes());
        }
        for v in sizes {
            out.extend(v.to_le_bytes());
        }
        header(&mut central, true);
    }
    let start = out.len() as u32;
    out.extend(&central);
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend([0u8; 4]);
    out.extend((members.len() as u16).to_le_bytes());
    out.extend((members.len() as u16).to_le_bytes());
    out.extend((central.len() as u32).to_le_bytes());
    out.extend(start.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

//! EVTX through the `evtx` crate, streamed chunk by chunk from any reader (a file, a zip
//! member, stdin): the 4 KiB file header, then 64 KiB chunks, one in memory at a time.
//! Each record is rendered to XML by the crate and read by the XmlWinEventLog reader,
//! so both formats go through the same field extraction.
//!
//! Chunks are read in file order. (`EvtxParser` starts a wrapped-around log at its
//! oldest chunk, which needs seeking; the records are the same, only their order differs.)

use std::io::{Cursor, Read};
use std::sync::Arc;

use evtx::{EvtxChunkData, EvtxFileHeader, ParserSettings};

use super::fields::Fields;
use super::{Location, SourceScan, Stopped};

const HEADER_SIZE: usize = 4096;
const CHUNK_SIZE: usize = 65536;
/// After this many unreadable records in one chunk, the rest of the chunk is skipped.
pub const MAX_ERRORS_PER_CHUNK: u32 = 64;

/// Reads as many bytes as `buf` holds, unless the stream ends first; returns how many.
fn read_full<R: Read>(reader: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(buf.get_mut(filled..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

pub(crate) fn scan<R: Read>(mut reader: R, scan: &mut SourceScan<'_>) -> Result<(), Stopped> {
    let mut header = vec![0u8; HEADER_SIZE];
    match read_full(&mut reader, &mut header) {
        Ok(n) if n == HEADER_SIZE => {}
        Ok(n) => {
            return scan.source_error(format!("EVTX file header cut short ({n} of 4096 bytes)"))
        }
        Err(e) => return scan.source_error(format!("cannot read the EVTX file header: {e}")),
    }
    scan.add_bytes(HEADER_SIZE as u64);
    if let Err(e) = EvtxFileHeader::from_stream(&mut Cursor::new(&header)) {
        return scan.source_error(format!("invalid EVTX file header: {e}"));
    }
    // Compact XML: indentation would only add bytes for the XML reader to skip.
    let settings = Arc::new(ParserSettings::default().num_threads(1).indent(false));
    let mut fields = Fields::default();
    let mut chunk_number: u64 = 0;
    loop {
        let offset = (HEADER_SIZE + chunk_number as usize * CHUNK_SIZE) as u64;
        let mut data = vec![0u8; CHUNK_SIZE];
        let n = match read_full(&mut reader, &mut data) {
            Ok(n) => n,
            Err(e) => return scan.source_error(format!("read error at byte {offset}: {e}")),
        };
        scan.add_bytes(n as u64);
        if n == 0 {
            return Ok(());
        }
        let last = n < CHUNK_SIZE;
        if last {
            if data.iter().all(|&b| b == 0) {
                return Ok(());
            }
            // A cut-off copy: the records that are whole are still read (the missing
            // bytes read as zeros, which ends the record walk).
            scan.source_error(format!(
                "EVTX chunk {chunk_number} (at byte {offset}) cut short at {n} of {CHUNK_SIZE} bytes"
            ))?;
        }
        let this_chunk = chunk_number;
        chunk_number += 1;
        // Windows leaves unused chunks zeroed.
        if data.iter().all(|&b| b == 0) {
            continue;
        }
        // A bad chunk header and bad string/template tables are the same to the reader:
        // the chunk's records are lost, the chunks after it are still read.
        let mut chunk_data = EvtxChunkData::new(data, false);
        let parsed = match &mut chunk_data {
            Ok(d) => d.parse(Arc::clone(&settings)).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let mut chunk = match parsed {
            Ok(c) => c,
            Err(e) => {
                scan.source_error(format!(
                    "EVTX chunk {this_chunk} (at byte {offset}) unreadable, its records skipped: {e}"
                ))?;
                if last {
                    return Ok(());
                }
                continue;
            }
        };
        let mut errors = 0;
        for record in chunk.iter() {
            let n = scan.next_record()?;
            let here = Location {
                record: Some(n),
                offset: Some(offset),
                ..Location::default()
            };
            let xml = match record.and_then(|r| r.into_xml_bytes()) {
                Ok(x) => x,
                Err(e) => {
                    scan.bad_record(
                        here,
                        format!(
                            "EVTX record unreadable (chunk {this_chunk} at byte {offset}): {e}"
                        ),
                    )?;
                    errors += 1;
                    if errors >= MAX_ERRORS_PER_CHUNK {
                        break;
                    }
                    continue;
                }
            };
            match super::xml::read_record(&xml.data, &mut fields, true, false) {
                Ok(kind) => scan.judge_as(kind, &fields, n)?,
                Err(msg) => scan.bad_record(
                    here,
                    format!(
                        "EVTX record {} rendered to bad XML: {msg}",
                        xml.event_record_id
                    ),
                )?,
            }
        }
    }
}

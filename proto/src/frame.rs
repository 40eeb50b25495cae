//! Length-prefixed framing: a 4-byte big-endian length, then that many bytes
//! of payload.
//!
//! The decoder is sans-IO: feed it whatever bytes arrived, take out whole
//! frames. A length above the configured maximum is refused before any of the
//! payload is buffered, so a peer cannot make us allocate more than `max`.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Bytes in the length prefix.
pub const HEADER_LEN: usize = 4;

/// Largest control-stream message the relay accepts from a peer.
pub const MAX_CONTROL_FRAME: usize = 64 * 1024;

/// What went wrong decoding a frame; every variant ends the stream it came on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    Oversized { len: usize, max: usize },
    #[error("stream ended inside a frame ({buffered} bytes left over)")]
    Truncated { buffered: usize },
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("message too large to encode ({len} bytes, limit {max})")]
    TooLargeToEncode { len: usize, max: usize },
}

/// Serialises `msg` and prefixes its length, refusing anything over `max`.
pub fn encode<T: Serialize>(msg: &T, max: usize) -> Result<Vec<u8>, FrameError> {
    let mut out = vec![0u8; HEADER_LEN];
    let mut out = postcard::to_extend(msg, std::mem::take(&mut out))
        .map_err(|e| FrameError::Malformed(e.to_string()))?;
    let len = out.len() - HEADER_LEN;
    if len > max {
        return Err(FrameError::TooLargeToEncode { len, max });
    }
    let prefix = u32::try_from(len).map_err(|_| FrameError::TooLargeToEncode { len, max })?;
    out[..HEADER_LEN].copy_from_slice(&prefix.to_be_bytes());
    Ok(out)
}

/// Serialises `msg` without a length prefix (for sealing before framing),
/// into a buffer sized exactly once with `spare` bytes of room left for a
/// seal's tag, so multi-megabyte frames are never copied while growing.
pub fn serialize<T: Serialize>(msg: &T, spare: usize) -> Result<Vec<u8>, FrameError> {
    let mut buf = Vec::new();
    serialize_into(msg, &mut buf, spare)?;
    Ok(buf)
}

/// [`serialize`] into a buffer the caller keeps: a sender that reuses it
/// stops paying for fresh pages (page faults) on every multi-megabyte frame.
pub fn serialize_into<T: Serialize>(
    msg: &T,
    buf: &mut Vec<u8>,
    spare: usize,
) -> Result<(), FrameError> {
    buf.clear();
    serialize_append(msg, buf, spare)
}

/// [`serialize_into`] after what `buf` already holds (a header byte).
pub fn serialize_append<T: Serialize>(
    msg: &T,
    buf: &mut Vec<u8>,
    spare: usize,
) -> Result<(), FrameError> {
    let err = |e: postcard::Error| FrameError::Malformed(e.to_string());
    let size = postcard::experimental::serialized_size(msg).map_err(err)?;
    buf.reserve(size + spare);
    *buf = postcard::to_extend(msg, std::mem::take(buf)).map_err(err)?;
    Ok(())
}

/// Prefixes raw `payload` with its length, refusing anything over `max`.
pub fn encode_raw(payload: &[u8], max: usize) -> Result<Vec<u8>, FrameError> {
    let len = payload.len();
    if len > max {
        return Err(FrameError::TooLargeToEncode { len, max });
    }
    let prefix = u32::try_from(len).map_err(|_| FrameError::TooLargeToEncode { len, max })?;
    let mut out = Vec::with_capacity(HEADER_LEN + len);
    out.extend_from_slice(&prefix.to_be_bytes());
    out.extend_from_slice(payload);
    Ok(out)
}

/// Decodes one message payload (without its length prefix).
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, FrameError> {
    match postcard::take_from_bytes::<T>(payload) {
        Ok((msg, [])) => Ok(msg),
        Ok((_, rest)) => Err(FrameError::Malformed(format!(
            "{} trailing bytes",
            rest.len()
        ))),
        Err(e) => Err(FrameError::Malformed(e.to_string())),
    }
}

/// Reassembles frames from a byte stream.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    max: usize,
}

impl FrameDecoder {
    /// A decoder that refuses frames longer than `max` bytes.
    pub fn new(max: usize) -> Self {
        Self {
            buf: Vec::new(),
            max,
        }
    }

    /// Appends bytes received from the peer.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame's payload, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let Some(header) = self.buf.get(..HEADER_LEN) else {
            return Ok(None);
        };
        let mut len_bytes = [0u8; HEADER_LEN];
        len_bytes.copy_from_slice(header);
        let len = u32::from_be_bytes(len_bytes) as usize;
        if len > self.max {
            return Err(FrameError::Oversized { len, max: self.max });
        }
        if self.buf.len() < HEADER_LEN + len {
            return Ok(None);
        }
        let payload = self.buf[HEADER_LEN..HEADER_LEN + len].to_vec();
        self.buf.drain(..HEADER_LEN + len);
        Ok(Some(payload))
    }

    /// The next whole frame decoded as `T`.
    pub fn next_message<T: DeserializeOwned>(&mut self) -> Result<Option<T>, FrameError> {
        self.next_frame()?.map(|p| decode(&p)).transpose()
    }

    /// Call when the stream ended: an error if a frame was cut short.
    pub fn finish(&self) -> Result<(), FrameError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(FrameError::Truncated {
                buffered: self.buf.len(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_across_pushes() {
        let a = encode(&"hello".to_string(), 100).unwrap();
        let b = encode(&42u32, 100).unwrap();
        let all: Vec<u8> = a.iter().chain(b.iter()).copied().collect();
        let mut d = FrameDecoder::new(100);
        let mut got = Vec::new();
        for byte in all {
            d.push(&[byte]);
            while let Some(f) = d.next_frame().unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got.len(), 2);
        assert_eq!(decode::<String>(&got[0]).unwrap(), "hello");
        assert_eq!(decode::<u32>(&got[1]).unwrap(), 42);
        d.finish().unwrap();
    }

    #[test]
    fn oversized_header_is_refused_before_payload() {
        let mut d = FrameDecoder::new(10);
        d.push(&[0, 0, 0, 11]);
        assert_eq!(
            d.next_frame(),
            Err(FrameError::Oversized { len: 11, max: 10 })
        );
        let mut d = FrameDecoder::new(10);
        d.push(&[0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(d.next_frame(), Err(FrameError::Oversized { .. })));
    }

    #[test]
    fn truncated_and_trailing_bytes_are_errors() {
        let mut d = FrameDecoder::new(10);
        d.push(&[0, 0, 0, 5, 1]);
        assert_eq!(d.next_frame(), Ok(None));
        assert_eq!(d.finish(), Err(FrameError::Truncated { buffered: 5 }));
        assert!(matches!(
            decode::<u8>(&[1, 2]),
            Err(FrameError::Malformed(_))
        ));
        assert!(matches!(
            decode::<String>(&[5, b'a']),
            Err(FrameError::Malformed(_))
        ));
    }

    #[test]
    fn encode_refuses_over_max() {
        let big = vec![0u8; 50];
        assert!(matches!(
            encode(&big, 10),
            Err(FrameError::TooLargeToEncode { .. })
        ));
    }
}

//! What travels from host to viewer for the screen: one numbered update of
//! copies, video, pictures and exact tiles. Variant and field order are part of
//! the wire format (postcard): append, never reorder.

use serde::{Deserialize, Serialize};

/// How one tile's pixels travel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TileData {
    /// Every pixel this colour.
    Solid(u32),
    /// Up to 16 colours; indices packed 1, 2 or 4 bits each (rows padded to
    /// a byte), LZ4-compressed.
    Palette {
        colors: Vec<u32>,
        #[serde(with = "serde_bytes")]
        lz4: Vec<u8>,
    },
    /// RGB bytes, LZ4-compressed.
    Raw {
        #[serde(with = "serde_bytes")]
        lz4: Vec<u8>,
    },
    /// The tile's part of the update's one zstd stream, flushed after it
    /// ([`super::chain`]): a palette of up to 16 colours with packed
    /// indices, or predicted colour planes. It may refer back to earlier
    /// chained tiles of the same update, so they are decoded in order.
    Chained {
        #[serde(with = "serde_bytes")]
        zstd: Vec<u8>,
    },
}

impl TileData {
    /// Bytes of pixel payload, for statistics and refinement budgets.
    pub fn payload_bytes(&self) -> usize {
        match self {
            TileData::Solid(_) => 4,
            TileData::Palette { colors, lz4 } => colors.len() * 4 + lz4.len(),
            TileData::Raw { lz4 } => lz4.len(),
            TileData::Chained { zstd } => zstd.len(),
        }
    }
}

/// One changed tile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tile {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
    pub data: TileData,
}

/// Pixels that moved on screen (a scroll): the viewer copies them from
/// where they were, so they need not travel again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyRect {
    pub src_x: u32,
    pub src_y: u32,
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

/// A changing photo-like region sent as a JPEG: much smaller than exact
/// pixels while it keeps changing; the encoder resends it exact once the
/// screen is still.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Picture {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
    #[serde(with = "serde_bytes")]
    pub jpeg: Vec<u8>,
}

/// An exact photo-like region, predicted and compressed
/// ([`crate::photo`]): much smaller than raw tiles for photographs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Photo {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
    #[serde(with = "serde_bytes")]
    pub zstd: Vec<u8>,
}

/// A region that keeps moving (a video, an animation, a slideshow) as one
/// H.264 access unit for the rectangle: much smaller than pictures while it
/// moves; the encoder resends it exact once the screen is still. Frames of
/// one `stream` chain (each but the first predicted from the one before),
/// so they must be decoded in order, every one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Video {
    /// Which stream this frame continues; a new one starts with a key frame.
    pub stream: u32,
    pub x: u32,
    pub y: u32,
    /// Even, at least 16, and the same for every frame of a stream.
    pub w: u32,
    pub h: u32,
    /// An IDR (key) frame that starts stream `stream`, decodable alone.
    pub key: bool,
    /// The access unit: Annex B NAL units (parameter sets first on a key frame).
    #[serde(with = "serde_bytes")]
    pub h264: Vec<u8>,
}

/// What changed, numbered so the viewer can acknowledge it: first the
/// copies, applied in order, then the video frames, then the pictures,
/// then the exact photo regions and the exact tiles (which never overlap
/// in one update).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameUpdate {
    pub seq: u64,
    pub width: u32,
    pub height: u32,
    /// Whole frame: every tile is present (first update, resize, or asked for).
    pub full: bool,
    pub copies: Vec<CopyRect>,
    pub pictures: Vec<Picture>,
    /// Changed rectangles, each within one 64×64 tile and cut to the pixels
    /// that differ.
    pub tiles: Vec<Tile>,
    /// Exact photo-like regions, a band of tiles each.
    pub photos: Vec<Photo>,
    /// Moving regions as video frames, decoded before pictures and tiles.
    pub video: Vec<Video>,
}

impl FrameUpdate {
    /// Bytes of pixel payload, for statistics.
    pub fn payload_bytes(&self) -> usize {
        self.tiles
            .iter()
            .map(|t| t.data.payload_bytes())
            .sum::<usize>()
            + self.pictures.iter().map(|p| p.jpeg.len()).sum::<usize>()
            + self.photos.iter().map(|p| p.zstd.len()).sum::<usize>()
            + self.video.iter().map(|v| v.h264.len()).sum::<usize>()
    }
}

//! One monitor's BGRA rows pasted into the picture of the whole virtual
//! screen at the monitor's place (pure, tested on Linux): what the DXGI
//! source does with each output's mapped surface.

use lifeline_session::screen::Image;

/// A surface of `width`×`height` BGRA pixels, `stride` bytes a row.
#[derive(Debug, Clone, Copy)]
pub struct Surface<'a> {
    pub width: u32,
    pub height: u32,
    pub stride: usize,
    pub bytes: &'a [u8],
}

/// Copies `surface` into `into` with its top-left at (`x`, `y`), clipped
/// to the picture; false (nothing copied) when the rows are shorter than
/// the size says.
pub fn paste(into: &mut Image, x: u32, y: u32, surface: Surface<'_>) -> bool {
    let Surface {
        width,
        height,
        stride,
        bytes,
    } = surface;
    let (w, h) = (width as usize, height as usize);
    if h > 0 && (stride < w * 4 || bytes.len() < stride * (h - 1) + w * 4) {
        return false;
    }
    let iw = into.width as usize;
    let cols = w.min(iw.saturating_sub(x as usize));
    let rows = h.min((into.height as usize).saturating_sub(y as usize));
    for row in 0..rows {
        let src = &bytes[row * stride..row * stride + cols * 4];
        let at = (y as usize + row) * iw + x as usize;
        for (px, bgra) in into.pixels[at..at + cols]
            .iter_mut()
            .zip(src.chunks_exact(4))
        {
            *px = u32::from_le_bytes([bgra[0], bgra[1], bgra[2], bgra[3]]) & 0x00ff_ffff;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_monitor_lands_at_its_place_and_is_clipped() {
        let mut img = Image::new(6, 4).unwrap();
        // 3×2, stride padded to 16 bytes; blue, green, red, alpha.
        let mut bytes = vec![0u8; 16 * 2];
        for row in 0..2 {
            for col in 0..3 {
                let i = row * 16 + col * 4;
                bytes[i..i + 4].copy_from_slice(&[col as u8, row as u8, 0xAA, 0xFF]);
            }
        }
        let s = Surface {
            width: 3,
            height: 2,
            stride: 16,
            bytes: &bytes,
        };
        assert!(paste(&mut img, 4, 3, s));
        assert_eq!(img.get(4, 3), 0x00AA_0000);
        assert_eq!(img.get(5, 3), 0x00AA_0001);
        assert_eq!(img.get(3, 3), 0, "nothing left of it");
        assert!(paste(&mut img, 0, 0, s));
        assert_eq!(img.get(2, 1), 0x00AA_0102);
        let short = Surface {
            bytes: &bytes[..20],
            ..s
        };
        assert!(!paste(&mut img, 0, 0, short));
    }
}

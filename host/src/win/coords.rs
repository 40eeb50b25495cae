//! Coordinates on Windows (pure, tested on Linux). The host shares the
//! whole virtual screen: every monitor, whose top-left may be left of or
//! above the primary monitor's (negative coordinates). The picture's
//! pixel (0, 0) is the virtual screen's top-left, so monitors are moved
//! by its origin, and the pointer is placed with `SendInput`'s absolute
//! coordinates, which span the virtual screen as 0 to 65535 each way.
//! The process is per-monitor DPI aware, so all of these are physical
//! pixels at any scaling (125 %, 150 %): the pointer lands on the pixel
//! the technician pointed at.

/// A rectangle in Windows' virtual-screen coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub left: i32,
    pub top: i32,
    pub width: u32,
    pub height: u32,
}

impl Rect {
    /// A rectangle from Windows' edges (`RECT`); empty when they cross.
    pub fn from_edges(left: i32, top: i32, right: i32, bottom: i32) -> Self {
        let span = |a: i32, b: i32| u32::try_from(i64::from(b) - i64::from(a)).unwrap_or(0);
        Self {
            left,
            top,
            width: span(left, right),
            height: span(top, bottom),
        }
    }

    /// Where `inner` sits in a picture of this rectangle; `None` when
    /// it lies outside.
    pub fn place_of(self, inner: Rect) -> Option<(i32, i32)> {
        let x = i64::from(inner.left) - i64::from(self.left);
        let y = i64::from(inner.top) - i64::from(self.top);
        let fits = |o: i64, len: u32, outer: u32| o >= 0 && o + i64::from(len) <= i64::from(outer);
        if !fits(x, inner.width, self.width) || !fits(y, inner.height, self.height) {
            return None;
        }
        Some((i32::try_from(x).ok()?, i32::try_from(y).ok()?))
    }

    /// A point on screen as a pixel of the picture, if it is in it.
    pub fn pixel_of(self, x: i32, y: i32) -> Option<(i32, i32)> {
        let px = i64::from(x) - i64::from(self.left);
        let py = i64::from(y) - i64::from(self.top);
        let inside =
            (0..i64::from(self.width)).contains(&px) && (0..i64::from(self.height)).contains(&py);
        inside.then_some((px as i32, py as i32))
    }
}

/// The picture's pixel (`x`, `y`) as `SendInput`'s absolute coordinates
/// over `screen` (the virtual screen): the smallest value that Windows
/// maps back onto that pixel (it takes `value × size / 65536`, rounded
/// down). Pixels beyond the edge are moved onto it.
pub fn absolute(screen: Rect, x: u32, y: u32) -> (i32, i32) {
    (axis(x, screen.width), axis(y, screen.height))
}

fn axis(pixel: u32, size: u32) -> i32 {
    if size == 0 {
        return 0;
    }
    let p = u64::from(pixel.min(size - 1));
    let v = (p * 65536).div_ceil(u64::from(size)).min(65535);
    v as i32
}

/// The scaling Windows shows in its settings for a monitor's DPI
/// (96 DPI is 100 %).
pub fn scale_percent(dpi: u32) -> u32 {
    (dpi * 100 + 48) / 96
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Windows does with an absolute coordinate.
    fn back(v: i32, size: u32) -> u32 {
        (u64::from(v as u32) * u64::from(size) / 65536) as u32
    }

    #[test]
    fn every_pixel_maps_back_onto_itself() {
        // Sizes of real screens, at 100 %, 125 % and 150 % (physical).
        for size in [
            640, 800, 1024, 1280, 1366, 1600, 1920, 2400, 2880, 3840, 5760, 7680,
        ] {
            for p in 0..size {
                let v = axis(p, size);
                assert!((0..=65535).contains(&v));
                assert_eq!(back(v, size), p, "pixel {p} of {size}");
            }
        }
    }

    #[test]
    fn beyond_the_edge_goes_to_the_edge() {
        let screen = Rect::from_edges(-1920, 0, 1920, 1080);
        assert_eq!(screen.width, 3840);
        let (x, y) = absolute(screen, 10_000, 5_000);
        assert_eq!((back(x, 3840), back(y, 1080)), (3839, 1079));
        assert_eq!(absolute(Rect::from_edges(0, 0, 0, 0), 5, 5), (0, 0));
    }

    #[test]
    fn a_monitor_left_of_the_primary_is_placed_from_the_virtual_origin() {
        // A 1920×1080 monitor at 150 % (physical pixels) left of a 2560×1440 primary.
        let screen = Rect::from_edges(-1920, 0, 2560, 1440);
        let left = Rect::from_edges(-1920, 360, 0, 1440);
        let primary = Rect::from_edges(0, 0, 2560, 1440);
        assert_eq!(screen.place_of(left), Some((0, 360)));
        assert_eq!(screen.place_of(primary), Some((1920, 0)));
        assert_eq!(screen.place_of(Rect::from_edges(2000, 0, 2600, 10)), None);
        assert_eq!(screen.pixel_of(-1920, 0), Some((0, 0)));
        assert_eq!(screen.pixel_of(0, 0), Some((1920, 0)));
        assert_eq!(screen.pixel_of(2560, 0), None);
        assert_eq!(Rect::from_edges(10, 10, 0, 0).width, 0);
    }

    #[test]
    fn dpi_reads_as_the_percentage_windows_shows() {
        assert_eq!(scale_percent(96), 100);
        assert_eq!(scale_percent(120), 125);
        assert_eq!(scale_percent(144), 150);
        assert_eq!(scale_percent(192), 200);
    }
}

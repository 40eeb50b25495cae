//! How lossy the encoder may be, from the technician's quality setting and
//! what the link can carry: a pure function, so each choice is tested with
//! made-up links.
//!
//! On a fast link (or a LAN, before anything is measured) everything is
//! exact but for pictures that keep changing, as before. On a slower one,
//! photo-like areas go as JPEG even in a whole frame, at a quality that
//! fits the link, and their exact refinement goes a small piece at a time
//! and only while nothing else is in flight, so a keystroke's echo never
//! waits behind more than one piece.

use std::time::Duration;

use lifeline_session::messages::Quality;
use lifeline_session::screen::{PICTURE_MIN_PIXELS, REFRESH_AFTER, Tuning};

/// A link at least this fast (bytes a second: 100 Mbit/s) is treated as
/// free.
const FAST: f64 = 100e6 / 8.0;
/// A round trip below this is a LAN.
const LAN_RTT: Duration = Duration::from_millis(5);
/// A refinement piece takes at most this long on the link: what a
/// keystroke's echo may wait behind it.
const PIECE_TIME: Duration = Duration::from_millis(20);
/// JPEG quality of the sharpening pass that comes before the exact one
/// on a slow link: close to exact at a fifth of its bytes.
const SHARP: u8 = 90;
/// The smallest piece worth an update.
const MIN_PIECE: usize = 8 * 1024;

/// What is known of the link when the encoder is tuned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Link {
    /// Bytes a second, once measured.
    pub rate: Option<f64>,
    pub rtt: Option<Duration>,
    /// Whether refinement must wait: drawing is in flight, or two pieces
    /// already are.
    pub busy: bool,
}

/// JPEG quality that keeps a changing 1080p photo within a few hundred
/// milliseconds of the link.
fn jpeg_quality(rate: f64) -> u8 {
    match rate * 8.0 {
        r if r >= 25e6 => 75,
        r if r >= 8e6 => 65,
        r if r >= 3e6 => 50,
        _ => 35,
    }
}

/// Whether the link is fast: a LAN's round trip, or a measured rate that
/// high. On a LAN the rate measured is the viewer's decoding speed more
/// than the network's, and a LAN is never the bottleneck this guards.
fn fast(link: &Link) -> bool {
    link.rtt.is_some_and(|rtt| rtt < LAN_RTT) || link.rate.is_some_and(|rate| rate >= FAST)
}

/// One refinement piece's bytes: `PIECE_TIME` of the link, or half the
/// bandwidth-delay product when that is more (two pieces in flight then
/// keep a distant link full); nothing while the link is busy.
fn piece(link: &Link) -> usize {
    if link.busy {
        return 0;
    }
    let Some(rate) = link.rate else {
        return MIN_PIECE * 4;
    };
    let half_bdp = link.rtt.map_or(0.0, |rtt| rate * rtt.as_secs_f64() / 2.0);
    ((rate * PIECE_TIME.as_secs_f64()).max(half_bdp) as usize).max(MIN_PIECE)
}

/// The encoder's tuning for `quality` on `link`.
pub fn tuning(quality: Quality, link: &Link) -> Tuning {
    let slow = !fast(link);
    let rate = link.rate.unwrap_or(2.0 * 1024.0 * 1024.0);
    match quality {
        Quality::Exact => Tuning::exact(),
        Quality::Auto if !slow => Tuning::default(),
        Quality::Auto => Tuning {
            jpeg_quality: Some(jpeg_quality(rate)),
            picture_min_pixels: PICTURE_MIN_PIXELS / 4,
            lossy_whole: true,
            refine_after: REFRESH_AFTER,
            refine_piece: piece(link),
            refine_quality: Some(SHARP),
        },
        Quality::Balanced => Tuning {
            jpeg_quality: Some(lifeline_session::picture::QUALITY),
            lossy_whole: slow,
            refine_piece: if slow { piece(link) } else { usize::MAX },
            ..Tuning::default()
        },
        Quality::Speed => Tuning {
            jpeg_quality: Some(jpeg_quality(rate).min(45)),
            picture_min_pixels: 64 * 64 * 4,
            lossy_whole: true,
            // About half a second of stillness before sharpening.
            refine_after: REFRESH_AFTER * 5,
            refine_piece: piece(link),
            refine_quality: Some(SHARP),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(mbit: Option<f64>, rtt_ms: u64, busy: bool) -> Link {
        Link {
            rate: mbit.map(|m| m * 1e6 / 8.0),
            rtt: Some(Duration::from_millis(rtt_ms)),
            busy,
        }
    }

    #[test]
    fn a_fast_link_or_a_lan_gets_exact_whole_frames() {
        // On a LAN a low measured rate is the viewer's decoding, not the link.
        for l in [
            link(Some(900.0), 1, false),
            link(None, 0, false),
            link(Some(40.0), 1, false),
            link(Some(200.0), 30, false),
        ] {
            let t = tuning(Quality::Auto, &l);
            assert_eq!(t, Tuning::default(), "{l:?}");
        }
    }

    #[test]
    fn a_slow_link_gets_light_pictures_and_small_pieces_only_when_idle() {
        let ten = tuning(Quality::Auto, &link(Some(10.0), 60, false));
        let two = tuning(Quality::Auto, &link(Some(2.0), 150, false));
        assert!(ten.lossy_whole && two.lossy_whole);
        assert!(two.jpeg_quality < ten.jpeg_quality);
        // Half the bandwidth-delay product: 30 ms of a 10 Mbit/s link.
        assert_eq!(ten.refine_piece, 37_500);
        assert_eq!(two.refine_piece, 18_750);
        let near = tuning(Quality::Auto, &link(Some(10.0), 8, false));
        assert_eq!(near.refine_piece, 25_000, "20 ms of the link at least");
        let busy = tuning(Quality::Auto, &link(Some(10.0), 60, true));
        assert_eq!(
            busy.refine_piece, 0,
            "no refinement while an update is in flight"
        );
        // Unmeasured and far away: presumed slow.
        assert!(tuning(Quality::Auto, &link(None, 80, false)).lossy_whole);
    }

    #[test]
    fn exact_is_exact_and_speed_waits_longer_to_sharpen() {
        let slow = link(Some(2.0), 150, false);
        assert_eq!(tuning(Quality::Exact, &slow).jpeg_quality, None);
        let speed = tuning(Quality::Speed, &slow);
        assert!(speed.refine_after > REFRESH_AFTER);
        assert!(speed.jpeg_quality <= Some(45));
        let balanced = tuning(Quality::Balanced, &link(Some(900.0), 1, false));
        assert!(!balanced.lossy_whole);
    }
}

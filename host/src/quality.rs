//! How lossy the encoder may be, from the technician's quality setting and
//! what the link can carry: a pure function, so each choice is tested with
//! made-up links.
//!
//! Decided from the **measured rate**, never from the round trip alone: a
//! field user's slow uplink to a nearby relay has a LAN's round trip. Until
//! the rate is measured the link is presumed slow: photo-like areas of a
//! first screen go as a light JPEG sized for a conservative rate, then are
//! refined. The first screen's acknowledgement measures the link; on a LAN
//! that comes within milliseconds and the refinement to exact then goes at
//! once, in one piece. On a fast link everything is exact but for pictures
//! that keep changing (video, from a moving region). On a slower one,
//! photo-like areas go as JPEG even in a whole frame, at a quality that
//! fits the link, and their exact refinement goes a small piece at a time
//! and only while nothing else is in flight, so a keystroke's echo never
//! waits behind more than a piece or two.

use std::time::Duration;

use lifeline_session::messages::Quality;
use lifeline_session::screen::{PICTURE_MIN_PIXELS, REFRESH_AFTER, Tuning};

/// A link measured at least this fast (bytes a second: 100 Mbit/s) is
/// treated as free.
const FAST: f64 = 100e6 / 8.0;
/// With a round trip below [`LAN_RTT`], a measured rate this high is a
/// LAN (25 Mbit/s): what a LAN's quick acknowledgements measure is only a
/// floor (an update carried quicker than can be timed), well below what
/// it carries.
const LAN_RATE: f64 = 25e6 / 8.0;
/// A round trip below this may be a LAN, if the rate says so too.
const LAN_RTT: Duration = Duration::from_millis(5);
/// What an unmeasured link is presumed to carry (2 Mbit/s): a first
/// screen's light pass arrives in well under a second even there.
const PRESUMED: f64 = 2e6 / 8.0;
/// A refinement piece takes at most this long on the link: what a
/// keystroke's echo may wait behind it.
const PIECE_TIME: Duration = Duration::from_millis(10);
/// JPEG quality of the sharpening pass that comes before the exact one
/// on a slow link: close to exact at a fifth of its bytes.
const SHARP: u8 = 90;
/// The smallest piece worth an update.
const MIN_PIECE: usize = 8 * 1024;
/// Video's bitrate at most (bits a second): a 1080p moving region looks
/// right at this, and more buys little.
const VIDEO_MAX: u32 = 4_000_000;
/// The share of a slow link's rate video may take, leaving room for a
/// keystroke's echo and the pointer.
const VIDEO_SHARE: f64 = 0.4;
/// Video's bitrate at least: below this a moving region is mush.
const VIDEO_MIN: u32 = 300_000;

/// What is known of the link when the encoder is tuned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Link {
    /// Bytes a second, once measured.
    pub rate: Option<f64>,
    pub rtt: Option<Duration>,
    /// Whether refinement must wait: drawing is in flight, or two pieces
    /// already are.
    pub busy: bool,
    /// Nothing has moved since the last whole frame: what is lossy is its
    /// first pass, to be refined as soon as the link allows, not a moving
    /// picture that may change again.
    pub settled: bool,
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

/// Whether the link is fast: a measured rate that high, or a LAN's round
/// trip with a measured rate a LAN gives. Unmeasured is not fast, however
/// near the relay is.
fn fast(link: &Link) -> bool {
    link.rate.is_some_and(|rate| {
        rate >= FAST || (rate >= LAN_RATE && link.rtt.is_some_and(|rtt| rtt < LAN_RTT))
    })
}

/// One refinement piece's bytes: `PIECE_TIME` of the link, or half the
/// bandwidth-delay product when that is more (two pieces in flight then
/// keep a distant link full); nothing while the link is busy.
fn piece(link: &Link) -> usize {
    if link.busy {
        return 0;
    }
    let Some(rate) = link.rate else {
        return MIN_PIECE * 2;
    };
    let half_bdp = link.rtt.map_or(0.0, |rtt| rate * rtt.as_secs_f64() / 2.0);
    ((rate * PIECE_TIME.as_secs_f64()).max(half_bdp) as usize).max(MIN_PIECE)
}

/// Video's bitrate on a link of `rate` bytes a second (`None`: fast).
fn video_bitrate(rate: Option<f64>, share: f64) -> u32 {
    match rate {
        None => VIDEO_MAX,
        Some(rate) => ((rate * 8.0 * share) as u32).clamp(VIDEO_MIN, VIDEO_MAX),
    }
}

/// The encoder's tuning for `quality` on `link`.
pub fn tuning(quality: Quality, link: &Link) -> Tuning {
    let slow = !fast(link);
    let rate = link.rate.unwrap_or(PRESUMED);
    // What video may take: all it wants on a fast link, a share of a slow one.
    let video = video_bitrate(slow.then_some(rate), VIDEO_SHARE);
    // A first screen refined while nothing moves starts at once.
    let refine_after = if link.settled { 1 } else { REFRESH_AFTER };
    match quality {
        Quality::Exact => Tuning::exact(),
        Quality::Auto if !slow => Tuning {
            refine_after,
            video_bitrate: video,
            ..Tuning::default()
        },
        Quality::Auto => Tuning {
            jpeg_quality: Some(jpeg_quality(rate)),
            picture_min_pixels: PICTURE_MIN_PIXELS / 4,
            lossy_whole: true,
            refine_after,
            refine_piece: piece(link),
            refine_quality: Some(SHARP),
            video_bitrate: video,
        },
        Quality::Balanced => Tuning {
            jpeg_quality: Some(lifeline_session::picture::QUALITY),
            lossy_whole: slow,
            refine_after,
            refine_piece: if slow { piece(link) } else { usize::MAX },
            video_bitrate: video,
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
            video_bitrate: video_bitrate(Some(rate), VIDEO_SHARE / 2.0),
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
            settled: false,
        }
    }

    #[test]
    fn a_measured_fast_link_or_lan_gets_exact_whole_frames() {
        // On a LAN the measured rate is a floor, below what it carries.
        for l in [
            link(Some(900.0), 1, false),
            link(Some(40.0), 1, false),
            link(Some(200.0), 30, false),
        ] {
            let t = tuning(Quality::Auto, &l);
            assert_eq!(t, Tuning::default(), "{l:?}");
        }
    }

    #[test]
    fn a_short_round_trip_alone_is_not_a_lan() {
        // Unmeasured: the first screen goes light, whatever the round trip.
        let unmeasured = tuning(Quality::Auto, &link(None, 0, false));
        assert!(unmeasured.lossy_whole);
        assert_eq!(unmeasured.jpeg_quality, Some(35), "sized for 2 Mbit/s");
        // A field user's 10 Mbit/s uplink to a relay 5 ms away: slow.
        let uplink = tuning(Quality::Auto, &link(Some(10.0), 4, false));
        assert!(uplink.lossy_whole);
        assert_eq!(uplink.refine_piece, 12_500, "10 ms of the link");
        // Video takes a share of a slow link, all it needs of a fast one.
        assert_eq!(uplink.video_bitrate, 4_000_000);
        let two = tuning(Quality::Auto, &link(Some(2.0), 150, false));
        assert_eq!(two.video_bitrate, 800_000);
        assert_eq!(
            tuning(Quality::Exact, &link(None, 0, false)).video_bitrate,
            0
        );
    }

    #[test]
    fn a_settled_first_screen_is_refined_at_once() {
        let mut l = link(Some(900.0), 1, false);
        l.settled = true;
        let t = tuning(Quality::Auto, &l);
        assert_eq!(t.refine_after, 1);
        assert_eq!(t.refine_piece, usize::MAX, "in one piece on a LAN");
        l.rate = Some(1e6);
        assert_eq!(tuning(Quality::Auto, &l).refine_after, 1);
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
        assert_eq!(near.refine_piece, 12_500, "10 ms of the link at least");
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
        assert!(speed.video_bitrate < tuning(Quality::Auto, &slow).video_bitrate);
        let balanced = tuning(Quality::Balanced, &link(Some(900.0), 1, false));
        assert!(!balanced.lossy_whole);
    }
}

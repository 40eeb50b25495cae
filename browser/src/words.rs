//! Every sentence the browser viewer's Rust side says to the technician
//! (the page's own are in `web/viewer.js`'s `WORDS`).

/// Input typed while the user at the host allowed view only.
pub const VIEW_ONLY: &str = "the user allowed view only: input is not sent";

/// A key frame without the parameter set that names its profile.
pub const VIDEO_NO_SPS: &str = "a video key frame came without its sequence parameter set";

/// The browser's decoder gave a picture this cannot read.
pub const VIDEO_BAD_PICTURE: &str = "the browser's video decoder gave an unreadable picture";

/// The browser's decoder gave no picture in time.
pub const VIDEO_LATE: &str = "the browser's video decoder gave no picture in time";

/// Too much arrived while the page decoded video.
pub const VIDEO_HELD: &str = "the host sent more than the page holds while it decodes video";

/// The browser's decoder gave pictures in a layout this does not read.
pub const VIDEO_FORMAT: &str =
    "the browser's video decoder gives pictures in a layout the page does not read";

//! The benchmark's VNC client against a real x11vnc on Xvfb: the screen it
//! decodes is the X server's, pixel for pixel, and its keys reach an xterm.
//! The side-by-side figures in BENCHMARKS.md are only as honest as this.

use std::time::Duration;

use lifeline_tests::vnc::{VncClient, X11Vnc};
use lifeline_tests::x::{Xvfb, pattern_image};

#[test]
fn the_vnc_client_decodes_x11vnc_exactly_and_types() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(640, 480);
    // Noise, stripes and flat colour: raw, palette and RLE tiles.
    let _pattern = x.show(37, 21, &pattern_image(300, 200, 7));
    let dir = tempfile::tempdir().unwrap();
    let typed = dir.path().join("typed.txt");
    let _xterm = x.xterm_cat("40x6+340+300", &typed);
    let server = X11Vnc::start(&x.display);
    let vnc = VncClient::connect(&server.addr).unwrap();
    assert_eq!((vnc.width, vnc.height), (640, 480));

    // Compared with the screen as it is at each update: the xterm may
    // still be drawing itself.
    let same = vnc.wait_until(Duration::from_secs(15), |s| {
        s.first_full.is_some() && s.image == x.screenshot()
    });
    assert!(same, "the decoded screen never matched the X server's");
    assert!(vnc.screen().zrle > 0, "x11vnc sent no ZRLE");

    // A change: decoded exactly too.
    let _spot = x.show(100, 300, &pattern_image(90, 70, 99));
    assert!(
        vnc.wait_until(Duration::from_secs(15), |s| s.image == x.screenshot()),
        "a change never arrived exactly"
    );

    // Keys typed through VNC land in the xterm under the pointer.
    vnc.pointer(400, 340).unwrap();
    // Focus follows the pointer: type once it is there.
    lifeline_tests::wait_for("the pointer over the xterm", || {
        (x.pointer() == (400, 340)).then_some(())
    });
    for c in "vnc ok".chars() {
        vnc.key(u32::from(c)).unwrap();
    }
    vnc.key(0xff0d).unwrap(); // Return
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&typed).unwrap_or_default() != "vnc ok\n" {
        assert!(
            std::time::Instant::now() < deadline,
            "typed: {:?}",
            std::fs::read_to_string(&typed)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(vnc.bytes() > 0);
}

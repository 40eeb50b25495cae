//! The session's deflate stream: messages in any order and content.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeline_session::squeeze::Unpacker;

fuzz_target!(|data: &[u8]| {
    let mut u = Unpacker::new(64 * 1024);
    for msg in data.split(|b| *b == 0xfe) {
        let _ = u.unpack(msg);
    }
});

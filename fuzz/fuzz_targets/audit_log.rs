//! The audit log reader: any text as the log, with or without a head.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeline_proto::audit::{Head, verify_log};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (log, head) = text.split_once('\u{1}').unwrap_or((text, ""));
    let _ = verify_log(log, Head::parse(head).as_ref());
});

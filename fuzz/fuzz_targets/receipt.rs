//! The receipt reader and its check: any text as a receipt, and the same
//! text (after a \x01) as the audit log it is checked against.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeline_proto::receipt::{Receipt, check};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (receipt, log) = text.split_once('\u{1}').unwrap_or((text, ""));
    if let Ok(r) = Receipt::from_text(receipt) {
        let _ = check(&r, log);
        let _ = r.to_text();
    }
});

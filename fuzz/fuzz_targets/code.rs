//! The session code as a technician types it: any text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeline_proto::SessionCode;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(code) = text.parse::<SessionCode>()
    {
        // What parses prints back as something that parses to it.
        let again: SessionCode = code.to_string().parse().expect("a code prints as a code");
        assert_eq!(again, code);
    }
});

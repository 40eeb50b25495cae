//! A recording as an auditor's player reads it: any bytes as the relay's
//! file (framing, header, chunks opened with a fixed key), and any bytes
//! as the opened event stream (events read back, frames applied), since a
//! host could seal anything for its auditors.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeline_record::AuditorSecret;
use lifeline_record::chain::split;
use lifeline_record::open::Opener;
use lifeline_session::recording::{Event, Reader};
use lifeline_session::screen::Framebuffer;

fuzz_target!(|data: &[u8]| {
    let key = "LIFELINE-AUDITOR-SECRET-0101010101010101010101010101010101010101010101010101010101010101";
    let Ok(secret) = AuditorSecret::from_text(key) else {
        return;
    };
    if let Ok(chunks) = split(data)
        && let Some((head, rest)) = chunks.split_first()
        && let Ok((_, mut opener)) = Opener::new(head, &secret)
    {
        for c in rest {
            if opener.open(c).is_err() {
                break;
            }
        }
    }
    let mut reader = Reader::default();
    reader.push(data);
    let mut fb = Framebuffer::new();
    while let Some(Ok(t)) = reader.next_event() {
        if let Event::Frame { update, .. } = &t.event {
            let _ = fb.apply(update);
        }
    }
});

//! Host↔viewer messages as they come out of the sealed stream: any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeline_proto::frame::decode;
use lifeline_session::messages::{HostMsg, ViewerMsg};

fuzz_target!(|data: &[u8]| {
    if let Ok(ViewerMsg::Input(ev)) = decode::<ViewerMsg>(data) {
        let _ = ev.check();
    }
    let _ = decode::<HostMsg>(data);
});

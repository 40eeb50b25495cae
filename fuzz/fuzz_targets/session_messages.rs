//! Host↔viewer messages as they come out of the sealed streams: any bytes,
//! as a session message or a file transfer's, and any transfer name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeline_proto::frame::decode;
use lifeline_session::files::{FileMsg, check_name};
use lifeline_session::messages::{HostMsg, ViewerMsg};

fuzz_target!(|data: &[u8]| {
    if let Ok(ViewerMsg::Input(ev)) = decode::<ViewerMsg>(data) {
        let _ = ev.check();
    }
    let _ = decode::<HostMsg>(data);
    if let Ok(FileMsg::Put { name, .. }) = decode::<FileMsg>(data)
        && let Ok(rel) = check_name(&name)
    {
        // Whatever passes is relative and never climbs out.
        assert!(rel.is_relative());
        assert!(
            rel.components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
        );
    }
});

//! Control-stream messages the relay decodes from any peer (and from
//! another relay of its cluster), and those a peer decodes from the relay:
//! any bytes, any split into frames.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeline_proto::control::{Hello, HostEvent, HostRequest, ViewerEvent, ViewerRequest};
use lifeline_proto::frame::{FrameDecoder, MAX_CONTROL_FRAME, decode};
use lifeline_proto::link::LinkRequest;

fuzz_target!(|data: &[u8]| {
    let _ = decode::<Hello>(data);
    let _ = decode::<HostRequest>(data);
    let _ = decode::<ViewerRequest>(data);
    let _ = decode::<HostEvent>(data);
    let _ = decode::<ViewerEvent>(data);
    let _ = decode::<LinkRequest>(data);
    // The same bytes as a stream, fed in two pieces.
    let mut d = FrameDecoder::new(MAX_CONTROL_FRAME);
    let cut = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    d.push(&data[..cut]);
    d.push(&data[cut..]);
    while let Ok(Some(frame)) = d.next_frame() {
        let _ = decode::<HostRequest>(&frame);
    }
    let _ = d.finish();
});

//! The codec string and the Annex B reading, on made-up and on real
//! OpenH264 key frames.

use super::*;

#[test]
fn the_codec_string_names_the_sps_profile_and_level() {
    // Three- and four-byte start codes, the SPS not first.
    let stream = [
        0, 0, 1, 0x09, 0xF0, // access unit delimiter
        0, 0, 0, 1, 0x67, 0x64, 0x00, 0x28, 0xAC, // SPS: High, level 4.0
        0, 0, 0, 1, 0x68, 0xEE, // PPS
        0, 0, 1, 0x65, 0x88, // IDR slice
    ];
    assert_eq!(codec_string(&stream).as_deref(), Some("avc1.640028"));
    let units: Vec<&[u8]> = nal_units(&stream).collect();
    assert_eq!(
        units,
        [
            &[0x09, 0xF0][..],
            &[0x67, 0x64, 0x00, 0x28, 0xAC],
            &[0x68, 0xEE],
            &[0x65, 0x88]
        ]
    );
}

#[test]
fn no_sps_or_a_short_one_gives_no_codec_string() {
    for bytes in [
        &[][..],
        &[0, 0, 1],
        &[0, 0, 1, 0x65, 0x88, 0x80],
        &[0, 0, 1, 0x67, 0x42],
        &[0x67, 0x42, 0xC0, 0x1F],
    ] {
        assert_eq!(codec_string(bytes), None, "{bytes:?}");
    }
}

#[test]
fn a_real_key_frame_names_its_codec() {
    use lifeline_session::screen::Image;
    use lifeline_session::video::VideoEncoder;
    let mut img = Image::new(64, 48).unwrap();
    for (i, p) in img.pixels.iter_mut().enumerate() {
        *p = (i as u32).wrapping_mul(2_654_435_761) & 0x00ff_ffff;
    }
    let mut enc = VideoEncoder::new(64, 48).unwrap();
    let key = enc
        .encode(&img, (0, 0, 64, 48), 0, 1_000_000, true)
        .unwrap();
    assert!(key.key);
    let codec = codec_string(&key.h264).expect("an SPS in the key frame");
    assert!(codec.starts_with("avc1.42"), "Baseline profile: {codec}");
    assert_eq!(codec.len(), "avc1.42C01F".len());
    let next = enc
        .encode(&img, (0, 0, 64, 48), 33, 1_000_000, false)
        .unwrap();
    assert!(!next.key);
    assert_eq!(codec_string(&next.h264), None, "no SPS after the key frame");
}

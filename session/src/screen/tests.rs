//! Round trips through the encoder and the framebuffer, and hostile updates.

use super::*;

fn noise(w: u32, h: u32, seed: u32) -> Image {
    let mut x = seed | 1;
    let pixels = (0..w * h)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x & 0x00ff_ffff
        })
        .collect();
    Image {
        width: w,
        height: h,
        pixels,
    }
}

fn text_like(w: u32, h: u32) -> Image {
    let pixels = (0..w * h)
        .map(|i| {
            if (i * 7 / 3) % 5 == 0 {
                0x00_20_20_20
            } else {
                0x00_f0_f0_f0
            }
        })
        .collect();
    Image {
        width: w,
        height: h,
        pixels,
    }
}

#[test]
fn first_update_is_whole_and_exact() {
    // 150×70: edge tiles are partial.
    for img in [
        noise(150, 70, 3),
        text_like(150, 70),
        Image::new(150, 70).unwrap(),
    ] {
        let mut enc = Encoder::new();
        let upd = enc.encode(&img).unwrap();
        assert!(upd.full);
        // Every tile once, as a tile (photo bands are for older hosts).
        assert!(upd.photos.is_empty());
        assert_eq!(upd.tiles.len(), 3 * 2);
        let mut fb = Framebuffer::new();
        fb.apply(&upd).unwrap();
        assert_eq!(fb.image(), Some(&img));
    }
}

#[test]
fn palettes_of_every_width_round_trip() {
    for n in [2u32, 3, 4, 5, 16] {
        let pixels = (0..100 * 40).map(|i| (i * 31 % n) * 0x010203).collect();
        let img = Image {
            width: 100,
            height: 40,
            pixels,
        };
        let upd = Encoder::new().encode(&img).unwrap();
        assert!(
            upd.tiles
                .iter()
                .all(|t| matches!(t.data, TileData::Chained { .. })),
            "{n} colours"
        );
        let mut fb = Framebuffer::new();
        fb.apply(&upd).unwrap();
        assert_eq!(fb.image(), Some(&img));
    }
}

#[test]
fn only_changed_tiles_travel_and_idle_sends_nothing() {
    let mut img = text_like(640, 480);
    let mut enc = Encoder::new();
    let mut fb = Framebuffer::new();
    fb.apply(&enc.encode(&img).unwrap()).unwrap();
    assert_eq!(
        enc.encode(&img),
        None,
        "unchanged screen must produce no update"
    );
    // Change a 10×10 square straddling the tiles (64,64)-(128,128) and (128,64)-(192,128).
    for y in 100..110 {
        for x in 120..130 {
            img.pixels[y * 640 + x] = 0x00ff0000;
        }
    }
    let upd = enc.encode(&img).unwrap();
    assert!(!upd.full);
    // Each cut to the changed pixels within its tile.
    let spots: Vec<_> = upd.tiles.iter().map(|t| (t.x, t.y, t.w, t.h)).collect();
    assert_eq!(spots, [(120, 100, 8, 10), (128, 100, 2, 10)]);
    fb.apply(&upd).unwrap();
    assert_eq!(fb.image(), Some(&img));
    assert_eq!(upd.seq, 2);
}

#[test]
fn hostile_pictures_are_refused_without_panic() {
    let mut fb = Framebuffer::new();
    let img = noise(64, 64, 1);
    let jpeg = crate::picture::encode(&img, 0, 0, 64, 64, 70).unwrap();
    let upd = |x, y, w, h, jpeg: &[u8]| FrameUpdate {
        seq: 1,
        width: 100,
        height: 100,
        full: true,
        copies: vec![],
        pictures: vec![Picture {
            x,
            y,
            w,
            h,
            jpeg: jpeg.to_vec(),
        }],
        tiles: vec![],
        photos: vec![],
        video: vec![],
    };
    assert!(fb.apply(&upd(0, 0, 64, 64, &jpeg)).is_ok());
    for (x, y, w, h, data) in [
        (50, 50, 64, 64, &jpeg[..]),       // leaves the screen
        (0, 0, 32, 32, &jpeg[..]),         // larger than announced
        (0, 0, 80, 80, &jpeg[..]),         // smaller than announced
        (0, 0, 64, 64, &jpeg[..100]),      // truncated
        (0, 0, 64, 64, &[0xff, 0xd8][..]), // a header and nothing
        (0, 0, 64, 64, &[][..]),
    ] {
        assert!(fb.apply(&upd(x, y, w, h, data)).is_err(), "{x},{y} {w}×{h}");
    }
}

/// A text-like screen already sent, then a photo-like 640×400 region
/// pasted into it (not yet encoded).
fn screen_with_photo(seed: u32) -> (Image, Encoder, Framebuffer) {
    let mut screen = text_like(1024, 640);
    let mut enc = Encoder::new();
    let mut fb = Framebuffer::new();
    fb.apply(&enc.encode(&screen).unwrap()).unwrap();
    let photo = noise(640, 400, seed);
    for y in 0..400 {
        let at = (y + 100) * 1024 + 200;
        screen.pixels[at..at + 640].copy_from_slice(&photo.pixels[y * 640..(y + 1) * 640]);
    }
    (screen, enc, fb)
}

#[test]
fn changing_pictures_go_as_jpeg_then_exact_once_still() {
    // A photo-like region changes (448 rows of tiles): two JPEG bands
    // meeting on a 16-row boundary, no raw tiles.
    let (screen, mut enc, mut fb) = screen_with_photo(9);
    let upd = enc.encode(&screen).unwrap();
    let bands: Vec<_> = upd.pictures.iter().map(|p| (p.y, p.h)).collect();
    assert_eq!(bands, [(64, 224), (288, 224)]);
    assert!(
        upd.tiles
            .iter()
            .all(|t| !matches!(t.data, TileData::Raw { .. }))
    );
    let exact_bytes = Encoder::lossless().encode(&screen).unwrap().payload_bytes();
    assert!(
        upd.payload_bytes() < exact_bytes,
        "{} vs {exact_bytes}",
        upd.payload_bytes()
    );
    fb.apply(&upd).unwrap();
    assert!(fb.image() != Some(&screen), "a JPEG is not exact");
    // Still: nothing until REFRESH_AFTER quiet captures, then exact.
    for _ in 1..REFRESH_AFTER {
        assert_eq!(enc.still(), None);
    }
    let refresh = enc.still().unwrap();
    assert!(refresh.pictures.is_empty());
    fb.apply(&refresh).unwrap();
    assert!(fb.image() == Some(&screen), "not exact after the refresh");
    assert!(enc.still().is_none(), "refreshed once");
    assert_eq!(enc.encode(&screen), None);
}

#[test]
fn a_small_change_in_a_picture_region_replaces_the_whole_tile() {
    let (mut screen, mut enc, mut fb) = screen_with_photo(3);
    fb.apply(&enc.encode(&screen).unwrap()).unwrap();
    // One pixel changes inside the approximated area, then all goes still.
    screen.pixels[300 * 1024 + 300] ^= 0x00ff_ffff;
    let upd = enc.encode(&screen).unwrap();
    // A photo-like tile: exact as one tile, the whole of it.
    assert!(upd.photos.is_empty(), "{:?}", upd.photos);
    assert_eq!(upd.tiles.len(), 1);
    assert_eq!((upd.tiles[0].w, upd.tiles[0].h), (TILE, TILE));
    fb.apply(&upd).unwrap();
    for _ in 0..REFRESH_AFTER {
        if let Some(u) = enc.still() {
            fb.apply(&u).unwrap();
        }
    }
    assert!(fb.image() == Some(&screen), "not exact after the refresh");
}

#[test]
fn a_hint_limits_what_is_compared() {
    let mut img = text_like(640, 480);
    let mut enc = Encoder::new();
    enc.encode(&img).unwrap();
    img.pixels[10 * 640 + 10] = 0x00ff_0000;
    img.pixels[300 * 640 + 600] = 0x0000_ff00;
    let upd = enc.encode_within(&img, &[(590, 290, 20, 20)]).unwrap();
    let spots: Vec<_> = upd.tiles.iter().map(|t| (t.x, t.y)).collect();
    assert_eq!(spots, [(600, 300)], "only the hinted change");
    let upd = enc.encode(&img).unwrap();
    assert_eq!(
        (upd.tiles[0].x, upd.tiles[0].y),
        (10, 10),
        "found without a hint"
    );
}

#[test]
fn resize_and_reset_send_whole_frames() {
    let mut enc = Encoder::new();
    enc.encode(&noise(100, 100, 1)).unwrap();
    assert!(enc.encode(&noise(120, 100, 1)).unwrap().full);
    enc.reset();
    assert!(enc.encode(&noise(120, 100, 1)).unwrap().full);
}

#[test]
fn bgra_is_converted_with_stride() {
    let bytes = [
        1, 2, 3, 255, 4, 5, 6, 255, 0, 0, /* pad */ 7, 8, 9, 255, 10, 11, 12, 255, 0, 0,
    ];
    let mut img = Image::new(1, 1).unwrap();
    img.load_bgra(2, 2, 10, &bytes).unwrap();
    assert_eq!(img.pixels, [0x030201, 0x060504, 0x090807, 0x0c0b0a]);
    assert!(matches!(
        img.load_bgra(2, 3, 10, &bytes),
        Err(ScreenError::ShortBuffer { .. })
    ));
}

#[test]
fn hostile_updates_are_refused_without_panic() {
    let mut fb = Framebuffer::new();
    let tile = |x, y, w, h, data| Tile { x, y, w, h, data };
    let upd = |full, tiles| FrameUpdate {
        seq: 1,
        width: 100,
        height: 100,
        full,
        copies: vec![],
        pictures: vec![],
        tiles,
        photos: vec![],
        video: vec![],
    };
    assert_eq!(fb.apply(&upd(false, vec![])), Err(ScreenError::NoBase));
    let bad = [
        tile(90, 0, 20, 10, TileData::Solid(0)),
        tile(u32::MAX, 0, 10, 10, TileData::Solid(0)),
        tile(0, 0, 0, 10, TileData::Solid(0)),
        tile(0, 0, 10, 10, TileData::Raw { lz4: vec![1, 2, 3] }),
        tile(
            0,
            0,
            10,
            10,
            TileData::Raw {
                lz4: lz4_flex::compress(&[0; 10]),
            },
        ),
        tile(
            0,
            0,
            10,
            10,
            TileData::Palette {
                colors: vec![1],
                lz4: vec![],
            },
        ),
        tile(
            0,
            0,
            8,
            1,
            TileData::Palette {
                colors: vec![1, 2, 3],
                lz4: lz4_flex::compress(&[0xff, 0xff]),
            },
        ),
    ];
    for t in bad {
        assert!(fb.apply(&upd(true, vec![t.clone()])).is_err(), "{t:?}");
    }
    assert!(fb.image().is_none());
    let huge = FrameUpdate {
        seq: 1,
        width: 100_000,
        height: 1,
        full: true,
        copies: vec![],
        pictures: vec![],
        tiles: vec![],
        photos: vec![],
        video: vec![],
    };
    assert!(matches!(fb.apply(&huge), Err(ScreenError::BadSize(..))));
}

#[test]
fn updates_that_ask_too_much_are_refused_before_any_work() {
    let mut fb = Framebuffer::new();
    let base = FrameUpdate {
        seq: 1,
        width: 128,
        height: 64,
        full: true,
        copies: vec![],
        pictures: vec![],
        tiles: vec![],
        photos: vec![],
        video: vec![],
    };
    let copy = CopyRect {
        src_x: 0,
        src_y: 0,
        x: 1,
        y: 0,
        w: 1,
        h: 1,
    };
    let tile = Tile {
        x: 0,
        y: 0,
        w: 1,
        h: 1,
        data: TileData::Solid(0),
    };
    let picture = Picture {
        x: 0,
        y: 0,
        w: 1,
        h: 1,
        jpeg: vec![],
    };
    for (upd, what) in [
        (
            FrameUpdate {
                copies: vec![copy; MAX_COPIES + 1],
                ..base.clone()
            },
            "copies",
        ),
        (
            FrameUpdate {
                pictures: vec![picture; MAX_PICTURES + 1],
                ..base.clone()
            },
            "pictures",
        ),
        // The screen has two tiles.
        (
            FrameUpdate {
                tiles: vec![tile; 3],
                ..base.clone()
            },
            "tiles",
        ),
    ] {
        assert!(
            matches!(fb.apply(&upd), Err(ScreenError::TooMany { what: w, .. }) if w == what),
            "{what}"
        );
    }
    // Beyond 8K, or a thin screen of more pixels than 8K holds.
    for (w, h) in [(MAX_EDGE + 1, 1), (1, MAX_EDGE + 1), (MAX_EDGE, MAX_EDGE)] {
        let upd = FrameUpdate {
            width: w,
            height: h,
            ..base.clone()
        };
        assert!(
            matches!(fb.apply(&upd), Err(ScreenError::BadSize(..))),
            "{w}×{h}"
        );
    }
    assert!(fb.apply(&base).is_ok());
}

/// Pictures everywhere a photo changes, refined a piece at a time.
fn slow_link() -> Tuning {
    Tuning {
        jpeg_quality: Some(50),
        picture_min_pixels: 64 * 64,
        lossy_whole: true,
        refine_after: 2,
        refine_piece: 20_000,
        refine_quality: None,
        video_bitrate: 0,
    }
}

#[test]
fn a_slow_link_gets_a_lossy_whole_frame_then_exact_pieces() {
    let (screen, _, _) = screen_with_photo(5);
    let mut enc = Encoder::new();
    enc.tune(slow_link());
    let mut fb = Framebuffer::new();
    let first = enc.encode(&screen).unwrap();
    assert!(first.full && !first.pictures.is_empty());
    let exact_bytes = Encoder::lossless().encode(&screen).unwrap().payload_bytes();
    assert!(
        first.payload_bytes() * 3 < exact_bytes,
        "{} vs {exact_bytes}",
        first.payload_bytes()
    );
    fb.apply(&first).unwrap();
    assert!(fb.image() != Some(&screen));
    assert_eq!(enc.still(), None, "not yet: refine_after is 2");
    let mut pieces = 0;
    while let Some(piece) = enc.still() {
        // One run over the budget at most (a run is 640×64 here at most).
        assert!(
            piece.payload_bytes() < 20_000 + 640 * 64 * 3,
            "{}",
            piece.payload_bytes()
        );
        assert!(piece.pictures.is_empty() && piece.photos.is_empty());
        // Exact as tiles of the piece's one stream, each coded once.
        assert!(
            piece
                .tiles
                .iter()
                .all(|t| matches!(t.data, TileData::Chained { .. } | TileData::Solid(_))),
            "{:?}",
            piece.tiles.iter().map(|t| &t.data).collect::<Vec<_>>()
        );
        fb.apply(&piece).unwrap();
        pieces += 1;
        assert!(pieces < 100, "refinement never ends");
    }
    assert!(pieces > 1, "refined in one piece");
    assert!(fb.image() == Some(&screen), "not exact after refinement");
    assert!(!enc.refining());
}

#[test]
fn drawing_interrupts_a_refinement_which_then_goes_on() {
    let (mut screen, _, _) = screen_with_photo(6);
    let mut enc = Encoder::new();
    enc.tune(slow_link());
    let mut fb = Framebuffer::new();
    fb.apply(&enc.encode(&screen).unwrap()).unwrap();
    enc.still();
    fb.apply(&enc.still().unwrap()).unwrap();
    // Typing: a small change outside the photo goes at once, alone.
    for x in 10..20 {
        screen.pixels[5 * 1024 + x] = 0x00ff_0000;
    }
    let typed = enc.encode(&screen).unwrap();
    assert!(typed.photos.is_empty() && typed.pictures.is_empty());
    assert_eq!(typed.tiles.len(), 1);
    fb.apply(&typed).unwrap();
    assert!(enc.refining(), "the refinement waits, it is not dropped");
    let mut n = 0;
    while enc.refining() {
        if let Some(u) = enc.still() {
            fb.apply(&u).unwrap();
        }
        n += 1;
        assert!(n < 200);
    }
    assert!(fb.image() == Some(&screen));
}

#[test]
fn exact_photos_cost_far_less_than_raw_pixels() {
    // A smooth gradient with grain, as photographs have.
    let (w, h) = (640u32, 384u32);
    let mut seed = 99u32;
    let pixels = (0..w * h)
        .map(|i| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let (x, y) = (i % w, i / w);
            let base = (x * 255 / w) << 16 | (y * 255 / h) << 8 | ((x / 3 + y / 2) % 256);
            (base ^ (seed & 0x0003_0303)) & 0x00ff_ffff
        })
        .collect();
    let screen = Image {
        width: w,
        height: h,
        pixels,
    };
    let upd = Encoder::lossless().encode(&screen).unwrap();
    assert!(
        upd.tiles
            .iter()
            .all(|t| matches!(t.data, TileData::Chained { .. })),
        "every tile is photo-like, in the update's one stream"
    );
    let photo_bytes = upd.payload_bytes();
    let raw = (w * h * 3) as usize;
    assert!(photo_bytes * 2 < raw, "{photo_bytes} vs {raw}");
    let mut fb = Framebuffer::new();
    fb.apply(&upd).unwrap();
    assert!(fb.image() == Some(&screen));
}

#[test]
fn progressive_refinement_sharpens_with_jpeg_before_going_exact() {
    let (screen, _, _) = screen_with_photo(4);
    let mut enc = Encoder::new();
    enc.tune(Tuning {
        refine_quality: Some(90),
        ..slow_link()
    });
    let mut fb = Framebuffer::new();
    fb.apply(&enc.encode(&screen).unwrap()).unwrap();
    assert_eq!(enc.still(), None, "not yet: refine_after is 2");
    let mut kinds = Vec::new();
    while let Some(piece) = enc.still() {
        fb.apply(&piece).unwrap();
        assert!(piece.photos.is_empty());
        if !piece.pictures.is_empty() {
            assert!(piece.tiles.is_empty());
            kinds.push("sharper");
        } else if !piece.tiles.is_empty() {
            kinds.push("exact");
        }
        assert!(kinds.len() < 200, "refinement never ends");
    }
    let first_exact = kinds.iter().position(|k| *k == "exact").unwrap();
    assert!(first_exact > 0, "{kinds:?}");
    assert!(
        kinds[first_exact..].iter().all(|k| *k == "exact"),
        "every coarse picture was sharpened before any exact piece: {kinds:?}"
    );
    assert!(fb.image() == Some(&screen), "not exact in the end");
}

#[test]
fn smooth_text_that_scrolls_goes_as_a_copy_not_a_picture() {
    // Lines of "glyphs" with 40 grey levels: more colours than a palette
    // holds, as anti-aliased text has.
    let (w, h) = (640u32, 480u32);
    let line = |y: u32, n: u32| -> u32 {
        let level = (y % 16) * 2 + (n % 7) * 5 + (n * 13 % 11);
        0x0001_0101 * (0xe0 - level * 3)
    };
    let page = |first: u32| -> Image {
        let pixels = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                let n = (y + first * 16) / 16;
                if (x / 7 + n).is_multiple_of(3) {
                    0x00ff_ffff
                } else {
                    line(y, n + x / 7)
                }
            })
            .collect();
        Image {
            width: w,
            height: h,
            pixels,
        }
    };
    let mut enc = Encoder::new();
    enc.tune(slow_link());
    let mut fb = Framebuffer::new();
    fb.apply(&enc.encode(&page(0)).unwrap()).unwrap();
    while let Some(u) = enc.still() {
        fb.apply(&u).unwrap();
    }
    let next = page(1);
    let upd = enc.encode(&next).unwrap();
    assert!(!upd.copies.is_empty(), "the scroll was found");
    assert!(upd.pictures.is_empty(), "no picture of a scrolled page");
    fb.apply(&upd).unwrap();
    assert!(fb.image() == Some(&next));
    // A whole new page (no scroll to find): still exact, not a picture:
    // forty grey levels are text, not a photograph.
    let other = page(37);
    let upd = enc.encode(&other).unwrap();
    assert!(upd.pictures.is_empty(), "smooth text went as a picture");
    fb.apply(&upd).unwrap();
    assert!(fb.image() == Some(&other));
}

#[test]
fn a_sharpening_piece_never_carries_more_pictures_than_a_viewer_takes() {
    // Photo-like tiles scattered one in two along every row: many short
    // runs, each a small picture, and a budget that would take them all.
    let (w, h) = (1024u32, 512u32);
    let noise_tile = |x: u32, y: u32| (x / TILE + y / TILE).is_multiple_of(2);
    let mut seed = 7u32;
    let pixels = (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            if noise_tile(x, y) {
                seed & 0x00ff_ffff
            } else {
                0x00f0_f0f0
            }
        })
        .collect();
    let screen = Image {
        width: w,
        height: h,
        pixels,
    };
    let mut enc = Encoder::new();
    enc.tune(Tuning {
        refine_quality: Some(90),
        refine_piece: usize::MAX / 2,
        ..slow_link()
    });
    let mut fb = Framebuffer::new();
    fb.apply(&enc.encode(&screen).unwrap()).unwrap();
    enc.still();
    let mut n = 0;
    while let Some(piece) = enc.still() {
        assert!(
            piece.pictures.len() <= MAX_PICTURES,
            "{}",
            piece.pictures.len()
        );
        fb.apply(&piece).unwrap();
        n += 1;
        assert!(n < 100);
    }
    assert!(fb.image() == Some(&screen));
}

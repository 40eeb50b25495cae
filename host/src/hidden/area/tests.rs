use super::*;

fn b(x: i32, y: i32, width: u32, height: u32) -> HiddenBox {
    HiddenBox {
        x,
        y,
        width,
        height,
    }
}

fn w(id: u64, title: &str, area: HiddenBox) -> TopWindow {
    TopWindow {
        id,
        title: title.into(),
        area,
        shown: true,
    }
}

fn secret(w: &TopWindow) -> bool {
    matches(&w.title, "vault")
}

fn total(boxes: &[HiddenBox]) -> u64 {
    boxes
        .iter()
        .map(|b| u64::from(b.width) * u64::from(b.height))
        .sum()
}

#[test]
fn patterns_are_parts_of_titles_in_any_case() {
    assert!(matches("Passwords - KeePassXC", "keepass"));
    assert!(matches("Secret VAULT", "vault"));
    assert!(!matches("Terminal", "vault"));
    assert!(!matches("anything", ""));
}

#[test]
fn a_private_window_is_hidden_whole_when_nothing_lies_above() {
    let ws = [
        w(1, "Terminal", b(0, 0, 800, 600)),
        w(2, "Vault", b(100, 50, 200, 100)),
    ];
    assert_eq!(hidden_area(&ws, secret), vec![b(100, 50, 200, 100)]);
}

#[test]
fn what_lies_above_is_shown_and_what_lies_below_is_not() {
    // The browser above covers the vault's right half: that half shows.
    let ws = [
        w(1, "Vault", b(0, 0, 200, 100)),
        w(2, "Browser", b(100, 0, 300, 300)),
    ];
    let hidden = hidden_area(&ws, secret);
    assert_eq!(hidden, vec![b(0, 0, 100, 100)]);
    // Below the vault, the same browser changes nothing.
    let ws = [
        w(2, "Browser", b(100, 0, 300, 300)),
        w(1, "Vault", b(0, 0, 200, 100)),
    ];
    assert_eq!(hidden_area(&ws, secret), vec![b(0, 0, 200, 100)]);
}

#[test]
fn a_window_in_the_middle_leaves_a_frame_of_four_boxes() {
    let ws = [
        w(1, "Vault", b(0, 0, 300, 300)),
        w(2, "Note", b(100, 100, 100, 100)),
    ];
    let hidden = hidden_area(&ws, secret);
    assert_eq!(hidden.len(), 4);
    assert_eq!(total(&hidden), 300 * 300 - 100 * 100);
    assert!(!inside(&hidden, (150, 150)));
    for p in [(0, 0), (299, 299), (99, 150), (200, 150), (150, 99)] {
        assert!(inside(&hidden, p), "{p:?}");
    }
}

#[test]
fn hidden_and_minimised_windows_and_private_ones_above_change_nothing() {
    let mut note = w(2, "Note", b(0, 0, 50, 50));
    note.shown = false;
    let ws = [
        w(1, "Vault", b(0, 0, 100, 100)),
        note,
        w(3, "Vault 2", b(50, 50, 100, 100)),
    ];
    let hidden = hidden_area(&ws, secret);
    assert_eq!(hidden, vec![b(0, 0, 100, 100), b(50, 50, 100, 100)]);
    let mut gone = ws.clone();
    gone[0].shown = false;
    gone[2].shown = false;
    assert!(hidden_area(&gone, secret).is_empty());
}

#[test]
fn too_many_pieces_become_whole_windows_then_one_box() {
    // A private window under a comb of 70 windows: 73 pieces.
    let mut ws = vec![w(1, "Vault", b(0, 0, 1000, 100))];
    for i in 0..70 {
        ws.push(w(10 + i, "tooth", b(i as i32 * 14, 10, 10, 10)));
    }
    assert_eq!(hidden_area(&ws, secret), vec![b(0, 0, 1000, 100)]);
    let many: Vec<_> = (0..70)
        .map(|i| w(i, "vault", b(i as i32 * 10, 0, 5, 5)))
        .collect();
    assert_eq!(hidden_area(&many, secret), vec![b(0, 0, 695, 5)]);
}

#[test]
fn far_off_boxes_neither_overflow_nor_panic() {
    let ws = [
        w(1, "Vault", b(i32::MAX - 1, i32::MIN, u32::MAX, u32::MAX)),
        w(2, "x", b(i32::MIN, i32::MIN, u32::MAX, u32::MAX)),
    ];
    let _ = hidden_area(&ws, secret);
    let shown = Rect::whole(100, 100);
    assert!(on_picture(&[b(i32::MAX, 0, u32::MAX, 1)], shown).is_empty());
    assert_eq!(
        on_picture(&[b(-10, -10, u32::MAX, 20)], shown),
        vec![b(0, 0, 100, 10)]
    );
}

#[test]
fn boxes_move_onto_the_shown_monitor_and_are_blanked() {
    let shown = Rect {
        x: 100,
        y: 0,
        w: 50,
        h: 40,
    };
    let on = on_picture(&[b(90, 10, 20, 5), b(0, 0, 10, 10)], shown);
    assert_eq!(on, vec![b(0, 10, 10, 5)]);
    let mut pixels = vec![1u32; 50 * 40];
    blank(&mut pixels, 50, 40, &on);
    let blanked = pixels.iter().filter(|p| **p == BLANK).count();
    assert_eq!(blanked, 10 * 5);
    assert_eq!(pixels[10 * 50], BLANK);
    assert_eq!(pixels[10 * 50 + 10], 1);
    // A box past the picture's edge is clipped, never out of bounds.
    blank(&mut pixels, 50, 40, &[b(45, 35, 100, 100)]);
    assert_eq!(pixels[39 * 50 + 49], BLANK);
}

//! The hidden area's geometry: patterns, whole private windows, the
//! cap on boxes, far-off boxes, the shown monitor and the blanking.

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
fn what_lies_above_a_private_window_is_hidden_with_it() {
    // A window above may be see-through, take no pixels (X11's input-only
    // windows) or move away before the next listing: the private
    // window's whole area stays hidden.
    let ws = [
        w(1, "Vault", b(0, 0, 200, 100)),
        w(2, "Browser", b(100, 0, 300, 300)),
        w(3, "Note", b(50, 50, 10, 10)),
    ];
    assert_eq!(hidden_area(&ws, secret), vec![b(0, 0, 200, 100)]);
    assert!(inside(&hidden_area(&ws, secret), (55, 55)));
}

#[test]
fn hidden_and_minimised_windows_hide_nothing() {
    let mut gone = w(2, "Vault 2", b(0, 0, 50, 50));
    gone.shown = false;
    let ws = [w(1, "Vault", b(0, 0, 100, 100)), gone];
    assert_eq!(hidden_area(&ws, secret), vec![b(0, 0, 100, 100)]);
    let mut none = ws.clone();
    none[0].shown = false;
    assert!(hidden_area(&none, secret).is_empty());
}

#[test]
fn too_many_windows_become_one_box() {
    let many: Vec<_> = (0..70)
        .map(|i| w(i, "vault", b(i as i32 * 10, 0, 5, 5)))
        .collect();
    assert_eq!(hidden_area(&many, secret), vec![b(0, 0, 695, 5)]);
    assert_eq!(hidden_area(&many[..64], secret).len(), 64);
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

//! X11's top-level windows for [`crate::hidden`]: the root's children
//! (a window manager's frames, titled by the client inside), bottom to
//! top, with their titles, geometry and whether they are shown, listed
//! again whenever the root says a window was made, moved, resized,
//! restacked, shown, hidden or destroyed, or a title changed. Pointer and
//! keyboard focus are asked on a connection of their own.

use std::collections::HashSet;
use std::thread;

use lifeline_session::messages::HiddenBox;
use x11rb::connection::Connection as _;
use x11rb::errors::ReplyError;
use x11rb::protocol::Event;
use x11rb::protocol::xproto::{
    Atom, AtomEnum, ChangeWindowAttributesAux, ConnectionExt as _, EventMask, GetGeometryReply,
    MapState, Window,
};
use x11rb::rust_connection::RustConnection;

use super::X11Error;
use crate::hidden::{Desk, LostOnPanic, Placed, Privacy, TopWindow};

/// Longest title kept, in bytes of the property.
const MAX_TITLE: u32 = 1024;

/// How deep inside a top-level window its title is looked for.
const TITLE_DEPTH: u32 = 3;

/// Starts following the display's windows for `privacy` (its desk is
/// [`X11Desk`]); a watcher that fails hides the whole screen from then on.
pub fn follow(display: &str, privacy: Privacy) -> Result<(), X11Error> {
    let (conn, screen) = x11rb::connect(Some(display))?;
    let root = conn.setup().roots[screen].root;
    let mut watcher = Watcher::new(conn, root)?;
    // Listed once before anything is captured (until then, all is hidden).
    privacy.set_windows(watcher.list()?);
    thread::Builder::new()
        .name("windows".into())
        .spawn(move || {
            let privacy = LostOnPanic(privacy);
            if let Err(e) = watcher.run(&privacy.0) {
                tracing::error!(error = %e, "lost track of the windows: hiding the whole screen");
                privacy.0.lost();
            }
        })
        .map_err(X11Error::Thread)?;
    Ok(())
}

struct Watcher {
    conn: RustConnection,
    root: Window,
    net_wm_name: Atom,
    utf8: Atom,
    /// Windows whose title changes are followed already.
    titled: HashSet<Window>,
}

impl Watcher {
    fn new(conn: RustConnection, root: Window) -> Result<Self, X11Error> {
        let net_wm_name = conn.intern_atom(false, b"_NET_WM_NAME")?;
        let utf8 = conn.intern_atom(false, b"UTF8_STRING")?;
        let (net_wm_name, utf8) = (net_wm_name.reply()?.atom, utf8.reply()?.atom);
        let mask = ChangeWindowAttributesAux::new().event_mask(EventMask::SUBSTRUCTURE_NOTIFY);
        conn.change_window_attributes(root, &mask)?.check()?;
        Ok(Self {
            conn,
            root,
            net_wm_name,
            utf8,
            titled: HashSet::new(),
        })
    }

    fn run(mut self, privacy: &Privacy) -> Result<(), X11Error> {
        loop {
            privacy.set_windows(self.list()?);
            // Wait for a change, then take every one queued with it.
            let mut relevant = self.relevant(&self.conn.wait_for_event()?);
            while let Some(ev) = self.conn.poll_for_event()? {
                relevant |= self.relevant(&ev);
            }
            while !relevant {
                relevant = self.relevant(&self.conn.wait_for_event()?);
            }
        }
    }

    /// Whether an event may change what is hidden (not every property).
    fn relevant(&self, ev: &Event) -> bool {
        match ev {
            Event::PropertyNotify(p) => {
                p.atom == self.net_wm_name || p.atom == u32::from(AtomEnum::WM_NAME)
            }
            _ => true,
        }
    }

    /// The root's children, bottom to top; those destroyed meanwhile are
    /// left out. Requests go out together, then the replies are read.
    fn list(&mut self) -> Result<Vec<TopWindow>, X11Error> {
        let children = self.conn.query_tree(self.root)?.reply()?.children;
        let mut asked = Vec::with_capacity(children.len());
        for &w in &children {
            asked.push((
                w,
                self.conn.get_window_attributes(w)?,
                self.conn.get_geometry(w)?,
            ));
        }
        let mut windows = Vec::with_capacity(children.len());
        for (w, attrs, geometry) in asked {
            let (Ok(attrs), Ok(g)) = (attrs.reply(), geometry.reply()) else {
                continue;
            };
            windows.push(TopWindow {
                id: u64::from(w),
                title: String::new(),
                area: area_of(&g),
                shown: attrs.map_state == MapState::VIEWABLE,
            });
        }
        // Ids are reused: a window gone is followed afresh if one comes back.
        let mut seen = HashSet::new();
        for w in windows.iter_mut().filter(|w| w.shown) {
            w.title = self.title_of(w.id as Window, 0, &mut seen)?;
        }
        self.titled.retain(|w| seen.contains(w));
        Ok(windows)
    }

    /// The window's title, or the first titled one inside it (a window
    /// manager's frame holds the client, which has the title; some hold
    /// a wrapper between), at most [`TITLE_DEPTH`] levels down.
    fn title_of(
        &mut self,
        w: Window,
        depth: u32,
        seen: &mut HashSet<Window>,
    ) -> Result<String, X11Error> {
        seen.insert(w);
        if let Some(t) = self.own_title(w)? {
            return Ok(t);
        }
        if depth >= TITLE_DEPTH {
            return Ok(String::new());
        }
        let Ok(tree) = self.conn.query_tree(w)?.reply() else {
            return Ok(String::new());
        };
        for child in tree.children {
            let t = self.title_of(child, depth + 1, seen)?;
            if !t.is_empty() {
                return Ok(t);
            }
        }
        Ok(String::new())
    }

    fn own_title(&mut self, w: Window) -> Result<Option<String>, X11Error> {
        if self.titled.insert(w) {
            // Follow its title from now on (a browser's changes with its tab).
            let mask = ChangeWindowAttributesAux::new().event_mask(EventMask::PROPERTY_CHANGE);
            // A window gone meanwhile is simply not followed.
            let _ = self.conn.change_window_attributes(w, &mask)?;
        }
        let net = self
            .conn
            .get_property(false, w, self.net_wm_name, self.utf8, 0, MAX_TITLE)?;
        let old =
            self.conn
                .get_property(false, w, AtomEnum::WM_NAME, AtomEnum::ANY, 0, MAX_TITLE)?;
        for reply in [net.reply(), old.reply()].into_iter().flatten() {
            if !reply.value.is_empty() {
                return Ok(Some(String::from_utf8_lossy(&reply.value).into_owned()));
            }
        }
        Ok(None)
    }
}

/// Pointer and keyboard focus, asked of the X server when input comes.
#[derive(Debug)]
pub struct X11Desk {
    conn: RustConnection,
    root: Window,
}

impl X11Desk {
    pub fn open(display: &str) -> Result<Self, X11Error> {
        let (conn, screen) = x11rb::connect(Some(display))?;
        let root = conn.setup().roots[screen].root;
        Ok(Self { conn, root })
    }

    /// The root's child that holds `w` (at most 32 levels up).
    fn top_of(&self, mut w: Window) -> Option<Window> {
        for _ in 0..32 {
            let parent = self.conn.query_tree(w).ok()?.reply().ok()?.parent;
            if parent == self.root || parent == x11rb::NONE {
                return Some(w);
            }
            w = parent;
        }
        None
    }
}

impl Desk for X11Desk {
    fn pointer(&self) -> Option<(i32, i32)> {
        let r = self.conn.query_pointer(self.root).ok()?.reply().ok()?;
        Some((i32::from(r.root_x), i32::from(r.root_y)))
    }

    fn focused(&self) -> Option<u64> {
        let focus = self.conn.get_input_focus().ok()?.reply().ok()?.focus;
        // None (0) and PointerRoot (1): keys go to the window under the
        // pointer, as without a window manager.
        let w = if focus <= 1 || focus == self.root {
            let child = self.conn.query_pointer(self.root).ok()?.reply().ok()?.child;
            if child == x11rb::NONE {
                return Some(u64::from(self.root));
            }
            child
        } else {
            self.top_of(focus)?
        };
        Some(u64::from(w))
    }

    fn place(&self, id: u64) -> Placed {
        let Ok(w) = Window::try_from(id) else {
            return Placed::Gone;
        };
        let asked = self
            .conn
            .get_window_attributes(w)
            .and_then(|a| Ok((a, self.conn.get_geometry(w)?)));
        let Ok((attrs, geometry)) = asked else {
            return Placed::Unknown;
        };
        match (attrs.reply(), geometry.reply()) {
            (Ok(a), Ok(g)) if a.map_state == MapState::VIEWABLE => Placed::At(area_of(&g)),
            (Ok(_), Ok(_)) => Placed::Gone,
            // The server's own answer: no such window (any more).
            (Err(ReplyError::X11Error(_)), _) | (_, Err(ReplyError::X11Error(_))) => Placed::Gone,
            _ => Placed::Unknown,
        }
    }
}

/// Where a root's child is, its border included.
fn area_of(g: &GetGeometryReply) -> HiddenBox {
    let border = u32::from(g.border_width) * 2;
    HiddenBox {
        x: i32::from(g.x),
        y: i32::from(g.y),
        width: u32::from(g.width) + border,
        height: u32::from(g.height) + border,
    }
}

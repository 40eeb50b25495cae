//! The X server's DAMAGE extension on the root window: tells whether and
//! where anything was drawn, so an idle screen costs no capture at all and
//! typing costs a read of a few glyphs.

use x11rb::connection::Connection as _;
use x11rb::protocol::Event;
use x11rb::protocol::damage::{ConnectionExt as _, ReportLevel};
use x11rb::protocol::xfixes::ConnectionExt as _;
use x11rb::protocol::xproto::{ChangeWindowAttributesAux, ConnectionExt as _, EventMask};
use x11rb::rust_connection::RustConnection;

use super::X11Error;
use crate::platform::Wake;

/// A DAMAGE report on a connection of its own.
pub(super) struct Damage {
    pub(super) conn: RustConnection,
    damage: u32,
    pub(super) root: u32,
    /// An XFixes region that receives what was drawn, when we ask where.
    parts: Option<u32>,
    /// The screen's new size, when it changed (a monitor plugged in or
    /// out, a laptop docked): the root window was reconfigured.
    resized: Option<(u32, u32)>,
}

/// What was drawn since the last look.
pub(super) enum Damaged {
    Nothing,
    /// These rectangles (x, y, w, h), clipped to the screen.
    Rects(Vec<(u32, u32, u32, u32)>),
    /// Something, somewhere.
    Unknown,
}

impl Damage {
    /// Reports drawing on `conn`'s root window. `regions`: also learn where
    /// (the capture's own connection wants this; a watcher only whether).
    pub(super) fn open(conn: RustConnection, root: u32, regions: bool) -> Result<Self, X11Error> {
        conn.damage_query_version(1, 1)?.reply()?;
        let damage = conn.generate_id()?;
        conn.damage_create(damage, root, ReportLevel::NON_EMPTY)?;
        // The root window's size changes with the monitors (RandR).
        let notify = ChangeWindowAttributesAux::new().event_mask(EventMask::STRUCTURE_NOTIFY);
        conn.change_window_attributes(root, &notify)?;
        let parts = if regions {
            let region = conn.generate_id()?;
            let made = conn.xfixes_query_version(5, 0)?.reply().is_ok()
                && conn.xfixes_create_region(region, &[]).is_ok();
            made.then_some(region)
        } else {
            None
        };
        conn.flush()?;
        Ok(Self {
            conn,
            damage,
            root,
            parts,
            resized: None,
        })
    }

    /// The screen's new size, once, if it changed since the last call.
    pub(super) fn take_resize(&mut self) -> Option<(u32, u32)> {
        self.resized.take()
    }

    /// Where the pointer is (the X capture does not include it).
    pub(super) fn pointer(&self) -> Option<(i32, i32)> {
        let r = self.conn.query_pointer(self.root).ok()?.reply().ok()?;
        Some((i32::from(r.root_x), i32::from(r.root_y)))
    }

    /// What was drawn since the last call; re-arms the report.
    pub(super) fn take(&mut self, width: u32, height: u32) -> Result<Damaged, X11Error> {
        let mut damaged = false;
        while let Some(ev) = self.conn.poll_for_event()? {
            match ev {
                Event::DamageNotify(_) => damaged = true,
                Event::ConfigureNotify(c) if c.window == self.root => {
                    self.resized = Some((u32::from(c.width), u32::from(c.height)));
                    damaged = true;
                }
                _ => {}
            }
        }
        if !damaged {
            return Ok(Damaged::Nothing);
        }
        let Some(parts) = self.parts else {
            self.rearm()?;
            return Ok(Damaged::Unknown);
        };
        self.conn.damage_subtract(self.damage, x11rb::NONE, parts)?;
        let reply = self.conn.xfixes_fetch_region(parts)?.reply()?;
        let rects = reply
            .rectangles
            .iter()
            .filter_map(|r| {
                let x0 = u32::try_from(r.x.max(0)).ok()?;
                let y0 = u32::try_from(r.y.max(0)).ok()?;
                let x1 = (i64::from(r.x) + i64::from(r.width)).clamp(0, i64::from(width)) as u32;
                let y1 = (i64::from(r.y) + i64::from(r.height)).clamp(0, i64::from(height)) as u32;
                (x1 > x0 && y1 > y0).then_some((x0, y0, x1 - x0, y1 - y0))
            })
            .collect();
        Ok(Damaged::Rects(rects))
    }

    /// Empties the damage region, so the next drawing reports again.
    pub(super) fn rearm(&self) -> Result<(), X11Error> {
        self.conn
            .damage_subtract(self.damage, x11rb::NONE, x11rb::NONE)?;
        self.conn.flush()?;
        Ok(())
    }

    /// Blocks on this connection in a thread of its own, calling `wake` on
    /// every report until `wake` returns false or the connection fails.
    pub(super) fn watch(self, wake: Wake) -> std::io::Result<()> {
        std::thread::Builder::new()
            .name("damage".into())
            .spawn(move || {
                loop {
                    match self.conn.wait_for_event() {
                        Ok(Event::DamageNotify(_)) => {
                            if let Err(e) = self.rearm() {
                                tracing::warn!(error = %e, "damage watcher stopped");
                                return;
                            }
                            if !wake() {
                                return;
                            }
                        }
                        // The screen changed size: capture it whole now.
                        Ok(Event::ConfigureNotify(_)) => {
                            if !wake() {
                                return;
                            }
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "damage watcher stopped");
                            return;
                        }
                    }
                }
            })
            .map(drop)
    }
}

//! The compositor's outputs (monitors): where each sits in the layout and
//! its size, as `wl_output` describes them. The capture copies each; input
//! needs the layout's size for absolute pointer motion.

use wayland_client::globals::registry_queue_init;
use wayland_client::protocol::wl_output;
use wayland_client::{Connection, Dispatch, QueueHandle, WEnum};

use super::WlError;

/// One output as the compositor describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    pub name: String,
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
}

impl Output {
    /// Takes in one of `wl_output`'s descriptions.
    pub fn on_event(&mut self, event: wl_output::Event) {
        match event {
            wl_output::Event::Geometry { x, y, .. } => (self.x, self.y) = (x, y),
            wl_output::Event::Mode {
                flags,
                width,
                height,
                ..
            } => {
                let current =
                    matches!(flags, WEnum::Value(f) if f.contains(wl_output::Mode::Current));
                if current {
                    self.width = u32::try_from(width).unwrap_or(0);
                    self.height = u32::try_from(height).unwrap_or(0);
                }
            }
            wl_output::Event::Name { name } => self.name = name,
            _ => {}
        }
    }
}

/// The layout's size: the outputs' bounding box from the origin.
pub fn layout_size<'a>(outputs: impl Iterator<Item = &'a Output> + Clone) -> (u32, u32) {
    let right = |o: &Output| u32::try_from(o.x).unwrap_or(0) + o.width;
    let bottom = |o: &Output| u32::try_from(o.y).unwrap_or(0) + o.height;
    (
        outputs.clone().map(right).max().unwrap_or(0),
        outputs.map(bottom).max().unwrap_or(0),
    )
}

/// Lists the outputs on a connection of its own.
pub fn list(conn: &Connection) -> Result<Vec<Output>, WlError> {
    let (globals, mut queue) = registry_queue_init::<Lister>(conn)?;
    let qh = queue.handle();
    let names: Vec<(u32, u32)> = globals.contents().with_list(|list| {
        list.iter()
            .filter(|g| g.interface == "wl_output")
            .map(|g| (g.name, g.version.min(4)))
            .collect()
    });
    let mut state = Lister(
        names
            .into_iter()
            .map(|(name, v)| (globals.registry().bind(name, v, &qh, ()), Output::default()))
            .collect(),
    );
    queue.roundtrip(&mut state)?;
    Ok(state.0.into_iter().map(|(_, o)| o).collect())
}

struct Lister(Vec<(wl_output::WlOutput, Output)>);

super::ignore_registry!(Lister);

impl Dispatch<wl_output::WlOutput, ()> for Lister {
    fn event(
        state: &mut Self,
        proxy: &wl_output::WlOutput,
        event: wl_output::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let Some((_, o)) = state.0.iter_mut().find(|(p, _)| p == proxy) {
            o.on_event(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_spans_every_output() {
        let o = |x, y, width, height| Output {
            name: String::new(),
            x,
            y,
            width,
            height,
        };
        let outs = [o(0, 0, 1280, 720), o(1280, 0, 1024, 768)];
        assert_eq!(layout_size(outs.iter()), (2304, 768));
        assert_eq!(layout_size([].iter()), (0, 0));
    }
}

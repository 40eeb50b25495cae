//! Screen capture with DXGI Desktop Duplication: one duplication per
//! monitor of the graphics adapter, each frame copied from the GPU to a
//! staging texture we map, pasted into the picture of the whole virtual
//! screen. Windows tells what was drawn (dirty rectangles, and the
//! destinations of moved ones): a grab reports just those regions, so the
//! encoder looks nowhere else, and a monitor with no new frame costs
//! nothing. It needs a real graphics driver: in Wine, most virtual
//! machines and remote sessions duplication is refused, and the backend
//! falls back to GDI ([`super::gdi`]).
#![allow(unsafe_code)]

use lifeline_session::messages::MonitorInfo;
use lifeline_session::screen::Image;
use windows::Win32::Foundation::{HMODULE, RECT};
use windows::Win32::Graphics::Direct3D::D3D_DRIVER_TYPE_HARDWARE;
use windows::Win32::Graphics::Direct3D11::{
    D3D11_CPU_ACCESS_READ, D3D11_CREATE_DEVICE_BGRA_SUPPORT, D3D11_MAP_READ,
    D3D11_MAPPED_SUBRESOURCE, D3D11_SDK_VERSION, D3D11_TEXTURE2D_DESC, D3D11_USAGE_STAGING,
    D3D11CreateDevice, ID3D11Device, ID3D11DeviceContext, ID3D11Texture2D,
};
use windows::Win32::Graphics::Dxgi::Common::{
    DXGI_MODE_ROTATION_IDENTITY, DXGI_MODE_ROTATION_UNSPECIFIED,
};
use windows::Win32::Graphics::Dxgi::{
    DXGI_ERROR_ACCESS_LOST, DXGI_ERROR_DEVICE_REMOVED, DXGI_ERROR_DEVICE_RESET,
    DXGI_ERROR_WAIT_TIMEOUT, DXGI_OUTDUPL_FRAME_INFO, DXGI_OUTDUPL_MOVE_RECT, IDXGIDevice,
    IDXGIOutput1, IDXGIOutputDuplication, IDXGIResource,
};
use windows::core::Interface as _;

use super::coords::Rect;
use super::gdi::virtual_screen;
use super::paste::{Surface, paste};
use crate::platform::{CaptureError, Grab, ScreenSource};

/// The rectangles (x, y, w, h) a frame drew, on the whole picture.
type Drawn = Vec<(u32, u32, u32, u32)>;

/// One monitor's duplication.
struct Output {
    duplication: IDXGIOutputDuplication,
    /// Where it is on the virtual screen.
    place: Rect,
    staging: Option<(ID3D11Texture2D, u32, u32)>,
}

/// Every monitor through desktop duplication.
pub struct DxgiScreen {
    device: ID3D11Device,
    context: ID3D11DeviceContext,
    outputs: Vec<Output>,
    screen: Rect,
    /// A duplication lost its desktop: open them again at the next grab.
    lost: bool,
}

impl std::fmt::Debug for DxgiScreen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DxgiScreen")
            .field("screen", &self.screen)
            .field("outputs", &self.outputs.len())
            .finish()
    }
}

/// Duplication cannot show this desktop (`why`): GDI does instead.
fn refused(why: &str) -> CaptureError {
    CaptureError::Open {
        display: "the Windows desktop (DXGI)".into(),
        source: format!("desktop duplication does not handle {why}").into(),
    }
}

fn grab_err(e: windows::core::Error) -> CaptureError {
    CaptureError::Grab(Box::new(e))
}

impl DxgiScreen {
    /// Duplicates every monitor of the default adapter; an error where
    /// the system cannot (no driver, Wine, a remote session).
    pub fn open() -> Result<Self, CaptureError> {
        let open = |e: windows::core::Error| CaptureError::Open {
            display: "the Windows desktop (DXGI)".into(),
            source: Box::new(e),
        };
        let mut device = None;
        let mut context = None;
        // SAFETY: COM calls through the windows crate's checked wrappers;
        // the out-pointers are ours and live across the calls.
        unsafe {
            D3D11CreateDevice(
                None,
                D3D_DRIVER_TYPE_HARDWARE,
                HMODULE::default(),
                D3D11_CREATE_DEVICE_BGRA_SUPPORT,
                None,
                D3D11_SDK_VERSION,
                Some(&mut device),
                None,
                Some(&mut context),
            )
            .map_err(open)?;
        }
        let missing = || {
            open(windows::core::Error::from_hresult(
                windows::Win32::Foundation::E_FAIL,
            ))
        };
        let device: ID3D11Device = device.ok_or_else(missing)?;
        let context: ID3D11DeviceContext = context.ok_or_else(missing)?;
        let mut outputs = Vec::new();
        // SAFETY: as above.
        unsafe {
            let adapter = device
                .cast::<IDXGIDevice>()
                .map_err(open)?
                .GetAdapter()
                .map_err(open)?;
            let mut i = 0;
            while let Ok(output) = adapter.EnumOutputs(i) {
                i += 1;
                let desc = output.GetDesc().map_err(open)?;
                if !desc.AttachedToDesktop.as_bool() {
                    continue;
                }
                let RECT {
                    left,
                    top,
                    right,
                    bottom,
                } = desc.DesktopCoordinates;
                let duplication = output
                    .cast::<IDXGIOutput1>()
                    .map_err(open)?
                    .DuplicateOutput(&device)
                    .map_err(open)?;
                // A rotated monitor's frames come unrotated: until they
                // are turned on paste, GDI shows such a desktop.
                let rotation = duplication.GetDesc().Rotation;
                if rotation != DXGI_MODE_ROTATION_IDENTITY
                    && rotation != DXGI_MODE_ROTATION_UNSPECIFIED
                {
                    return Err(refused("a rotated monitor"));
                }
                outputs.push(Output {
                    duplication,
                    place: Rect::from_edges(left, top, right, bottom),
                    staging: None,
                });
            }
        }
        // Monitors on another graphics card are not this device's: GDI
        // shows every monitor, so it is used instead.
        if outputs.is_empty() || outputs.len() < super::gdi::monitors().len() {
            return Err(refused("a monitor on another graphics adapter"));
        }
        Ok(Self {
            device,
            context,
            outputs,
            screen: virtual_screen(),
            lost: false,
        })
    }

    /// Copies one output's new frame, if any, into `into`; the regions
    /// it changed, in picture coordinates (`None`: no new frame).
    fn output(
        &mut self,
        i: usize,
        into: &mut Image,
        force: bool,
    ) -> Result<Option<Drawn>, Grabbing> {
        let out = &mut self.outputs[i];
        let mut info = DXGI_OUTDUPL_FRAME_INFO::default();
        let mut resource: Option<IDXGIResource> = None;
        // SAFETY: the out-pointers are ours; a frame acquired is released
        // below whatever happens between.
        let acquired = unsafe {
            out.duplication
                .AcquireNextFrame(if force { 100 } else { 0 }, &mut info, &mut resource)
        };
        match acquired {
            Err(e) if e.code() == DXGI_ERROR_WAIT_TIMEOUT => return Ok(None),
            // The desktop switched (the secure desktop, a new mode) or
            // the graphics driver restarted: this duplication is over;
            // the next grab opens a new one.
            Err(e) if lost(&e) => return Err(Grabbing::Lost),
            Err(e) => return Err(grab_err(e).into()),
            Ok(()) => {}
        }
        let copied = copy_frame(
            &self.device,
            &self.context,
            out,
            resource,
            info,
            into,
            self.screen,
            force,
        );
        // SAFETY: the frame acquired above.
        let released = unsafe { out.duplication.ReleaseFrame() };
        let regions = copied?;
        match released {
            Err(e) if lost(&e) => Err(Grabbing::Lost),
            Err(e) => Err(grab_err(e).into()),
            Ok(()) => Ok(regions),
        }
    }
}

/// Copies the acquired frame to the staging texture and into the
/// picture; the regions Windows says were drawn.
#[allow(clippy::too_many_arguments)]
fn copy_frame(
    device: &ID3D11Device,
    context: &ID3D11DeviceContext,
    out: &mut Output,
    resource: Option<IDXGIResource>,
    info: DXGI_OUTDUPL_FRAME_INFO,
    into: &mut Image,
    screen: Rect,
    force: bool,
) -> Result<Option<Drawn>, CaptureError> {
    // Only the pointer moved: the image is as it was.
    if info.LastPresentTime == 0 && !force {
        return Ok(None);
    }
    let Some(resource) = resource else {
        return Ok(None);
    };
    let Some((px, py)) = screen.place_of(out.place) else {
        return Ok(None);
    };
    let (px, py) = (px as u32, py as u32);
    // SAFETY: COM calls on live interfaces; the mapped memory is read
    // only between Map and Unmap, within the size Windows gave.
    unsafe {
        let texture: ID3D11Texture2D = resource.cast().map_err(grab_err)?;
        let mut desc = D3D11_TEXTURE2D_DESC::default();
        texture.GetDesc(&mut desc);
        let staging = match &out.staging {
            Some((t, w, h)) if (*w, *h) == (desc.Width, desc.Height) => t.clone(),
            _ => {
                let mut d = desc;
                d.Usage = D3D11_USAGE_STAGING;
                d.BindFlags = 0;
                d.CPUAccessFlags = D3D11_CPU_ACCESS_READ.0 as u32;
                d.MiscFlags = 0;
                d.MipLevels = 1;
                d.ArraySize = 1;
                let mut t = None;
                device
                    .CreateTexture2D(&d, None, Some(&mut t))
                    .map_err(grab_err)?;
                let t = t.ok_or_else(|| {
                    grab_err(windows::core::Error::from_hresult(
                        windows::Win32::Foundation::E_FAIL,
                    ))
                })?;
                out.staging = Some((t.clone(), desc.Width, desc.Height));
                t
            }
        };
        context.CopyResource(&staging, &texture);
        let mut mapped = D3D11_MAPPED_SUBRESOURCE::default();
        context
            .Map(&staging, 0, D3D11_MAP_READ, 0, Some(&mut mapped))
            .map_err(grab_err)?;
        let stride = mapped.RowPitch as usize;
        let len = stride * desc.Height as usize;
        let bytes = std::slice::from_raw_parts(mapped.pData as *const u8, len);
        let pasted = paste(
            into,
            px,
            py,
            Surface {
                width: desc.Width,
                height: desc.Height,
                stride,
                bytes,
            },
        );
        context.Unmap(&staging, 0);
        if !pasted {
            return Err(CaptureError::Grab(
                "a desktop frame smaller than its size".into(),
            ));
        }
    }
    Ok(Some(drawn(&out.duplication, info, (px, py))))
}

/// The dirty rectangles and moved rectangles' destinations of the frame
/// acquired, moved by the output's place; the whole output when Windows
/// cannot say.
fn drawn(
    duplication: &IDXGIOutputDuplication,
    info: DXGI_OUTDUPL_FRAME_INFO,
    (px, py): (u32, u32),
) -> Vec<(u32, u32, u32, u32)> {
    let size = info.TotalMetadataBufferSize as usize;
    let mut rects: Vec<RECT> = vec![RECT::default(); size / size_of::<RECT>() + 1];
    let mut moves: Vec<DXGI_OUTDUPL_MOVE_RECT> =
        vec![DXGI_OUTDUPL_MOVE_RECT::default(); size / size_of::<DXGI_OUTDUPL_MOVE_RECT>() + 1];
    let mut dirty_bytes = 0u32;
    let mut move_bytes = 0u32;
    // SAFETY: the buffers are ours, of the byte sizes given.
    let ok = unsafe {
        duplication
            .GetFrameMoveRects(
                (moves.len() * size_of::<DXGI_OUTDUPL_MOVE_RECT>()) as u32,
                moves.as_mut_ptr(),
                &mut move_bytes,
            )
            .is_ok()
            && duplication
                .GetFrameDirtyRects(
                    (rects.len() * size_of::<RECT>()) as u32,
                    rects.as_mut_ptr(),
                    &mut dirty_bytes,
                )
                .is_ok()
    };
    if !ok {
        return Vec::new();
    }
    rects.truncate(dirty_bytes as usize / size_of::<RECT>());
    moves.truncate(move_bytes as usize / size_of::<DXGI_OUTDUPL_MOVE_RECT>());
    rects.extend(moves.iter().map(|m| m.DestinationRect));
    rects
        .iter()
        .filter(|r| r.right > r.left && r.bottom > r.top && r.left >= 0 && r.top >= 0)
        .map(|r| {
            (
                px + r.left as u32,
                py + r.top as u32,
                (r.right - r.left) as u32,
                (r.bottom - r.top) as u32,
            )
        })
        .collect()
}

impl ScreenSource for DxgiScreen {
    fn grab(&mut self, into: &mut Image, force: bool) -> Result<Grab, CaptureError> {
        if let Some(why) = super::gdi::withheld() {
            return Ok(Grab::Withheld(why));
        }
        let screen = virtual_screen();
        let mut force = force;
        if screen != self.screen || self.lost {
            // Monitors changed, or the desktop switched and back:
            // duplications are per mode and desktop, start again. The old
            // ones go first: an output duplicated twice is refused.
            self.outputs.clear();
            *self = Self::open()?;
            force = true;
        }
        match self.grab_outputs(into, force) {
            Err(Grabbing::Lost) => {
                self.lost = true;
                Ok(Grab::Unchanged)
            }
            Err(Grabbing::Failed(e)) => Err(e),
            Ok(grab) => Ok(grab),
        }
    }

    fn pointer(&mut self) -> Option<(i32, i32)> {
        super::gdi::pointer(self.screen)
    }

    fn monitors(&mut self) -> Result<Vec<MonitorInfo>, CaptureError> {
        Ok(super::gdi::monitor_infos(self.screen))
    }
}

/// Whether `e` says the duplication is over (a desktop switch, a mode
/// change, a driver restart) rather than that capture failed.
fn lost(e: &windows::core::Error) -> bool {
    [
        DXGI_ERROR_ACCESS_LOST,
        DXGI_ERROR_DEVICE_REMOVED,
        DXGI_ERROR_DEVICE_RESET,
    ]
    .contains(&e.code())
}

/// Why grabbing the outputs stopped.
enum Grabbing {
    /// The duplication lost its desktop.
    Lost,
    Failed(CaptureError),
}

impl From<CaptureError> for Grabbing {
    fn from(e: CaptureError) -> Self {
        Grabbing::Failed(e)
    }
}

impl DxgiScreen {
    fn grab_outputs(&mut self, into: &mut Image, force: bool) -> Result<Grab, Grabbing> {
        let (w, h) = (self.screen.width, self.screen.height);
        let mut whole = force;
        if (into.width, into.height) != (w, h) {
            *into = Image::new(w, h).map_err(|e| CaptureError::Grab(Box::new(e)))?;
            whole = true;
        }
        let mut regions = Vec::new();
        for i in 0..self.outputs.len() {
            match self.output(i, into, whole)? {
                // A frame whose changes Windows could not list: all of it.
                Some(r) if r.is_empty() => whole = true,
                Some(r) => regions.extend(r),
                None => {}
            }
        }
        Ok(if whole {
            Grab::Captured
        } else if regions.is_empty() {
            Grab::Unchanged
        } else {
            Grab::Regions(regions)
        })
    }
}

//! What the host asks of the portal's PipeWire producer, as SPA pods: the
//! pixel formats the layout takes, more buffers than the usual two, and
//! damage (and cursor) metadata on each buffer.

use pipewire as pw;
use pw::spa;
use pw::spa::param::video::VideoFormat;
use pw::spa::pod::Value;

use super::PortalError;

fn pod(value: Value) -> Result<Vec<u8>, PortalError> {
    let (cursor, _) =
        spa::pod::serialize::PodSerializer::serialize(std::io::Cursor::new(Vec::new()), &value)
            .map_err(|_| PortalError::Params)?;
    Ok(cursor.into_inner())
}

/// The formats the layout can take: 32-bit, either byte order.
pub(super) fn enum_format() -> Result<Vec<u8>, PortalError> {
    use spa::param::format::{FormatProperties, MediaSubtype, MediaType};
    let object = spa::pod::object!(
        spa::utils::SpaTypes::ObjectParamFormat,
        spa::param::ParamType::EnumFormat,
        spa::pod::property!(FormatProperties::MediaType, Id, MediaType::Video),
        spa::pod::property!(FormatProperties::MediaSubtype, Id, MediaSubtype::Raw),
        spa::pod::property!(
            FormatProperties::VideoFormat,
            Choice,
            Enum,
            Id,
            VideoFormat::BGRx,
            VideoFormat::BGRx,
            VideoFormat::BGRA,
            VideoFormat::RGBx,
            VideoFormat::RGBA
        ),
    );
    pod(Value::Object(object))
}

fn prop(key: u32, value: Value) -> spa::pod::Property {
    spa::pod::Property {
        key,
        flags: spa::pod::PropertyFlags::empty(),
        value,
    }
}

/// Buffers in flight between producer and host: with the two a producer
/// may default to, one held while a frame is read leaves it none, and
/// some producers (xdg-desktop-portal-wlr 0.7) then stop sending.
const BUFFERS: i32 = 8;

/// Asks for more buffers than the usual two.
fn buffers() -> Result<Vec<u8>, PortalError> {
    use spa::utils::{Choice, ChoiceEnum, ChoiceFlags};
    let count = Choice(
        ChoiceFlags::empty(),
        ChoiceEnum::Range {
            default: BUFFERS,
            min: 4,
            max: 16,
        },
    );
    pod(Value::Object(spa::pod::Object {
        type_: spa::sys::SPA_TYPE_OBJECT_ParamBuffers,
        id: spa::sys::SPA_PARAM_Buffers,
        properties: vec![prop(
            spa::sys::SPA_PARAM_BUFFERS_buffers,
            Value::Choice(spa::pod::ChoiceValue::Int(count)),
        )],
    }))
}

/// Asks for damage (and cursor) metadata on each buffer.
fn meta(kind: u32, size: usize) -> Result<Vec<u8>, PortalError> {
    pod(Value::Object(spa::pod::Object {
        type_: spa::sys::SPA_TYPE_OBJECT_ParamMeta,
        id: spa::sys::SPA_PARAM_Meta,
        properties: vec![
            prop(
                spa::sys::SPA_PARAM_META_type,
                Value::Id(spa::utils::Id(kind)),
            ),
            prop(
                spa::sys::SPA_PARAM_META_size,
                Value::Int(i32::try_from(size).map_err(|_| PortalError::Params)?),
            ),
        ],
    }))
}

/// Room for this many damaged rectangles per frame; more make the
/// producer send the bounding box.
const DAMAGE_RECTS: usize = 32;
/// The largest cursor image a producer may attach.
const CURSOR_EDGE: usize = 256;

/// The buffers and the metadata asked of the producer.
pub(super) fn metas(cursor: bool) -> Result<Vec<Vec<u8>>, PortalError> {
    let region = std::mem::size_of::<spa::sys::spa_meta_region>();
    let mut out = vec![
        buffers()?,
        meta(spa::sys::SPA_META_VideoDamage, region * DAMAGE_RECTS)?,
    ];
    if cursor {
        let size = std::mem::size_of::<spa::sys::spa_meta_cursor>()
            + std::mem::size_of::<spa::sys::spa_meta_bitmap>()
            + CURSOR_EDGE * CURSOR_EDGE * 4;
        out.push(meta(spa::sys::SPA_META_Cursor, size)?);
    }
    Ok(out)
}

//! The studio's text feed (图文直播): short updates the hosts and the unit's
//! editors post during the event, each optionally with one image; and the
//! images themselves, checked by their header before anything is stored.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ids::{ImageId, UpdateId};
use super::question::bounded_text;
use super::values::Invalid;

/// At most this many characters in one update.
pub const MAX_UPDATE_CHARS: usize = 1000;
/// At most this many bytes in one image.
pub const MAX_IMAGE_BYTES: usize = 2 * 1024 * 1024;
/// At most this many pixels on a side.
pub const MAX_IMAGE_SIDE: usize = 8000;

/// The text of an update: trimmed, 1–1000 characters, no control characters
/// but line breaks.
pub fn update_text(s: &str) -> Result<String, Invalid> {
    bounded_text("text", s, MAX_UPDATE_CHARS)
}

/// An update as every viewer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PublicUpdate {
    pub id: UpdateId,
    pub text: String,
    /// The image, served at `/api/images/{image_id}`.
    pub image_id: Option<ImageId>,
    /// Its size in pixels, so a page can hold its place while it loads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_height: Option<u32>,
    pub posted_at: DateTime<Utc>,
    pub edited: bool,
}

impl PublicUpdate {
    /// With the personal data in its text masked.
    pub fn masked(mut self) -> Self {
        if let std::borrow::Cow::Owned(masked) = super::masking::mask_personal_data(&self.text) {
            self.text = masked;
        }
        self
    }
}

/// An image's type and size, read from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    pub content_type: &'static str,
    pub width: u32,
    pub height: u32,
}

/// Why an image is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRefusal {
    TooLarge,
    /// Not a PNG, JPEG, WebP or GIF, or a header that does not read as one.
    NotAnImage,
    /// The declared type is not what the bytes are.
    TypeMismatch {
        declared: String,
        actual: &'static str,
    },
    /// Wider or taller than [`MAX_IMAGE_SIDE`] (or zero).
    BadSize {
        width: usize,
        height: usize,
    },
}

/// Check an upload: its declared `content_type` must be what its bytes are
/// (PNG, JPEG, WebP or GIF), at most [`MAX_IMAGE_BYTES`], with a header
/// whose size reads as 1–[`MAX_IMAGE_SIDE`] pixels a side.
pub fn check_image(declared: &str, bytes: &[u8]) -> Result<ImageInfo, ImageRefusal> {
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(ImageRefusal::TooLarge);
    }
    let actual = match imagesize::image_type(bytes) {
        Ok(imagesize::ImageType::Png) => "image/png",
        Ok(imagesize::ImageType::Jpeg) => "image/jpeg",
        Ok(imagesize::ImageType::Webp) => "image/webp",
        Ok(imagesize::ImageType::Gif) => "image/gif",
        _ => return Err(ImageRefusal::NotAnImage),
    };
    let declared = declared.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if declared != actual {
        return Err(ImageRefusal::TypeMismatch { declared, actual });
    }
    let size = imagesize::blob_size(bytes).map_err(|_| ImageRefusal::NotAnImage)?;
    let (width, height) = (size.width, size.height);
    let fits = |n: usize| (1..=MAX_IMAGE_SIDE).contains(&n);
    if !fits(width) || !fits(height) {
        return Err(ImageRefusal::BadSize { width, height });
    }
    Ok(ImageInfo {
        content_type: actual,
        width: width as u32,
        height: height as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1×1 PNG.
    pub const PNG: &[u8] = &[
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00,
        0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00,
        0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0, 0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF,
        0x89, 0x99, 0x3D, 0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
    ];

    #[test]
    fn images_are_what_they_say() {
        let info = check_image("image/png", PNG).unwrap();
        assert_eq!((info.content_type, info.width, info.height), ("image/png", 1, 1));
        assert!(matches!(
            check_image("image/jpeg", PNG),
            Err(ImageRefusal::TypeMismatch {
                actual: "image/png",
                ..
            })
        ));
        assert_eq!(
            check_image("image/png", b"<svg onload=alert(1)>"),
            Err(ImageRefusal::NotAnImage)
        );
        assert_eq!(check_image("image/png", &PNG[..12]), Err(ImageRefusal::NotAnImage));
        let big = vec![0u8; MAX_IMAGE_BYTES + 1];
        assert_eq!(check_image("image/png", &big), Err(ImageRefusal::TooLarge));
        // A header claiming 100000 × 1 pixels.
        let mut wide = PNG.to_vec();
        wide[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        assert!(matches!(
            check_image("image/png", &wide),
            Err(ImageRefusal::BadSize { .. })
        ));
    }

    #[test]
    fn update_text_is_bounded() {
        assert!(update_text("  ").is_err());
        assert!(update_text(&"字".repeat(MAX_UPDATE_CHARS + 1)).is_err());
        assert_eq!(update_text(" 嘉宾已到场\n准备开始 ").unwrap(), "嘉宾已到场\n准备开始");
    }
}

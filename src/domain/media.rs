//! The pictures of an event as the live page plays them: its live stream
//! (`events.stream_url`), the replay after it and WebVTT captions. How the
//! page plays an address depends only on the address's path, so the rule is
//! here, once, for the API and its tests.

use utoipa::ToSchema;

use super::names::names;

names! {
    /// How the live page plays a stream or a replay address.
    #[derive(ToSchema)]
    pub enum MediaKind {
        /// An HLS playlist (`.m3u8`): natively where the browser can, else hls.js.
        Hls = "hls",
        /// HTTP-FLV (`.flv`): through mpegts.js.
        Flv = "flv",
        /// A media file the `<video>` element plays itself (`.mp4`, `.webm`, `.ogv`, `.ogg`).
        File = "file",
        /// Any other address: a page of the streaming platform, in a sandboxed frame.
        Page = "page",
        /// No address.
        None = "none",
    }
}

impl MediaKind {
    /// The kind of `url` (an http(s) address already validated), from its path.
    pub fn of(url: Option<&str>) -> Self {
        let Some(url) = url else { return Self::None };
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        // The path: after the authority, before the query or the fragment.
        let path = rest.find('/').map_or("", |at| &rest[at..]);
        let path = path.split(['?', '#']).next().unwrap_or_default().to_ascii_lowercase();
        let ext = path.rsplit_once('.').map_or("", |(_, ext)| ext);
        match ext {
            "m3u8" => Self::Hls,
            "flv" => Self::Flv,
            "mp4" | "webm" | "ogv" | "ogg" => Self::File,
            _ => Self::Page,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::MediaKind;

    #[test]
    fn the_path_decides_how_an_address_plays() {
        let of = |url| MediaKind::of(Some(url));
        assert_eq!(of("https://live.bjdx.gov.cn/hls/dx01/index.m3u8"), MediaKind::Hls);
        assert_eq!(
            of("https://live.bjdx.gov.cn/hls/INDEX.M3U8?token=a.flv"),
            MediaKind::Hls
        );
        assert_eq!(of("http://10.1.2.3:8080/live/dx01.flv"), MediaKind::Flv);
        assert_eq!(of("https://cdn.example.cn/replay/2024-10-14.mp4#t=30"), MediaKind::File);
        assert_eq!(of("https://v.example.cn/watch?id=1&f=a.m3u8"), MediaKind::Page);
        assert_eq!(of("https://live.example.cn.m3u8"), MediaKind::Page, "a host is no path");
        assert_eq!(of("https://live.example.cn/"), MediaKind::Page);
        assert_eq!(MediaKind::of(None), MediaKind::None);
        for kind in MediaKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
            assert_eq!(MediaKind::parse(kind.as_str()), Some(*kind));
        }
    }
}

//! The pages under `web/`, embedded in the binary, and the security headers
//! every response carries (a strict Content-Security-Policy: no inline script).

use std::borrow::Cow;
use std::sync::LazyLock;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use crate::config::HttpSettings;

struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../web/index.html"),
    },
    Asset {
        path: "/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/app.js"),
    },
    Asset {
        path: "/style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../web/style.css"),
    },
    // The site's icon, linked from every page; /favicon.ico, which browsers
    // and crawlers ask for unlinked, is the same picture (Chromium and
    // Firefox take an SVG whatever its name).
    Asset {
        path: "/favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../web/favicon.svg"),
    },
    Asset {
        path: "/favicon.ico",
        content_type: "image/svg+xml",
        body: include_bytes!("../../web/favicon.svg"),
    },
    // 大字版, the elder-friendly mode of the public and viewer pages: the
    // script that sets it before the first paint and wires the switch, its rules.
    Asset {
        path: "/large.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/large.js"),
    },
    Asset {
        path: "/large.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../web/large.css"),
    },
    // The modules every page shares: the DOM and API helpers, the Chinese labels.
    Asset {
        path: "/dom.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/dom.js"),
    },
    Asset {
        path: "/labels.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/labels.js"),
    },
    // The live pages: viewer, moderator console (with its sign-in), presenter
    // screen, and the protocol client they share.
    Asset {
        path: "/live.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../web/live.html"),
    },
    Asset {
        path: "/live.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/live.js"),
    },
    Asset {
        path: "/moderate.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../web/moderate.html"),
    },
    Asset {
        path: "/moderate.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/moderate.js"),
    },
    Asset {
        path: "/moderate-feed.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/moderate-feed.js"),
    },
    Asset {
        path: "/present.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../web/present.html"),
    },
    Asset {
        path: "/present.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/present.js"),
    },
    Asset {
        path: "/login.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../web/login.html"),
    },
    Asset {
        path: "/login.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/login.js"),
    },
    Asset {
        path: "/live-client.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/live-client.js"),
    },
    // One update of the text feed (图文直播), as the three live pages show it.
    Asset {
        path: "/feed.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/feed.js"),
    },
    // The live page's player, and the code it loads when a stream needs it,
    // with its licences (web/vendor/README.md: versions, sources, checksums).
    Asset {
        path: "/player.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/player.js"),
    },
    Asset {
        path: "/vendor/hls.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/vendor/hls.min.js"),
    },
    Asset {
        path: "/vendor/hls.js.LICENSE",
        content_type: "text/plain; charset=utf-8",
        body: include_bytes!("../../web/vendor/hls.js.LICENSE"),
    },
    Asset {
        path: "/vendor/mpegts.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/vendor/mpegts.js"),
    },
    Asset {
        path: "/vendor/mpegts.js.LICENSE",
        content_type: "text/plain; charset=utf-8",
        body: include_bytes!("../../web/vendor/mpegts.js.LICENSE"),
    },
    Asset {
        path: "/vendor/mpegts.js.LICENSE.txt",
        content_type: "text/plain; charset=utf-8",
        body: include_bytes!("../../web/vendor/mpegts.js.LICENSE.txt"),
    },
    Asset {
        path: "/live.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../web/live.css"),
    },
    // The public event page and the staff workspaces (unit, bureau), with
    // the stylesheet they share.
    Asset {
        path: "/privacy.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../web/privacy.html"),
    },
    Asset {
        path: "/security.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../web/security.html"),
    },
    Asset {
        path: "/security.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/security.js"),
    },
    Asset {
        path: "/event.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../web/event.html"),
    },
    Asset {
        path: "/event.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/event.js"),
    },
    Asset {
        path: "/unit.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../web/unit.html"),
    },
    Asset {
        path: "/unit.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/unit.js"),
    },
    Asset {
        path: "/unit-events.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/unit-events.js"),
    },
    Asset {
        path: "/bureau.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../web/bureau.html"),
    },
    Asset {
        path: "/bureau.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/bureau.js"),
    },
    Asset {
        path: "/work.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../web/work.css"),
    },
    // Open days in person: the public sign-up page (遴选公告, the form, the
    // published result), the person's notice with the check-in code (its
    // token in the address's fragment), the door's check-in page, the
    // verification form they share with nothing else, and their stylesheet.
    Asset {
        path: "/signup.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../web/signup.html"),
    },
    Asset {
        path: "/signup.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/signup.js"),
    },
    Asset {
        path: "/notice.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../web/notice.html"),
    },
    Asset {
        path: "/notice.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/notice.js"),
    },
    Asset {
        path: "/door.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../web/door.html"),
    },
    Asset {
        path: "/door.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/door.js"),
    },
    // The unit's page of an open day in person: the announcement, the
    // list, choosing, invitations, notices, what was said, the leader.
    Asset {
        path: "/open-day.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../web/open-day.html"),
    },
    Asset {
        path: "/open-day.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/open-day.js"),
    },
    Asset {
        path: "/open-day-announcement.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/open-day-announcement.js"),
    },
    Asset {
        path: "/open-day-list.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/open-day-list.js"),
    },
    Asset {
        path: "/verify.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/verify.js"),
    },
    // The unit's editor of an event's interview transcript (访谈实录).
    Asset {
        path: "/transcript.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../web/transcript.html"),
    },
    Asset {
        path: "/transcript.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/transcript.js"),
    },
    Asset {
        path: "/open-day.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../web/open-day.css"),
    },
];

/// The opening every page shares, written once: the doctype, `<html lang>`,
/// the character set and viewport, `large.js`, the title, the icon and
/// `style.css`. A page names it in its first line, `<!-- head large: 标题 -->`
/// for the public pages, which load `large.js` before their first paint
/// (大字版), or `<!-- head: 标题 -->` for the staff pages, which do not; the
/// page goes on with the rest of its head (its own stylesheets, `large.css`
/// last so that it wins, its script) and `</head>`. A file, not inline
/// script, because the policy forbids inline script.
const HEAD: &str = include_str!("../../web/head.html");
const LARGE_JS: &str = "  <script src=\"/large.js\"></script>\n";

/// An embedded file as served: a page with its head written in ([`HEAD`]),
/// anything else as it is.
fn with_head(body: &'static [u8]) -> Cow<'static, [u8]> {
    let Some((first, rest)) = std::str::from_utf8(body).ok().and_then(|text| text.split_once('\n')) else {
        return Cow::Borrowed(body);
    };
    let marker = first.strip_prefix("<!-- head").and_then(|m| m.strip_suffix(" -->"));
    let (large, title) = match marker.map(|m| (m.strip_prefix(" large: "), m.strip_prefix(": "))) {
        Some((Some(title), _)) => (true, title),
        Some((None, Some(title))) => (false, title),
        _ => return Cow::Borrowed(body),
    };
    let head = HEAD.replacen("{title}", title, 1);
    let head = if large { head } else { head.replacen(LARGE_JS, "", 1) };
    Cow::Owned((head + rest).into_bytes())
}

/// [`ASSETS`]' bodies as served, in the same order, put together once.
static SERVED: LazyLock<Vec<Cow<'static, [u8]>>> = LazyLock::new(|| ASSETS.iter().map(|a| with_head(a.body)).collect());

/// Every page is served with a strong `ETag` (a digest of the served
/// bytes) and `Cache-Control: no-cache`: a browser revalidates on each load
/// and gets `304 Not Modified` without a body while the binary is the same.
pub fn routes() -> Router<AppState> {
    ASSETS
        .iter()
        .zip(SERVED.iter())
        // The event page carries its event's Open Graph tags (`share.rs`).
        .filter(|(asset, _)| asset.path != "/event.html")
        .fold(Router::new(), |router, (asset, body)| {
            let body: &'static [u8] = body;
            let etag = etag_of(body);
            router.route(
                asset.path,
                get(move |headers: HeaderMap| async move {
                    let fresh = headers
                        .get(header::IF_NONE_MATCH)
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag || tag.trim() == "*"));
                    let common = [(header::CACHE_CONTROL, "no-cache"), (header::ETAG, etag.as_str())];
                    if fresh {
                        return (StatusCode::NOT_MODIFIED, common).into_response();
                    }
                    (common, [(header::CONTENT_TYPE, asset.content_type)], body).into_response()
                }),
            )
        })
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found") })
}

/// An embedded page's bytes as served, for the handlers that fill one in.
pub fn page(path: &str) -> Option<&'static [u8]> {
    let index = ASSETS.iter().position(|a| a.path == path)?;
    Some(&SERVED[index])
}

fn etag_of(body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(body);
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// The policy every response has but its `frame-ancestors` and the media
/// origins (`--media-origins`), which follow `connect-src` and `media-src`.
/// The player needs `media-src blob:` (hls.js and mpegts.js feed the video
/// through MediaSource; captions are read into a blob). It runs hls.js
/// without a worker (`enableWorker: false`), so no `worker-src` is needed:
/// workers fall back to `script-src 'self'`, and blob: workers stay refused.
const CSP_BASE: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    frame-src https:; object-src 'none'; base-uri 'none'; form-action 'self'";

/// [`CSP_BASE`] with `connect-src` and `media-src`, opened to `media_origins`.
fn csp_base(media_origins: &[String]) -> String {
    let extra: String = media_origins.iter().map(|o| format!(" {o}")).collect();
    format!("{CSP_BASE}; connect-src 'self'{extra}; media-src https: blob:{extra}")
}

/// What every response carries: HSTS when served over HTTPS only, and who
/// may put a page in a frame — nobody for staff pages, this site and the
/// district's configured origins (`--frame-ancestors`) for the pages the
/// public watches and reads.
#[derive(Clone)]
pub struct SecurityHeaders {
    pub hsts: bool,
    staff_csp: HeaderValue,
    public_csp: HeaderValue,
}

impl SecurityHeaders {
    pub fn new(settings: &HttpSettings) -> Self {
        // The origins are checked (`config::parse_origin`); one that still
        // cannot go in a header leaves the policy without any of them.
        let header = |origins: &[String], ancestors: &str| {
            HeaderValue::from_str(&format!("{}; frame-ancestors {ancestors}", csp_base(origins)))
        };
        let fallback = |ancestors: &str| header(&[], ancestors).expect("the policy is ASCII");
        let media = &settings.media_origins;
        let mut ancestors = String::from("'self'");
        for origin in &settings.frame_ancestors {
            ancestors.push(' ');
            ancestors.push_str(origin);
        }
        Self {
            hsts: settings.hsts,
            staff_csp: header(media, "'none'").unwrap_or_else(|_| fallback("'none'")),
            public_csp: header(media, &ancestors).unwrap_or_else(|_| fallback("'self'")),
        }
    }
}

/// The pages a district may embed in its portal or new-media pages (the
/// sign-up page too: people sign up "through the district's website"). A
/// person's notice page is theirs alone and never framed.
fn embeddable(path: &str) -> bool {
    matches!(path, "/live.html" | "/event.html" | "/privacy.html" | "/signup.html")
        || (path.starts_with("/events/") && path.ends_with("/record"))
}

pub async fn security_headers(State(policy): State<SecurityHeaders>, req: Request, next: Next) -> Response {
    let public = embeddable(req.uri().path());
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    if policy.hsts {
        // A year, the usual minimum for browsers' preload lists.
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if public {
        // Browsers that know `frame-ancestors` ignore X-Frame-Options; older
        // ones get SAMEORIGIN (it cannot list the district's origins).
        headers.insert(header::CONTENT_SECURITY_POLICY, policy.public_csp.clone());
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("SAMEORIGIN"));
    } else {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy.staff_csp.clone());
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every page has its head written in, once, with its own title; the
    /// public pages load `large.js` first and `large.css` last, the staff
    /// pages neither.
    #[test]
    fn assets_every_page_gets_the_shared_head() {
        assert!(HEAD.contains(LARGE_JS) && HEAD.contains("<title>{title}</title>"));
        for (asset, body) in ASSETS.iter().zip(SERVED.iter()) {
            let path = asset.path;
            if !asset.content_type.starts_with("text/html") {
                assert!(matches!(body, Cow::Borrowed(_)), "{path} is served as embedded");
                continue;
            }
            let html = std::str::from_utf8(body).expect("pages are UTF-8");
            let (head, _) = html.split_once("</head>").expect("a page closes its head");
            assert!(
                head.starts_with("<!doctype html>\n<html lang=\"zh-CN\">\n<head>\n"),
                "{path}"
            );
            assert_eq!(html.matches("<!doctype").count(), 1, "{path}");
            assert!(!html.contains("<!-- head") && !html.contains("{title}"), "{path}");
            assert!(
                head.contains("民声</title>") || head.contains("<title>民声 · "),
                "{path}"
            );
            assert_eq!(head.contains("/large.js"), head.contains("/large.css"), "{path}");
            if let Some(large_css) = head.find("/large.css") {
                assert!(!head[large_css..].contains("stylesheet"), "large.css last: {path}");
            }
        }
        let event = std::str::from_utf8(page("/event.html").unwrap()).unwrap();
        assert!(
            event.contains("<title>活动详情 · 民声</title>"),
            "share.rs puts the event's title here"
        );
    }

    #[test]
    fn assets_a_file_without_the_marker_is_served_as_it_is() {
        for body in [
            &b"<!doctype html>\n<p>x"[..],
            b"<!-- head -->\n",
            b"<!-- header: x -->\n",
            b"\xff\n",
        ] {
            assert!(matches!(with_head(body), Cow::Borrowed(_)));
        }
        let staff = with_head(b"<!-- head: \xe5\xae\xa1 -->\n</head>\n");
        assert!(!staff.windows(8).any(|w| w == b"large.js"));
        assert!(staff.ends_with(b"<link rel=\"stylesheet\" href=\"/style.css\">\n</head>\n"));
    }
}

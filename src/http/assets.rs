//! The pages under `web/`, embedded in the binary, and the security headers
//! every response carries (a strict Content-Security-Policy: no inline script).

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

/// Every page is served with a strong `ETag` (a digest of the embedded
/// bytes) and `Cache-Control: no-cache`: a browser revalidates on each load
/// and gets `304 Not Modified` without a body while the binary is the same.
pub fn routes() -> Router<AppState> {
    ASSETS
        .iter()
        // The event page carries its event's Open Graph tags (`share.rs`).
        .filter(|asset| asset.path != "/event.html")
        .fold(Router::new(), |router, asset| {
            let etag = etag_of(asset.body);
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
                    (common, [(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
                }),
            )
        })
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found") })
}

/// An embedded page's bytes, for the handlers that fill one in.
pub fn page(path: &str) -> Option<&'static [u8]> {
    ASSETS.iter().find(|a| a.path == path).map(|a| a.body)
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

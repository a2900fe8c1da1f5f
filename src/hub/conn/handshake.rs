//! The first frames of a connection: the `hello`, who is on the other end
//! (a staff session, by `hello` or cookie, else an anonymous viewer), the
//! room they join and the capability they get. Every refusal here is an
//! error frame followed by a close.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};

use super::{Ended, Who, close, ended, error_frame, send_text};
use crate::domain::error_code::ErrorCode;
use crate::domain::identity::{IdentityMode, VerificationToken};
use crate::domain::ids::EventId;
use crate::domain::question::{Nickname, ViewerToken};
use crate::domain::staff::{Role, Staff};
use crate::hub::protocol::{Capability, ClientMsg, Envelope, PROTOCOL_VERSION};
use crate::hub::room::Room;
use crate::hub::{Hub, JoinError, Membership};
use crate::store::identities::Verified;

/// What the `hello` frame said.
pub(super) struct Hello {
    pub viewer_token: Option<String>,
    pub nickname: Option<String>,
    /// A staff session token, for consoles that sign in by `hello`.
    pub session: Option<String>,
    pub last_seq: Option<i64>,
    /// The browser's verification token.
    pub verification: Option<String>,
}

/// The socket before the connection is live, and how long a send to it may take.
pub(super) struct Handshake<'a> {
    pub ws: &'a mut WebSocket,
    pub hub: &'a Hub,
    pub timeout: Duration,
}

impl Handshake<'_> {
    async fn error(&mut self, code: ErrorCode, message: &str) -> Result<(), Ended> {
        send_text(self.ws, error_frame(None, code, message, None).into(), self.timeout).await
    }

    /// The `hello` frame; `None` when the client went away before sending it.
    pub async fn hello(&mut self) -> Result<Option<Hello>, Ended> {
        let hello = tokio::select! {
            () = self.hub.shutdown.cancelled() => return Err(ended(close::GOING_AWAY, "server shutting down")),
            h = tokio::time::timeout(Duration::from_secs(10), next_text(self.ws)) => h,
        };
        let text = match hello {
            Err(_) => return Err(ended(close::HANDSHAKE, "no hello within 10 seconds")),
            Ok(None) => return Ok(None),
            Ok(Some(Err(code))) => {
                self.error(code, "the first frame must be a JSON text `hello`").await?;
                return Err(ended(close::HANDSHAKE, "hello required"));
            }
            Ok(Some(Ok(text))) => text,
        };
        let (protocol, hello) = match serde_json::from_str::<Envelope>(&text) {
            Ok(Envelope {
                message:
                    ClientMsg::Hello {
                        protocol,
                        viewer_token,
                        nickname,
                        session,
                        last_seq,
                        verification,
                    },
                ..
            }) => (
                protocol,
                Hello {
                    viewer_token,
                    nickname,
                    session,
                    last_seq,
                    verification,
                },
            ),
            _ => {
                self.error(
                    ErrorCode::HelloRequired,
                    "the first frame must be {\"type\":\"hello\",\"protocol\":1}",
                )
                .await?;
                return Err(ended(close::HANDSHAKE, "hello required"));
            }
        };
        if protocol != PROTOCOL_VERSION {
            let msg = format!("this server speaks protocol {PROTOCOL_VERSION}, not {protocol}");
            self.error(ErrorCode::UnsupportedProtocol, &msg).await?;
            return Err(ended(close::PROTOCOL, "unsupported protocol"));
        }
        Ok(Some(hello))
    }

    /// Who is it? A staff session (hello or cookie), else an anonymous viewer (`None`).
    pub async fn staff(
        &mut self,
        session_token: Option<&str>,
        cookie_staff: Option<Staff>,
    ) -> Result<Option<Staff>, Ended> {
        match session_token {
            Some(token) => match self.hub.store.session_account(token).await {
                Ok(Some((account, _))) => Ok(Some(account.staff)),
                Ok(None) => {
                    self.error(ErrorCode::Unauthorized, "the session token is invalid or expired")
                        .await?;
                    Err(ended(close::FORBIDDEN, "invalid session"))
                }
                Err(_) => Err(ended(close::UNAVAILABLE, "store unavailable")),
            },
            None => Ok(cookie_staff),
        }
    }

    /// The event's room, or the reason there is none.
    pub async fn join(&mut self, event_id: EventId) -> Result<Membership, Ended> {
        match self.hub.join(event_id).await {
            Ok(m) => Ok(m),
            Err(e) => {
                let (code, close_code) = match &e {
                    JoinError::UnknownEvent(_) => (ErrorCode::UnknownEvent, close::UNKNOWN_EVENT),
                    JoinError::Unavailable(_) => (ErrorCode::EventUnavailable, close::FORBIDDEN),
                    JoinError::Store(_) => (ErrorCode::Unavailable, close::UNAVAILABLE),
                };
                self.error(code, &e.to_string()).await?;
                Err(ended(close_code, code.as_str()))
            }
        }
    }

    /// Staff must serve the event (host or moderator by role); anyone else is
    /// a viewer, with the token and nickname of their `hello` or new ones.
    pub async fn identify(
        &mut self,
        event_id: EventId,
        staff: Option<Staff>,
        staff_session: Option<String>,
        hello: &Hello,
        room_identity: IdentityMode,
    ) -> Result<(Who, Capability), Ended> {
        match staff {
            Some(staff) => {
                let hosts = match self.hub.store.event(event_id).await {
                    Ok(e) => e.host_ids(),
                    Err(_) => return Err(ended(close::UNAVAILABLE, "store unavailable")),
                };
                if !staff.serves(&hosts) {
                    self.error(ErrorCode::Forbidden, "your account does not serve this event")
                        .await?;
                    return Err(ended(close::FORBIDDEN, "forbidden"));
                }
                let capability = if staff.role == Role::Host {
                    Capability::Host
                } else {
                    Capability::Moderator
                };
                let session = staff_session;
                Ok((Who::Staff { staff, session }, capability))
            }
            None => {
                let token = hello
                    .viewer_token
                    .as_deref()
                    .and_then(ViewerToken::parse)
                    .unwrap_or_else(ViewerToken::generate);
                let nickname = match Nickname::parse(hello.nickname.as_deref()) {
                    Ok(n) => n,
                    Err(e) => {
                        self.error(ErrorCode::InvalidNickname, &e.to_string()).await?;
                        Nickname::parse(None).map_err(|_| ended(close::HANDSHAKE, "nickname"))?
                    }
                };
                let verified = self.verified(hello.verification.as_deref()).await?;
                // In a verified room the person is the viewer, whatever browser or tab.
                let key = match &verified {
                    Some(v) if room_identity == IdentityMode::Verified => v.viewer_key.clone(),
                    _ => token.key(),
                };
                let who = Who::Viewer {
                    token,
                    key,
                    nickname,
                    verified: verified.map(Box::new),
                };
                Ok((who, Capability::Viewer))
            }
        }
    }

    /// The verified viewer behind a `hello`'s verification token; `None`
    /// without one, or for one that expired or was never issued (the
    /// viewer then verifies again when they take part).
    async fn verified(&mut self, token: Option<&str>) -> Result<Option<Verified>, Ended> {
        let Some(token) = token.and_then(VerificationToken::parse) else {
            return Ok(None);
        };
        match self.hub.store.verification(&token).await {
            Ok(v) => Ok(v),
            Err(_) => Err(ended(close::UNAVAILABLE, "store unavailable")),
        }
    }

    /// A banned viewer (by key or by the address they come from) is turned away.
    pub async fn refuse_banned(&mut self, room: &Room, who: &Who, ip: &str) -> Result<(), Ended> {
        if let Who::Viewer { key, .. } = who {
            if let Some(term) = room.ban_of(Some(key), ip) {
                send_text(self.ws, term.frame().into(), self.timeout).await?;
                return Err(ended(close::FORBIDDEN, "banned"));
            }
        }
        Ok(())
    }
}

/// The next text frame: `None` when the client went away, `Err(code)` for a non-text frame.
async fn next_text(ws: &mut WebSocket) -> Option<Result<String, ErrorCode>> {
    loop {
        match ws.recv().await? {
            Ok(Message::Text(t)) => return Some(Ok(t.to_string())),
            Ok(Message::Binary(_)) => return Some(Err(ErrorCode::BinaryNotSupported)),
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            Ok(Message::Close(_)) | Err(_) => return None,
        }
    }
}

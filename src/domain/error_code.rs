//! Every error code a client can see, HTTP (`{"error": {"code"}}`) and
//! WebSocket (`{"type": "error", "code"}`) alike: one enum, so a code is
//! chosen from a list instead of typed as a string, and the list is checked
//! against the documentation (`docs/protocol.md`) and the OpenAPI document.
//!
//! The wire strings are the variants in snake_case and never change: clients
//! compare them.

/// Defines [`ErrorCode`], its [`ErrorCode::as_str`] and [`ErrorCode::ALL`]
/// from one list, so the three cannot drift apart.
macro_rules! error_codes {
    ($($variant:ident = $text:literal,)*) => {
        /// Stable and machine-readable: what went wrong, for a program to act on
        /// (the `message` beside it is for a person). Listed in `docs/protocol.md`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $($variant,)*
        }

        impl ErrorCode {
            /// Every code, in the order of the list.
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as it goes on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $text,)*
                }
            }
        }
    };
}

error_codes! {
    // Shared by HTTP and the live socket.
    Invalid = "invalid",
    Unauthorized = "unauthorized",
    Forbidden = "forbidden",
    NotFound = "not_found",
    Internal = "internal",
    Unavailable = "unavailable",
    RateLimited = "rate_limited",
    MalformedJson = "malformed_json",
    WrongStatus = "wrong_status",
    EventClosed = "event_closed",
    // HTTP: requests the extractors refuse.
    BadBody = "bad_body",
    BodyTimeout = "body_timeout",
    NulInInput = "nul_in_input",
    InvalidBody = "invalid_body",
    UnsupportedMediaType = "unsupported_media_type",
    BadPath = "bad_path",
    BadQuery = "bad_query",
    MethodNotAllowed = "method_not_allowed",
    BadOrigin = "bad_origin",
    TooManyConnections = "too_many_connections",
    // HTTP: what a handler refuses.
    Conflict = "conflict",
    InvalidCredentials = "invalid_credentials",
    AccountLocked = "account_locked",
    SessionExpired = "session_expired",
    PasswordChangeRequired = "password_change_required",
    OtpRequired = "otp_required",
    OtpWrong = "otp_wrong",
    SecondFactorRequired = "second_factor_required",
    UseReschedule = "use_reschedule",
    AnnouncementIncomplete = "announcement_incomplete",
    NoPublicSelection = "no_public_selection",
    VideoRequired = "video_required",
    NotEnded = "not_ended",
    InvalidPlan = "invalid_plan",
    CalendarMissing = "calendar_missing",
    InvalidWordList = "invalid_word_list",
    AlreadyRated = "already_rated",
    SignupClosed = "signup_closed",
    AlreadySignedUp = "already_signed_up",
    CapacityReached = "capacity_reached",
    ImageTooLarge = "image_too_large",
    AlreadyPublished = "already_published",
    Decided = "decided",
    NoHost = "no_host",
    Merged = "merged",
    NotMergeable = "not_mergeable",
    NotTransferable = "not_transferable",
    // HTTP: verifying a viewer's mobile number.
    TooManyCodes = "too_many_codes",
    CodeWrong = "code_wrong",
    CodeExpired = "code_expired",
    SmsUnavailable = "sms_unavailable",
    // The live socket: the handshake and the connection.
    HelloRequired = "hello_required",
    UnsupportedProtocol = "unsupported_protocol",
    UnknownEvent = "unknown_event",
    EventUnavailable = "event_unavailable",
    InvalidNickname = "invalid_nickname",
    Banned = "banned",
    SessionEnded = "session_ended",
    Lagged = "lagged",
    BinaryNotSupported = "binary_not_supported",
    BadMessage = "bad_message",
    UnknownType = "unknown_type",
    BadRef = "bad_ref",
    AlreadyGreeted = "already_greeted",
    // The live socket: what a message is refused for.
    SlowMode = "slow_mode",
    InteractionPaused = "interaction_paused",
    VerificationRequired = "verification_required",
    NotVisible = "not_visible",
    AlreadyUpvoted = "already_upvoted",
    AlreadyReported = "already_reported",
    AlreadyAppealed = "already_appealed",
    TooManyFromAddress = "too_many_from_address",
    NotAQuestion = "not_a_question",
    NotAComment = "not_a_comment",
    PollClosed = "poll_closed",
    InvalidVote = "invalid_vote",
    InvalidOption = "invalid_option",
    TooManyChoices = "too_many_choices",
    AlreadyVoted = "already_voted",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::ErrorCode;

    #[test]
    fn codes_are_distinct_and_serialize_as_their_text() {
        let mut seen = HashSet::new();
        for &code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "`{code}` is listed twice");
            assert_eq!(serde_json::to_value(code).unwrap(), serde_json::json!(code.as_str()));
        }
    }

    #[test]
    fn every_code_is_documented_in_the_protocol_page() {
        let doc = include_str!("../../docs/protocol.md");
        let missing: Vec<_> = ErrorCode::ALL
            .iter()
            .filter(|c| !doc.contains(&format!("`{}`", c.as_str())))
            .collect();
        assert!(missing.is_empty(), "docs/protocol.md does not name {missing:?}");
    }

    #[test]
    fn the_openapi_error_schema_lists_every_code() {
        use utoipa::OpenApi;
        let doc = serde_json::to_value(crate::http::openapi::ApiDoc::openapi()).unwrap();
        let schemas = &doc["components"]["schemas"];
        let mut code = &schemas["ErrorDetail"]["properties"]["code"];
        if let Some(name) = code["$ref"].as_str() {
            code = &schemas[name.trim_start_matches("#/components/schemas/")];
        }
        let listed: Vec<&str> = code["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("no enum on ErrorDetail.code: {code}"))
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let all: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(listed, all);
    }
}

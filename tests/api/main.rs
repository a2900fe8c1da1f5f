//! Integration tests: the real server over loopback, on SQLite and on
//! PostgreSQL (a fresh schema per test; skipped loudly when PostgreSQL is not
//! there, unless MINSHENG_REQUIRE_POSTGRES=1).

mod helpers;

mod accessibility_pages;
mod auth;
mod auth_limits;
mod bad_input;
mod bans;
mod browser;
mod calendar_outlook;
mod cli;
mod cluster;
mod cluster_failures;
mod cluster_limits;
mod comments;
mod connections;
mod demo;
mod hardening;
mod in_person;
mod kill_switch;
mod lifecycle;
mod live;
mod live_input;
mod masking;
mod media;
mod notices;
mod open_day_pages;
mod openapi_fuzz;
mod opinions;
mod ops;
mod pipelining;
mod player_pages;
mod polls;
mod programme;
mod record;
mod redaction;
mod reviews;
mod search;
mod security;
mod selection;
mod share;
mod store_failures;
mod text_feed;
mod text_feed_pages;
mod transcript_pages;
mod verification;
mod viewer_limits;
mod way_in_pages;

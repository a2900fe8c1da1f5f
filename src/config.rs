//! Settings the running service needs, resolved from the command line.

use std::fmt;

/// A database URL that never prints its password.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub const DEFAULT: &'static str = "sqlite://data/minsheng.db";
    pub const DEMO: &'static str = "sqlite://data/demo.db";

    /// The explicit URL when given, else the default for the mode.
    pub fn resolve(explicit: Option<&str>, demo: bool) -> Self {
        match explicit.map(str::trim).filter(|s| !s.is_empty()) {
            Some(url) => Self(url.to_owned()),
            None if demo => Self(Self::DEMO.to_owned()),
            None => Self(Self::DEFAULT.to_owned()),
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Shown with any password replaced by `***`.
impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = &self.0;
        if let Some((scheme, rest)) = url.split_once("://") {
            if let Some((creds, host)) = rest.rsplit_once('@') {
                if let Some((user, _password)) = creds.split_once(':') {
                    return write!(f, "{scheme}://{user}:***@{host}");
                }
            }
        }
        f.write_str(url)
    }
}

/// Settings of the HTTP side.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub session_hours: u32,
    pub secure_cookies: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            session_hours: 12,
            secure_cookies: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_print() {
        let url = DatabaseUrl::resolve(Some("postgres://app:s3cret@db:5432/minsheng"), false);
        assert_eq!(url.to_string(), "postgres://app:***@db:5432/minsheng");
        assert!(!format!("{url:?}").contains("s3cret"));
        assert_eq!(
            DatabaseUrl::resolve(Some("postgres://app@db/x"), false).to_string(),
            "postgres://app@db/x"
        );
        assert_eq!(DatabaseUrl::resolve(None, true).expose(), DatabaseUrl::DEMO);
        assert_eq!(DatabaseUrl::resolve(Some(" "), false).expose(), DatabaseUrl::DEFAULT);
    }
}

//! The sensitive-word list in force, reloadable without a restart: the file
//! is checked for changes every few seconds, and `reload` forces a read.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use crate::domain::screen::{DEFAULT_WORDS, WordList};

pub struct Screen {
    path: Option<PathBuf>,
    current: RwLock<Arc<WordList>>,
    modified: RwLock<Option<SystemTime>>,
}

impl Screen {
    /// The list from `path`, or the built-in starter list.
    pub fn load(path: Option<PathBuf>) -> anyhow::Result<Self> {
        let screen = Self {
            path,
            current: RwLock::new(Arc::new(WordList::empty())),
            modified: RwLock::new(None),
        };
        match &screen.path {
            None => {
                *screen.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(WordList::parse(DEFAULT_WORDS)?)
            }
            Some(_) => {
                screen.reload()?;
            }
        }
        Ok(screen)
    }

    pub fn current(&self) -> Arc<WordList> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Read the file again; a broken file leaves the old list in force.
    pub fn reload(&self) -> anyhow::Result<usize> {
        let Some(path) = &self.path else {
            return Ok(self.current().len());
        };
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading the word list {}: {e}", path.display()))?;
        let list = WordList::parse(&text).map_err(|e| anyhow::anyhow!("word list {}: {e}", path.display()))?;
        let n = list.len();
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(list);
        *self.modified.write().unwrap_or_else(|e| e.into_inner()) = modified;
        tracing::info!(path = %path.display(), words = n, "word list loaded");
        Ok(n)
    }

    /// Reload when the file changed since the last read.
    pub fn reload_if_changed(&self) {
        let Some(path) = &self.path else { return };
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        if modified != *self.modified.read().unwrap_or_else(|e| e.into_inner()) {
            if let Err(e) = self.reload() {
                tracing::error!(error = %e, "word list not reloaded; the previous one stays in force");
                *self.modified.write().unwrap_or_else(|e| e.into_inner()) = modified;
            }
        }
    }
}

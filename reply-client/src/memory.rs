//! [`MemoryTokenStore`]: a [`TokenStore`] in this process's memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::{BoxFuture, StoredToken, TokenStore, TokenStoreError};

/// A [`TokenStore`] in this process's memory: for one instance, and for what a component keeps
/// (its ticket, its authorizers' refresh tokens) when no shared store is given. Values past their
/// life are gone; nothing else is ever dropped. Instances behind one URL share a store of their
/// own instead (the serving crate's `serve::RedisStore`).
///
/// ```
/// use std::time::Duration;
/// use reply_client::{MemoryTokenStore, TokenStore};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), reply_client::TokenStoreError> {
/// let store = MemoryTokenStore::new();
/// store.put("wx1", "TOKEN", Duration::from_secs(7200)).await?;
/// assert_eq!(store.get("wx1").await?.map(|t| t.token), Some("TOKEN".into()));
/// store.expire("wx1", "ANOTHER").await?; // not the one kept: kept
/// assert!(store.get("wx1").await?.is_some());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryTokenStore {
    inner: Arc<Mutex<Kept>>,
}

#[derive(Debug, Default)]
struct Kept {
    values: HashMap<Box<str>, (Arc<str>, Instant)>,
    locks: HashMap<Box<str>, Instant>,
}

impl MemoryTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryTokenStore::default()
    }

    fn kept<T>(&self, f: impl FnOnce(&mut Kept, Instant) -> T) -> T {
        let mut kept = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        kept.values.retain(|_, (_, until)| now < *until);
        kept.locks.retain(|_, until| now < *until);
        f(&mut kept, now)
    }
}

impl TokenStore for MemoryTokenStore {
    fn get<'a>(&'a self, app_id: &'a str) -> BoxFuture<'a, Result<Option<StoredToken>, TokenStoreError>> {
        let found = self.kept(|kept, now| {
            kept.values.get(app_id).map(|(token, until)| StoredToken { token: token.clone(), expires_in: *until - now })
        });
        Box::pin(async move { Ok(found) })
    }

    fn put<'a>(
        &'a self,
        app_id: &'a str,
        token: &'a str,
        expires_in: Duration,
    ) -> BoxFuture<'a, Result<(), TokenStoreError>> {
        self.kept(|kept, now| {
            let until = now.checked_add(expires_in).unwrap_or(now + Duration::from_secs(365 * 24 * 60 * 60));
            kept.values.insert(app_id.into(), (token.into(), until));
        });
        Box::pin(async { Ok(()) })
    }

    fn expire<'a>(&'a self, app_id: &'a str, token: &'a str) -> BoxFuture<'a, Result<(), TokenStoreError>> {
        self.kept(|kept, _| {
            if kept.values.get(app_id).is_some_and(|(kept, _)| &**kept == token) {
                kept.values.remove(app_id);
            }
        });
        Box::pin(async { Ok(()) })
    }

    fn lock<'a>(&'a self, app_id: &'a str, lease: Duration) -> BoxFuture<'a, Result<bool, TokenStoreError>> {
        let taken = self.kept(|kept, now| {
            if kept.locks.contains_key(app_id) {
                return false;
            }
            kept.locks.insert(app_id.into(), now + lease);
            true
        });
        Box::pin(async move { Ok(taken) })
    }

    fn unlock<'a>(&'a self, app_id: &'a str) -> BoxFuture<'a, Result<(), TokenStoreError>> {
        self.kept(|kept, _| kept.locks.remove(app_id));
        Box::pin(async { Ok(()) })
    }
}

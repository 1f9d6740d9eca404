//! HTTP basic authentication against bcrypt hashes (`basic_auth_users` of the web
//! configuration). bcrypt is slow on purpose (tens of ms a check): a credential once checked
//! is remembered (by a keyed hash of it, never the password itself) so that a scraper pays
//! it once, and at most one check runs at a time, so that a client trying passwords costs
//! at most one core and never holds up a scrape whose credentials are known. An unknown
//! user is checked against a dummy hash, so that timing does not tell which users exist.
use std::{
    collections::{BTreeMap, HashMap},
    hash::{BuildHasher, RandomState},
    sync::{Mutex, OnceLock},
};

use base64::Engine as _;

/// Remembered credentials (right and wrong) before the memory is cleared.
const REMEMBERED: usize = 1024;

/// See the module documentation.
#[derive(Debug)]
pub struct Auth {
    users: BTreeMap<String, String>,
    keys: (RandomState, RandomState),
    seen: Mutex<HashMap<u128, bool>>,
    gate: tokio::sync::Semaphore,
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| bcrypt::hash("ipctop: no such user", 10).unwrap_or_default())
}

/// `user:password` of an `Authorization: Basic …` header.
pub fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

impl Auth {
    /// `None` when there are no users (no authentication).
    pub fn new(users: BTreeMap<String, String>) -> Option<Auth> {
        (!users.is_empty()).then(|| Auth {
            users,
            keys: (RandomState::new(), RandomState::new()),
            seen: Mutex::new(HashMap::new()),
            gate: tokio::sync::Semaphore::new(1),
        })
    }

    fn key(&self, user: &str, password: &str) -> u128 {
        let h = |s: &RandomState| s.hash_one((user, password)) as u128;
        (h(&self.keys.0) << 64) | h(&self.keys.1)
    }

    /// Whether an `Authorization` header's credentials are a user's.
    pub async fn allows(&self, header: Option<&str>) -> bool {
        let Some((user, password)) = header.and_then(basic_credentials) else {
            return false;
        };
        let key = self.key(&user, &password);
        if let Some(&ok) = self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return ok;
        }
        let Ok(_permit) = self.gate.acquire().await else {
            return false;
        };
        // Another request may have checked the same while this one waited.
        if let Some(&ok) = self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return ok;
        }
        let (known, hash) = match self.users.get(&user) {
            Some(h) => (true, h.clone()),
            None => (false, dummy_hash().to_string()),
        };
        let ok = tokio::task::spawn_blocking(move || {
            // Verified even for an unknown user: the same time either way.
            let matches = bcrypt::verify(password, &hash).unwrap_or(false);
            known && matches
        })
        .await
        .unwrap_or(false);
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= REMEMBERED {
            seen.clear();
        }
        seen.insert(key, ok);
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> String {
        let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {b}")
    }

    #[tokio::test]
    async fn only_the_right_password_of_a_known_user_passes() {
        let hash = bcrypt::hash("s3cret:with:colons", 4).unwrap();
        let auth = Auth::new(BTreeMap::from([("prometheus".to_string(), hash)])).unwrap();
        let right = header("prometheus", "s3cret:with:colons");
        assert!(auth.allows(Some(&right)).await);
        assert!(auth.allows(Some(&right)).await, "remembered");
        assert!(!auth.allows(Some(&header("prometheus", "wrong"))).await);
        assert!(
            !auth
                .allows(Some(&header("nobody", "s3cret:with:colons")))
                .await
        );
        assert!(!auth.allows(None).await);
        assert!(!auth.allows(Some("Bearer abc")).await);
        assert!(!auth.allows(Some("Basic !!!")).await);
        assert!(Auth::new(BTreeMap::new()).is_none());
    }

    #[test]
    fn credentials_are_parsed_from_the_header() {
        assert_eq!(
            basic_credentials(&header("a", "b:c")),
            Some(("a".into(), "b:c".into()))
        );
        assert_eq!(
            basic_credentials("basic YTpi"),
            Some(("a".into(), "b".into()))
        );
        assert_eq!(basic_credentials("Basic"), None);
    }
}

//! Revocation that reaches live connections. An HTTP request is checked when it arrives; a room socket, a
//! notification stream or a WHIP/WHEP session outlives that check by hours. Each holds a [`Watch`] of the
//! credential it was opened with, which ends it within a second of the credential's end: a password
//! change, a sign-out (here or everywhere), a session or token revoked by its ID, a token's expiry, a
//! suspension or the account's deletion.
//!
//! Whatever changes a person's credentials calls [`Revocations::changed`] with their ID, on any node; every
//! live connection of theirs, on every node, then asks the store whether its own credential still holds.
//! The store stays the one source of truth, and a revocation costs one look-up per connection of that one
//! person, never a scan of everyone's.

use std::sync::Arc;
use std::time::Duration;
use stoa_proto::UserId;
use stoa_store::Store;
use tokio::sync::broadcast;

/// Revocations waiting for slow connections to read them; one that falls further behind checks its
/// credential anyway (it may have missed its own).
const QUEUE: usize = 1024;

/// Where revocations are announced. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Revocations {
    tx: broadcast::Sender<UserId>,
}

impl Default for Revocations {
    fn default() -> Self {
        Revocations { tx: broadcast::channel(QUEUE).0 }
    }
}

impl Revocations {
    /// `user`'s credentials changed, on this node (the notification hub tells the other nodes of a cluster,
    /// whose hubs call this in turn).
    pub fn changed(&self, user: UserId) {
        let _ = self.tx.send(user);
    }

    /// A watch of `credential`.
    pub fn watch(&self, credential: Credential, store: Arc<dyn Store>) -> Watch {
        let expires = credential.expires_at.map(|at| {
            let left = at.saturating_sub(crate::clock::now_ms() / 1000).max(0) as u64;
            tokio::time::Instant::now() + Duration::from_secs(left)
        });
        Watch {
            user: credential.user,
            hash: credential.hash,
            token: credential.token,
            expires,
            rx: self.tx.subscribe(),
            store,
            recheck: false,
        }
    }
}

/// The credential a live connection was opened with.
#[derive(Debug, Clone)]
pub struct Credential {
    /// Whose.
    pub user: UserId,
    /// The hash of its secret, as the store keeps it.
    pub hash: String,
    /// An access token (not a session).
    pub token: bool,
    /// When it expires (Unix seconds), if it does.
    pub expires_at: Option<i64>,
}

/// Why a live connection was ended, for its `removed` (or `error`) event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// The `reason` code.
    pub reason: &'static str,
    /// The sentence the person sees: the same words as the room's own when it throws them out.
    pub message: String,
}

impl Revoked {
    fn new(reason: &'static str, message: impl Into<String>) -> Revoked {
        Revoked { reason, message: message.into() }
    }
}

/// One live connection's credential, watched.
pub struct Watch {
    user: UserId,
    hash: String,
    token: bool,
    expires: Option<tokio::time::Instant>,
    rx: broadcast::Receiver<UserId>,
    store: Arc<dyn Store>,
    /// A change for this user arrived and its check has not finished: kept across a cancelled
    /// [`Watch::revoked`] (it runs in a `select!`), so that no change is lost.
    recheck: bool,
}

impl Watch {
    /// Resolves once the credential no longer holds, with why. Cancel-safe.
    pub async fn revoked(&mut self) -> Revoked {
        loop {
            if self.recheck {
                if let Some(why) = self.check().await {
                    return why;
                }
                self.recheck = false;
            }
            let expiry = async {
                match self.expires {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = expiry => return Revoked::new("token_expired", "The access token expired."),
                message = self.rx.recv() => match message {
                    Ok(user) if user == self.user => self.recheck = true,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => self.recheck = true,
                    Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
                },
            }
        }
    }

    /// Whether the credential still holds: `Some(why)` if not. A store that cannot answer keeps the
    /// connection (the next change or request checks again).
    async fn check(&self) -> Option<Revoked> {
        let holds = if self.token {
            self.store.api_token_account(&self.hash).await.map(|a| a.is_some())
        } else {
            self.store.session_account(&self.hash).await.map(|a| a.is_some())
        };
        match holds {
            Ok(true) | Err(_) => None,
            Ok(false) => {
                let account = self.store.account(self.user).await.ok().flatten();
                Some(match account {
                    // A deleted account stays as a stand-in, `~deleted-ID`, a name no one can sign up with.
                    None => Revoked::new("account_deleted", "This account was deleted."),
                    Some(a) if a.username.starts_with("~deleted-") => {
                        Revoked::new("account_deleted", "This account was deleted.")
                    }
                    Some(a) if a.suspended.is_some() => Revoked::new(
                        "suspended",
                        format!("Your account is suspended: {}", a.suspended.unwrap_or_default()),
                    ),
                    Some(_) if self.token => Revoked::new("token_revoked", "The access token was revoked."),
                    Some(_) => Revoked::new(
                        "signed_out",
                        "You were signed out (a password change, or a sign-out): sign in again.",
                    ),
                })
            }
        }
    }
}

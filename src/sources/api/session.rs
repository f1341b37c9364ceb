//! Single-flight authentication: one login at a time, shared by every request of a source;
//! a 401 triggers one re-authentication and one replay, and a second 401 is final. A 403
//! ([`ApiError::Forbidden`]) is passed on untouched: a fresh token has the same permissions.

use crate::sources::Page;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use reqwest::RequestBuilder;

use super::{ApiError, Reply, Transport};

/// A credential the vendor issued, with when to renew it.
#[derive(Clone)]
pub struct AuthToken {
    pub value: String,
    /// Renew before this instant (None: until the server says 401).
    pub renew_at: Option<Instant>,
}

impl std::fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthToken")
            .field("value", &"***")
            .field("renew_at", &self.renew_at)
            .finish()
    }
}

impl AuthToken {
    /// A token that should be renewed `margin` before `lifetime` runs out.
    pub fn expiring(value: String, lifetime: Option<Duration>, margin: Duration) -> AuthToken {
        AuthToken {
            value,
            renew_at: lifetime.map(|l| Instant::now() + l.saturating_sub(margin)),
        }
    }
}

pub type LoginFuture<'a> = Pin<Box<dyn Future<Output = Result<AuthToken, ApiError>> + Send + 'a>>;

/// The token of one source and the generation it belongs to.
#[derive(Default)]
pub struct Session {
    state: tokio::sync::Mutex<(Option<AuthToken>, u64)>,
}

impl Session {
    pub fn new() -> Session {
        Session::default()
    }

    /// The current token, logging in (or renewing) first when there is none or it is due.
    /// `login` gets the previous token, for vendors that extend rather than log in again.
    pub async fn token<'a>(
        &self,
        login: &'a (dyn Fn(Option<String>) -> LoginFuture<'a> + Send + Sync),
    ) -> Result<(String, u64), ApiError> {
        let mut st = self.state.lock().await;
        let due = match &st.0 {
            None => true,
            Some(t) => t.renew_at.is_some_and(|r| Instant::now() >= r),
        };
        if due {
            let previous = st.0.as_ref().map(|t| t.value.clone());
            let t = login(previous).await?;
            st.0 = Some(t);
            st.1 += 1;
        }
        let value = st.0.as_ref().map(|t| t.value.clone()).unwrap_or_default();
        Ok((value, st.1))
    }

    /// After a 401 with the token of generation `seen`: log in again unless another request
    /// already did (single flight), and return the fresh token.
    pub async fn refresh<'a>(
        &self,
        seen: u64,
        transport: &Transport,
        login: &'a (dyn Fn(Option<String>) -> LoginFuture<'a> + Send + Sync),
    ) -> Result<(String, u64), ApiError> {
        let mut st = self.state.lock().await;
        if st.1 == seen {
            // A full login: the old token was refused, extending it would fail too.
            let t = login(None).await?;
            st.0 = Some(t);
            st.1 += 1;
            transport.count_reauth();
        }
        let value = st.0.as_ref().map(|t| t.value.clone()).unwrap_or_default();
        Ok((value, st.1))
    }

    /// Send an authenticated request: on 401, one re-authentication and one replay.
    pub async fn send<'a>(
        &self,
        transport: &Transport,
        login: &'a (dyn Fn(Option<String>) -> LoginFuture<'a> + Send + Sync),
        build: &(dyn Fn(&str) -> RequestBuilder + Send + Sync),
    ) -> Result<Reply, ApiError> {
        let (token, generation) = self.token(login).await?;
        match transport.send(&|| build(&token)).await {
            Err(ApiError::Unauthorized(_)) => {
                let (fresh, _) = self.refresh(generation, transport, login).await?;
                transport
                    .send(&|| build(&fresh))
                    .await
                    .map_err(|e| match e {
                        ApiError::Unauthorized(d) => {
                            ApiError::Unauthorized(format!("{d} (again after a fresh login)"))
                        }
                        other => other,
                    })
            }
            other => other,
        }
    }

    /// As [`Session::send`], parsing JSON and re-fetching a body that does not parse.
    pub async fn json<'a>(
        &self,
        transport: &Transport,
        login: &'a (dyn Fn(Option<String>) -> LoginFuture<'a> + Send + Sync),
        build: &(dyn Fn(&str) -> RequestBuilder + Send + Sync),
    ) -> Result<(Reply, serde_json::Value), ApiError> {
        self.json_with(transport, login, build, |b| serde_json::from_slice(b))
            .await
    }

    /// As [`Session::json`], for a list reply whose items lie at `paths`, parsed as a [`Page`] (its items
    /// kept as text, to be mapped one by one).
    pub async fn page<'a>(
        &self,
        paths: crate::sources::page::ItemPaths,
        transport: &Transport,
        login: &'a (dyn Fn(Option<String>) -> LoginFuture<'a> + Send + Sync),
        build: &(dyn Fn(&str) -> RequestBuilder + Send + Sync),
    ) -> Result<(Reply, Page), ApiError> {
        self.json_with(transport, login, build, |b| Page::parse(paths, b))
            .await
    }

    async fn json_with<'a, T>(
        &self,
        transport: &Transport,
        login: &'a (dyn Fn(Option<String>) -> LoginFuture<'a> + Send + Sync),
        build: &(dyn Fn(&str) -> RequestBuilder + Send + Sync),
        parse: impl Fn(&[u8]) -> Result<T, serde_json::Error>,
    ) -> Result<(Reply, T), ApiError> {
        let mut attempt = 0;
        loop {
            let reply = self.send(transport, login, build).await?;
            match parse(&reply.body) {
                Ok(v) => return Ok((reply, v)),
                Err(e) => {
                    if !transport.retry_pause(attempt).await {
                        return Err(ApiError::Malformed {
                            what: transport.what().to_string(),
                            detail: format!(
                                "invalid JSON at line {} column {} ({} bytes)",
                                e.line(),
                                e.column(),
                                reply.body.len()
                            ),
                        });
                    }
                    attempt += 1;
                }
            }
        }
    }
}

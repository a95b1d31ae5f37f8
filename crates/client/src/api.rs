//! The HTTP API, as a signed-in user.

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// A signed-in user's view of a Stoa server.
#[derive(Debug, Clone)]
pub struct Api {
    /// The server's base URL, e.g. `http://127.0.0.1:8080`.
    pub base: String,
    /// The bearer token.
    pub token: String,
    http: reqwest::Client,
}

impl Api {
    /// Uses an existing token.
    pub fn with_token(base: &str, token: &str) -> Api {
        Api { base: base.trim_end_matches('/').to_string(), token: token.to_string(), http: crate::tls::http() }
    }

    /// Signs in with a username and password.
    pub async fn login(base: &str, username: &str, password: &str) -> anyhow::Result<Api> {
        let base = base.trim_end_matches('/').to_string();
        let body = json!({"username": username, "password": password});
        let value = post(&crate::tls::http(), &format!("{base}/api/v1/auth/login"), None, body).await?;
        let token = value["token"].as_str().context("the login answer has no token")?;
        Ok(Api::with_token(&base, token))
    }

    /// Signs up with an invite code.
    pub async fn sign_up(base: &str, invite: &str, username: &str, password: &str) -> anyhow::Result<Api> {
        let base = base.trim_end_matches('/').to_string();
        let body = json!({"invite": invite, "username": username, "display_name": username, "password": password});
        let value = post(&crate::tls::http(), &format!("{base}/api/v1/auth/signup"), None, body).await?;
        let token = value["token"].as_str().context("the sign-up answer has no token")?;
        Ok(Api::with_token(&base, token))
    }

    /// `GET` a path under the base URL.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let resp = self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.token).send().await?;
        answer(resp).await
    }

    /// `POST` JSON to a path under the base URL.
    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        post(&self.http, &format!("{}{path}", self.base), Some(&self.token), body).await
    }
}

async fn post(http: &reqwest::Client, url: &str, token: Option<&str>, body: Value) -> anyhow::Result<Value> {
    let mut req = http.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.with_context(|| format!("cannot reach {url}"))?;
    answer(resp).await
}

/// The JSON body of a success, or the server's error message as the error.
async fn answer(resp: reqwest::Response) -> anyhow::Result<Value> {
    let status = resp.status();
    let text = resp.text().await?;
    let value: Value =
        if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    if !status.is_success() {
        let message = value["error"]["message"].as_str().map(str::to_string).unwrap_or_else(|| value.to_string());
        bail!("the server answered {status}: {message}");
    }
    Ok(value)
}

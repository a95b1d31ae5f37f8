//! [`ApiError`]: every error the API returns, as `{"error":{"code","message"}}` with the right status, and
//! [`ApiJson`], the JSON extractor whose rejections are such errors too.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use stoa_proto::{ErrorBody, ErrorDetail};
use stoa_room::{CommandError, JoinError};
use stoa_store::StoreError;

/// An error answer: a status, a stable code and a sentence for the user.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    /// The node that runs a room did not answer a forwarded request.
    pub fn node_unreachable() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "node_unreachable",
            "The node running this room cannot be reached just now; try again in a moment.",
        )
        .with_retry_after(1)
    }

    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), retry_after: None }
    }
    /// 400: the request is malformed or a field is invalid.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }
    /// 401: no valid session.
    pub fn unauthorized() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "Sign in first.")
    }
    /// 403: signed in, but not allowed.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, code, message)
    }
    /// 404: no such thing, or a thing the caller may not know exists.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    /// 404 for a room: the same answer whether it never existed, ended, or is hidden from the caller.
    pub fn no_such_room() -> ApiError {
        ApiError::not_found("There is no such room.")
    }
    /// 429, with the seconds to wait.
    pub fn rate_limited(retry_after: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many attempts; wait a minute and try again.",
            )
        }
    }
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
    /// 403 for a bearer token without the scope a request needs (RFC 6750 §3.1), with its
    /// `WWW-Authenticate` challenge.
    pub fn insufficient_scope(scope: &str) -> ApiError {
        ApiError::forbidden("insufficient_scope", format!("This access token lacks the `{scope}` scope."))
    }
    /// The same error, telling the client to try again in `seconds`.
    pub fn with_retry_after(self, seconds: u64) -> ApiError {
        ApiError { retry_after: Some(seconds), ..self }
    }
    /// 500: logs the detail, and tells the client nothing of the internals.
    pub fn internal(detail: impl std::fmt::Display) -> ApiError {
        tracing::error!(%detail, "internal error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Something went wrong on the server; try again.")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: ErrorDetail { code: self.code.to_string(), message: self.message } };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.code == "insufficient_scope" {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"insufficient_scope\""));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::InviteInvalid => {
                ApiError::bad_request("invalid_invite", "This invite is not valid or has already been used.")
            }
            StoreError::UsernameTaken => {
                ApiError::new(StatusCode::CONFLICT, "username_taken", "That username is taken; pick another.")
            }
            StoreError::QuotaExhausted => ApiError::forbidden("invite_quota_exhausted", "You have no invites left."),
            StoreError::Blocked => ApiError::forbidden("blocked", "You can't follow this person."),
            StoreError::NoSuchUser => ApiError::not_found("There is no such user."),
            StoreError::HandleTaken => {
                ApiError::new(StatusCode::CONFLICT, "handle_taken", "Another club has that handle; pick another.")
            }
            ref other if other.is_unavailable() => {
                tracing::error!(error = %other, "the store cannot be reached");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "The server cannot reach its database just now; try again in a moment.",
                )
                .with_retry_after(2)
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<JoinError> for ApiError {
    fn from(e: JoinError) -> ApiError {
        match e {
            JoinError::NotFound => ApiError::no_such_room(),
            JoinError::Removed => ApiError::forbidden("removed_from_room", e.to_string()),
            JoinError::Full => ApiError::new(StatusCode::CONFLICT, "room_full", "This room is full; try again later."),
            _ => ApiError::internal(e),
        }
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> ApiError {
        ApiError::forbidden(e.code(), e.to_string())
    }
}

/// `axum::Json`, with rejections answered as [`ApiError`]s: 413 for an oversized body, 415 for a wrong
/// content type, 400 for malformed JSON or a missing or mistyped field.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "The request body is too large.")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the body as JSON, with `Content-Type: application/json`.",
        ),
        _ => match rejection {
            // serde's message names the field and the problem ("missing field `title`"), never internals.
            JsonRejection::JsonDataError(e) => ApiError::bad_request(
                "invalid_body",
                format!(
                    "The request body does not fit: {}",
                    e.body_text().rsplit(": ").next().unwrap_or("invalid data")
                ),
            ),
            _ => ApiError::bad_request("malformed_json", "The request body is not valid JSON."),
        },
    }
}

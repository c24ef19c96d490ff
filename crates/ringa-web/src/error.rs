//! The one error type of the web layer and how each kind becomes an HTTP
//! response: JSON for the API, a redirect to the login page for pages.

use std::fmt;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use ringa_store::StoreError;
use ringa_store::import::ImportError;

/// Why a request failed.
#[derive(Debug)]
pub enum WebError {
    /// No valid session or token (API routes).
    Unauthorized,
    /// No valid session on a page: send the browser to the login form.
    LoginRequired,
    /// The caller's role or scope does not allow this.
    Forbidden(String),
    /// A state-changing request made with a session lacked its CSRF token.
    Csrf,
    /// The user's password is one-time and must be replaced first; pages
    /// are sent to the password form, API calls answered 409.
    PasswordChange {
        page: bool,
    },
    NotFound(String),
    BadRequest(String),
    /// Too many wrong passwords: try again after this many seconds.
    Throttled(u64),
    /// The floor runtime refused the request (wrong agent state, outcome).
    Rejected(String),
    /// The request clashes with what is stored (a name already taken).
    Conflict(String),
    Store(StoreError),
    Internal(String),
}

impl fmt::Display for WebError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebError::Unauthorized => f.write_str("authentication required"),
            WebError::LoginRequired => f.write_str("log in first"),
            WebError::Forbidden(why) => write!(f, "forbidden: {why}"),
            WebError::Csrf => f.write_str("missing or wrong CSRF token"),
            WebError::PasswordChange { .. } => f.write_str(
                "change your password first: it is a one-time password (POST \
                 /api/v1/me/password with old_password and new_password, or the page \
                 /password)",
            ),
            WebError::NotFound(what) => write!(f, "not found: {what}"),
            WebError::BadRequest(why) => write!(f, "bad request: {why}"),
            WebError::Throttled(secs) => write!(f, "too many failed logins; wait {secs} s"),
            WebError::Rejected(why) => write!(f, "rejected: {why}"),
            WebError::Conflict(why) => f.write_str(why),
            WebError::Store(err) => write!(f, "storage: {err}"),
            WebError::Internal(why) => write!(f, "internal error: {why}"),
        }
    }
}

impl std::error::Error for WebError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WebError::Store(err) => Some(err),
            _ => None,
        }
    }
}

impl From<StoreError> for WebError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(what) => WebError::NotFound(what),
            StoreError::Invalid(why) => WebError::BadRequest(why),
            StoreError::Conflict(why) => WebError::Conflict(why),
            other if other.is_unique_violation() => {
                WebError::Conflict("that name is already taken".into())
            }
            other => WebError::Store(other),
        }
    }
}

impl From<ImportError> for WebError {
    fn from(err: ImportError) -> Self {
        WebError::BadRequest(err.to_string())
    }
}

impl WebError {
    fn status(&self) -> StatusCode {
        match self {
            WebError::Unauthorized | WebError::LoginRequired => StatusCode::UNAUTHORIZED,
            WebError::Forbidden(_) | WebError::Csrf => StatusCode::FORBIDDEN,
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            WebError::Rejected(_) | WebError::Conflict(_) | WebError::PasswordChange { .. } => {
                StatusCode::CONFLICT
            }
            WebError::Store(_) | WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl WebError {
    /// The status and the message a client may see. A server error's cause
    /// (SQL text, file paths) goes to the log, inside the request's span;
    /// the client learns only that it failed.
    pub(crate) fn public(&self) -> (StatusCode, String) {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
            (status, "internal error; the server log has the details".to_string())
        } else {
            (status, self.to_string())
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::LoginRequired => return Redirect::to("/login").into_response(),
            WebError::PasswordChange { page: true, .. } => {
                return Redirect::to("/password").into_response();
            }
            _ => {}
        }
        let (status, message) = self.public();
        let body = serde_json::json!({ "error": message });
        (status, axum::Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_server_error_hides_its_cause_from_the_client() {
        let err = WebError::Store(StoreError::Corrupt("column secret_x of table t".into()));
        let response = err.into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 4096).await.expect("a body");
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("internal error"), "{text}");
        assert!(!text.contains("secret_x"), "{text}");
    }
}

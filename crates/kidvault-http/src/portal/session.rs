//! Portal sessions: the session cookie (`HttpOnly`, `SameSite=Strict`, `Secure`
//! behind TLS), the signed-in guardian extractor, anti-forgery checks on every
//! form, and the HTML error page.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use kidvault_domain::entities::Guardian;
use kidvault_service::access::GuardianSession;
use kidvault_service::accounts::{csrf_token, csrf_valid};
use kidvault_service::ServiceError;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::html::{self, html, t, Clock, Lang, Who};
use crate::error::ApiError;
use crate::extract::{cookie, SESSION_COOKIE};
use crate::AppState;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use time::Duration;

/// The cookie that double-submits the token of forms shown before sign-in.
pub const FORM_COOKIE: &str = "kv_form";

/// A failure shown as a page, with the API's stable code.
#[derive(Debug)]
pub struct PageError(pub ApiError);

impl From<ServiceError> for PageError {
    fn from(e: ServiceError) -> Self {
        Self(e.into())
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl PageError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self(ApiError::new(status, code, message))
    }
}

/// A failure waiting to be written as a page: [`localize`] writes it in the
/// reader's language once the response is on its way out.
#[derive(Clone, Debug)]
struct Unwritten(std::sync::Arc<ApiError>);

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut resp = self.0.status.into_response();
        resp.extensions_mut().insert(Unwritten(std::sync::Arc::new(self.0)));
        resp
    }
}

impl PageError {
    /// The error page: the catalogue's sentence for the code when it has one,
    /// the API's message otherwise; the code stays visible for support.
    fn page(e: &ApiError, l: Lang) -> Response {
        let title = t!(l, "error-title", status = e.status.as_u16());
        let message = super::error_sentence(l, e.code, || e.message.clone());
        let body = html! {
            (html::flash("error", &message))
            p { (t!(l, "error-code")) " " code { (e.code) } }
            p { a href="/portal" { (t!(l, "error-back")) } }
        };
        let mut resp = html::page(l, e.status, &title, None, body);
        e.mark(&mut resp);
        resp
    }
}

/// The cookie that keeps the language a reader chose.
pub const LANG_COOKIE: &str = "kv_lang";

/// The reader's language: the one they chose, else their browser's
/// (`Accept-Language`), else English.
pub fn lang_of(headers: &axum::http::HeaderMap) -> Lang {
    let chosen =
        axum_extra::extract::CookieJar::from_headers(headers).get(LANG_COOKIE).and_then(|c| Lang::parse(c.value()));
    chosen.unwrap_or_else(|| {
        Lang::negotiate(headers.get(axum::http::header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or(""))
    })
}

/// Writes every portal failure as a page in the reader's language.
pub async fn localize(req: Request, next: axum::middleware::Next) -> Response {
    let lang = lang_of(req.headers());
    let mut resp = next.run(req).await;
    match resp.extensions_mut().remove::<Unwritten>() {
        Some(Unwritten(e)) => PageError::page(&e, lang),
        None => resp,
    }
}

pub type PageResult<T = Response> = Result<T, PageError>;

/// Whether the client reached us over TLS (directly or through a proxy that
/// says so): then cookies are marked `Secure`.
fn over_tls(parts: &Parts) -> bool {
    parts.uri.scheme_str() == Some("https")
        || parts.headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) == Some("https")
}

/// A cookie with the portal's attributes: the whole site, never readable by
/// script, never sent from another site, `Secure` over TLS; an empty value with
/// `max_age_secs` 0 removes it.
pub fn set_cookie(parts: &Parts, name: &str, value: &str, max_age_secs: i64) -> Cookie<'static> {
    Cookie::build((name.to_owned(), value.to_owned()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(Duration::seconds(max_age_secs))
        .secure(over_tls(parts))
        .build()
}

/// Adds `Set-Cookie` headers to a response.
pub fn with_cookies(resp: Response, cookies: impl IntoIterator<Item = Cookie<'static>>) -> Response {
    let jar = cookies.into_iter().fold(CookieJar::new(), CookieJar::add);
    (jar, resp).into_response()
}

/// A signed-in guardian in the portal. Without a valid session cookie, a page
/// request is sent to the sign-in page.
pub struct Portal {
    pub session: GuardianSession,
    pub guardian: Guardian,
    pub token: String,
    pub csrf: String,
    /// The language the guardian reads.
    pub lang: Lang,
}

impl std::fmt::Debug for Portal {
    // The session token and form token are secrets: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Portal").field("session", &self.session).finish_non_exhaustive()
    }
}

impl Portal {
    pub fn who(&self) -> Who<'_> {
        Who { guardian: &self.guardian, csrf: &self.csrf }
    }

    /// How the guardian reads times: their zone, in their language.
    pub fn clock(&self) -> Clock {
        Clock::new(self.guardian.zone(), self.lang)
    }
}

impl FromRequestParts<AppState> for Portal {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let to_sign_in = || {
            let next = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/portal");
            Redirect::to(&format!("/portal/sign-in?next={}", urlencode(next))).into_response()
        };
        let Some(token) = cookie(parts, SESSION_COOKIE) else {
            return Err(to_sign_in());
        };
        let session = match state.vault.authenticate_guardian(&token, chrono::Utc::now()).await {
            Ok(s) => s,
            Err(ServiceError::Unauthenticated(_)) => return Err(to_sign_in()),
            Err(e) => return Err(PageError::from(e).into_response()),
        };
        let guardian = state.vault.guardian_profile(&session).await.map_err(|e| PageError::from(e).into_response())?;
        let csrf = csrf_token(&token);
        Ok(Self { session, guardian, token, csrf, lang: lang_of(&parts.headers) })
    }
}

#[derive(Deserialize)]
struct CsrfField {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

fn forged() -> PageError {
    PageError::new(
        StatusCode::FORBIDDEN,
        "csrf_failed",
        "this form has expired or did not come from kidvault; go back, reload the page and try again",
    )
}

fn parse_form<T: DeserializeOwned>(body: &[u8]) -> PageResult<T> {
    serde_urlencoded::from_bytes(body).map_err(|e| {
        PageError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_form", format!("the form is incomplete: {e}"))
    })
}

/// A form's bytes (at most 64 KiB, arriving within the edge's deadlines).
async fn read_form(body: axum::body::Body) -> Result<bytes::Bytes, Response> {
    axum::body::to_bytes(body, 64 * 1024).await.map_err(|e| {
        if crate::edge::is_body_timeout(&e) {
            PageError::new(StatusCode::REQUEST_TIMEOUT, "body_timeout", "the form arrived too slowly").into_response()
        } else {
            PageError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the form is too large").into_response()
        }
    })
}

/// A signed-in guardian's form submission whose anti-forgery token matched.
#[derive(Debug)]
pub struct PortalForm<T>(pub Portal, pub T);

impl<T: DeserializeOwned + Send> FromRequest<AppState> for PortalForm<T> {
    type Rejection = Response;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let portal = Portal::from_request_parts(&mut parts, state).await?;
        let bytes = read_form(body).await?;
        let field: CsrfField = parse_form(&bytes).map_err(IntoResponse::into_response)?;
        if !csrf_valid(&portal.token, &field.csrf) {
            return Err(forged().into_response());
        }
        let form = parse_form(&bytes).map_err(IntoResponse::into_response)?;
        Ok(Self(portal, form))
    }
}

/// A form shown before sign-in (sign-in, sign-up): its token must equal the
/// one in the form cookie set when the form was shown.
#[derive(Debug)]
pub struct PublicForm<T>(pub Parts, pub T);

impl<T: DeserializeOwned + Send> FromRequest<AppState> for PublicForm<T> {
    type Rejection = Response;
    async fn from_request(req: Request, _: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let bytes = read_form(body).await?;
        let field: CsrfField = parse_form(&bytes).map_err(IntoResponse::into_response)?;
        let expected = cookie(&parts, FORM_COOKIE).unwrap_or_default();
        let matches =
            !expected.is_empty() && kidvault_crypto::secrets_equal(expected.as_bytes(), field.csrf.as_bytes());
        if !matches {
            return Err(forged().into_response());
        }
        let form = parse_form(&bytes).map_err(IntoResponse::into_response)?;
        Ok(Self(parts, form))
    }
}

/// Percent-encodes a query value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A `next` target that stays inside the portal (no open redirect).
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        // Printable ASCII only: a CR or LF would split the Location header.
        Some(n)
            if n.starts_with("/portal")
                && !n.starts_with("//")
                && !n.contains('\\')
                && n.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            n
        }
        _ => "/portal",
    }
}

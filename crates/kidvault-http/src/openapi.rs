//! The OpenAPI document, generated from the handlers' annotations. Served as JSON;
//! no UI bundle (those download assets at build time).

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

struct BearerSchemes;

impl Modify for BearerSchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, what) in [
            ("guardian", "guardian session token (kvs_...)"),
            ("device", "device token (kvd_...)"),
            ("staff", "staff session token (kva_..., from POST /api/v1/staff/sign-in with the key and a TOTP code)"),
        ] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some(what)).build()),
            );
        }
    }
}

/// The error responses the edge and the extractors can give any operation,
/// documented on every operation they apply to (added where the handler's own
/// annotation does not already describe that status).
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::ParameterIn;
        use utoipa::openapi::{Content, Ref, ResponseBuilder};
        for (path, item) in &mut openapi.paths.paths {
            for op in
                [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch].into_iter().flatten()
            {
                let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
                let params = op.parameters.as_deref().unwrap_or_default();
                let query = params.iter().any(|p| matches!(p.parameter_in, ParameterIn::Query));
                let body = op.request_body.is_some();
                let mut add = |status: &str, why: &str| {
                    if !op.responses.responses.contains_key(status) {
                        let error = Content::new(Some(Ref::from_schema_name("ErrorBody")));
                        let response = ResponseBuilder::new().description(why).content("application/json", error);
                        op.responses.responses.insert(status.to_owned(), response.build().into());
                    }
                };
                if secured {
                    add(
                        "401",
                        "`unauthenticated`: no token, or one that is not valid (expired, revoked, the wrong kind)",
                    );
                }
                if path.contains('{') {
                    add("404", "`not_found`: nothing by that id that this principal may see");
                }
                if body {
                    add("400", "`invalid_json` (not JSON) or `incomplete_body` (cut short)");
                    add("408", "`body_timeout`: the body arrived too slowly; nothing was stored");
                    add("413", "`payload_too_large`");
                    add("415", "`unsupported_media_type`: the wrong Content-Type");
                    add("422", "`invalid_body` or a field-specific code: the body does not have the expected shape");
                }
                if query {
                    add("422", "`invalid_query`: a query parameter is missing or malformed");
                }
                if secured || body {
                    add("507", "`insufficient_storage`: the storage is full; nothing was stored (see `/healthz`)");
                }
                add(
                    "500",
                    "`internal`: an unexpected failure (details only in the server's log); `store_damaged`: \
                     the data store's files are damaged (see `/healthz`)",
                );
                add("503", "`store_unavailable`: the data store does not answer; try again");
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "kidvault",
        description = "The children's data vault: verifiable parental consent, device ingest with lineage, \
                       encrypted storage, guardian review. Errors are `{\"error\":{\"code\",\"message\"}}`."
    ),
    paths(
        routes::healthz,
        routes::accounts::register,
        routes::accounts::sign_in,
        routes::accounts::sign_out,
        routes::accounts::list_sessions,
        routes::accounts::invite,
        routes::accounts::totp_begin,
        routes::accounts::set_time_zone,
        routes::accounts::totp_enable,
        routes::accounts::totp_disable,
        routes::accounts::accept_invite,
        routes::accounts::revoke_session,
        routes::children::create,
        routes::children::list,
        routes::children::get,
        routes::children::grant_consent,
        routes::children::consents,
        routes::children::withdraw_scope,
        routes::children::confirm_consent,
        routes::children::access_log,
        routes::disclosures::register,
        routes::disclosures::feed,
        routes::datasets::create,
        routes::datasets::preview,
        routes::datasets::manifest,
        routes::datasets::shard,
        routes::datasets::register,
        routes::datasets::resolve,
        routes::datasets::flagged,
        routes::devices::pair,
        routes::devices::revoke,
        routes::ingest::recording,
        routes::ingest::item,
        routes::ingest::location,
        routes::ingest::ephemeral,
        routes::items::list,
        routes::items::get,
        routes::items::content,
        routes::items::export,
        routes::deletions::item,
        routes::deletions::items,
        routes::deletions::child,
        routes::deletions::status,
        routes::deletions::receipt,
        routes::deletions::close_household,
        routes::ledger::activity,
        routes::ledger::checkpoint,
        routes::ledger::public_key,
        routes::ledger::entry,
        routes::ledger::proof,
        routes::ledger::consistency,
        routes::downstream::register,
        routes::downstream::list,
        routes::downstream::disable,
        routes::downstream::open_tasks,
        routes::downstream::ack,
        routes::notices::list,
        routes::staff::sign_in,
        routes::staff::sign_out,
        routes::staff::child,
        routes::staff::items,
        routes::staff::content_page,
        routes::staff::content,
        routes::staff::reviews,
        routes::staff::decide,
        routes::staff::denials,
        routes::staff::reload_policy,
        routes::staff::support_access,
        routes::staff::grant_support,
        routes::staff::revoke_support,
        routes::policy::retention,
        routes::policy::child_retention,
        routes::policy::set_child_retention,
        routes::policy::auto_delete,
        routes::pairing::code,
        routes::pairing::token,
        routes::policy::set_auto_delete,
    ),
    modifiers(&BearerSchemes, &CommonResponses)
)]
#[derive(Debug)]
pub struct ApiDoc;

/// The document as a pretty JSON string (also written to `docs/openapi.json`).
pub fn document() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}

pub(crate) async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

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
            ("staff", "staff token (kva_..., from `kidvault admin create`)"),
        ] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some(what)).build()),
            );
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
        routes::policy::retention,
        routes::policy::child_retention,
        routes::policy::set_child_retention,
    ),
    modifiers(&BearerSchemes)
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

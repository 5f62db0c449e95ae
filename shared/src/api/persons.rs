//! The full person view for staff, collectors and admins (`GET /api/v1/persons/{id_number}`).

use super::{ApiError, ApiResult, Env, Request};

/// `GET /api/v1/persons/{id_number}`: every field with provenance, schemes with history, flags,
/// open conflicts, duplicate candidates and change history; audited.
pub fn view(env: &Env, req: &Request) -> ApiResult {
    let _ = (env, req);
    Err(ApiError::not_found())
}

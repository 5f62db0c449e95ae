//! The registration component: routing only; every rule is in the `canbao` crate
//! (`canbao::api::registration::route`).

use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(request: Request) -> Response {
    canbao::spin_runtime::serve(request, canbao::api::registration::route)
}

//! The stats component: routing only; every rule is in the `canbao` crate
//! (`canbao::api::stats::route`).

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(request: IncomingRequest, out: ResponseOutparam) {
    canbao::spin_runtime::serve(request, out, canbao::api::stats::route).await
}

//! The lookup component: routing only; every rule is in the `canbao` crate
//! (`canbao::api::lookup::route`).

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(request: IncomingRequest, out: ResponseOutparam) {
    canbao::spin_runtime::serve(request, out, canbao::api::lookup::route).await
}

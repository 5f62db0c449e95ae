//! The intake component: department file upload over HTTP and scheduled processing through
//! Spin's cron trigger. Routing only; every rule is in the `canbao` crate.
//!
//! One component carries both exports (`wasi:http/incoming-handler` and `fermyon:spin-cron`'s
//! `handle-cron-event`), so the scheduled work runs with exactly the same code, stores and
//! variables as the upload routes.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

mod cron {
    wit_bindgen::generate!({ path: "../../wit/spin-cron", world: "spin-cron" });
}

#[http_component]
async fn handle(request: IncomingRequest, out: ResponseOutparam) {
    // Department files are read as a stream (issue #4); every other route gets its body whole.
    let streamed = Some(canbao::api::intake::STREAMED_UPLOAD);
    canbao::spin_runtime::serve_with(request, out, canbao::api::intake::route, streamed).await
}

struct Cron;

impl cron::Guest for Cron {
    fn handle_cron_event(metadata: cron::Metadata) -> Result<(), cron::Error> {
        canbao::spin_runtime::with_env(|env| canbao::api::intake::scheduled(env, metadata.timestamp))
            .map_err(|e| cron::Error::Other(canbao::redact::redact_log(&format!("{e:#}"))))
    }
}

cron::export!(Cron with_types_in cron);

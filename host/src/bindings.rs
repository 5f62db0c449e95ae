//! Host-side bindings generated from the WIT files: the Spin platform imports this host
//! implements (`wit/`) and the cron world components export (`../wit/spin-cron`).

wasmtime::component::bindgen!({
    path: "wit",
    world: "spin-imports",
    imports: { default: async | trappable },
    with: {
        "fermyon:spin/key-value.store": crate::kv::StoreHandle,
        "fermyon:spin/sqlite.connection": crate::sqlite::ConnectionHandle,
    },
});

/// The `fermyon:spin-cron@2.0.0` world exported by components with a cron trigger.
pub mod cron {
    wasmtime::component::bindgen!({
        path: "../wit/spin-cron",
        world: "spin-cron",
        exports: { default: async },
    });
}

//! What each component instance runs with: the per-component context fixed at start-up
//! ([`ComponentCtx`]), the per-instance store data ([`HostState`]), the shared engine and the
//! linker carrying WASI, wasi:http and the Spin interfaces.

use crate::bindings::SpinImports;
use crate::kv::KeyValueBackend;
use crate::logs::LogSink;
use crate::outbound::{AllowedHosts, OutboundHooks};
use crate::sqlite::Database;
use anyhow::{Context, Result};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// The stores and databases configured for the application, by label.
#[derive(Default)]
pub struct Services {
    /// Key-value stores.
    pub key_value: HashMap<String, Arc<dyn KeyValueBackend>>,
    /// SQLite databases.
    pub sqlite: HashMap<String, Arc<Database>>,
}

/// Everything about one component that is decided at start-up.
pub struct ComponentCtx {
    /// The component id.
    pub id: Arc<str>,
    /// Key-value labels it declared.
    pub key_value_stores: HashSet<String>,
    /// SQLite labels it declared.
    pub sqlite_databases: HashSet<String>,
    /// Its resolved variables.
    pub variables: HashMap<String, String>,
    /// Its `environment` from the manifest (empty unless declared, as in Spin).
    pub environment: Vec<(String, String)>,
    /// Its outbound allow-list.
    pub allowed_hosts: Arc<AllowedHosts>,
    /// Where its stdout goes.
    pub stdout: LogSink,
    /// Where its stderr goes.
    pub stderr: LogSink,
    /// The application's stores and databases.
    pub services: Arc<Services>,
}

/// The data of one instance's `Store`.
pub struct HostState {
    /// The component this instance belongs to.
    pub component: Arc<ComponentCtx>,
    /// Resources handed to the guest.
    pub table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: OutboundHooks,
}

impl HostState {
    /// Fresh state for a new instance of `component`: only its manifest environment, no
    /// preopens, no sockets.
    pub fn new(component: Arc<ComponentCtx>) -> HostState {
        let wasi = WasiCtx::builder()
            .envs(&component.environment)
            .stdout(component.stdout.clone())
            .stderr(component.stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let hooks = OutboundHooks {
            component: component.id.clone(),
            allowed: component.allowed_hosts.clone(),
        };
        HostState {
            component,
            table: ResourceTable::new(),
            wasi,
            http: WasiHttpCtx::new(),
            hooks,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// Bytes of an instance's memory reset in place (not unmapped) when the kernel reports which
/// pages were touched.
const KEEP_RESIDENT_SCANNED: usize = 16 << 20;
/// Bytes reset in place by overwriting the lowest addresses when it cannot.
const KEEP_RESIDENT_BLIND: usize = 256 << 10;

/// The process-wide engine: pooling allocator when the machine allows it, compile cache on disk.
pub fn engine() -> Result<Engine> {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    if let Some(e) = ENGINE.get() {
        return Ok(e.clone());
    }
    let mut config = Config::new();
    // Guest code yields to the runtime every epoch tick (see `yield_every_tick`), so a long
    // invocation (an intake chunk runs for seconds) does not hold up the requests queued behind
    // it on the same worker thread.
    config.epoch_interruption(true);
    // CANBAO_HOST_PERFMAP=1 writes /tmp/perf-<pid>.map, so `perf report` names the guest's
    // functions instead of showing one anonymous block of JIT code.
    if std::env::var_os("CANBAO_HOST_PERFMAP").is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    if let Some(cache) = disk_cache() {
        config.cache(Some(cache));
    }
    let mut pooled = config.clone();
    let mut pool = PoolingAllocationConfig::default();
    // A finished instance's memory is reset by overwriting the pages it touched instead of
    // unmapping them: an unmap in a multi-threaded process costs a TLB shootdown on every core,
    // and the next instance would fault each page in again, per request. Where the kernel can
    // say which pages were touched (PAGEMAP_SCAN, Linux 6.7+), only those are overwritten, so
    // the whole working set of a request (stack, data, heap: a few MiB) stays mapped. Elsewhere
    // only the lowest addresses can be overwritten blindly, which pays for itself only in a
    // small range.
    let scan = PoolingAllocationConfig::is_pagemap_scan_available();
    let keep_resident = if scan { KEEP_RESIDENT_SCANNED } else { KEEP_RESIDENT_BLIND };
    pool.total_component_instances(1000)
        .total_core_instances(1000)
        .total_memories(1000)
        .total_tables(1000)
        .pagemap_scan(if scan { Enabled::Yes } else { Enabled::No })
        .linear_memory_keep_resident(keep_resident)
        .table_keep_resident(1 << 16);
    pooled.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    // CANBAO_HOST_NO_POOLING=1 turns the pool off (to compare, or where address space is scarce).
    let engine = match std::env::var_os("CANBAO_HOST_NO_POOLING") {
        Some(_) => Engine::new(&config)?,
        None => match Engine::new(&pooled) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("canbao-host: pooling allocator unavailable ({e}); allocating instances on demand");
                Engine::new(&config)?
            }
        },
    };
    let engine = ENGINE.get_or_init(|| engine).clone();
    start_epoch_ticker(&engine);
    Ok(engine)
}

/// How often guest code yields to the runtime.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Advances the engine's epoch every [`EPOCH_TICK`] on a thread of its own, for as long as the
/// process runs (once per process).
fn start_epoch_ticker(engine: &Engine) {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("canbao-host-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .expect("the epoch thread starts");
    });
}

/// Makes a store's guest yield to the async runtime at each epoch tick, then carry on.
pub fn yield_every_tick<T>(store: &mut wasmtime::Store<T>) {
    store.set_epoch_deadline(1);
    store.epoch_deadline_async_yield_and_update(1);
}

fn disk_cache() -> Option<wasmtime::Cache> {
    let dir = std::env::var_os("CANBAO_HOST_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/canbao-host")))?;
    let mut cc = wasmtime::CacheConfig::new();
    cc.with_directory(dir);
    wasmtime::Cache::new(cc).ok()
}

/// Compiles the component at `path`, reusing an earlier compilation of the same file.
pub fn compile(engine: &Engine, path: &Path) -> Result<Component> {
    type Key = (PathBuf, u64, Option<SystemTime>);
    static COMPILED: OnceLock<Mutex<HashMap<Key, Component>>> = OnceLock::new();
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    let key = (path.to_path_buf(), meta.len(), meta.modified().ok());
    let memo = COMPILED.get_or_init(Default::default);
    if let Some(c) = memo.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(c.clone());
    }
    let component = Component::from_file(engine, path)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("cannot load the component {}", path.display()))?;
    memo.lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, component.clone());
    Ok(component)
}

/// The linker every component is instantiated with.
pub fn linker(engine: &Engine) -> Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    SpinImports::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
    Ok(linker)
}

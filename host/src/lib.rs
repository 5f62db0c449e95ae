//! canbao-host: runs a Spin application (`spin.toml`, manifest v2) locally on wasmtime, the way
//! `spin up` does where the application can tell: HTTP and cron triggers, key-value, SQLite,
//! variables, outbound HTTP allow-lists and component logs.
//!
//! [`start`] is the whole host: the CLI (`canbao-host up`) and the tests both call it.
#![warn(missing_docs)]

#[allow(missing_docs)]
pub mod bindings;
pub mod cron;
pub mod kv;
pub mod kv_redis;
pub mod logs;
pub mod manifest;
pub mod outbound;
pub mod routing;
pub mod runtime_config;
pub mod server;
pub mod sqlite;
pub mod state;
pub mod variables;

use anyhow::{Context, Result};
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;

use crate::kv::{KeyValueBackend, SqliteKeyValue};
use crate::logs::{LogSink, Stream};
use crate::manifest::App;
use crate::outbound::AllowedHosts;
use crate::runtime_config::{Backend, RuntimeConfig};
use crate::server::{HttpComponent, HttpRouter};
use crate::sqlite::Database;
use crate::state::{ComponentCtx, Services};

/// How to run an application (the flags of `canbao-host up`).
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Path of `spin.toml`.
    pub manifest: PathBuf,
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Directory for `sqlite_key_value.db`, `sqlite_db.db` and `logs/`.
    pub state_dir: PathBuf,
    /// Optional runtime config file (extra stores and databases).
    pub runtime_config: Option<PathBuf>,
    /// `SPIN_VARIABLE_*` values taking precedence over the process environment.
    pub env: Vec<(String, String)>,
    /// Do not echo component output to the console (log files are still written).
    pub quiet: bool,
}

impl UpOptions {
    /// Options for `manifest` on an ephemeral loopback port with state in `state_dir`.
    pub fn new(manifest: impl Into<PathBuf>, state_dir: impl Into<PathBuf>) -> UpOptions {
        UpOptions {
            manifest: manifest.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            state_dir: state_dir.into(),
            runtime_config: None,
            env: Vec::new(),
            quiet: false,
        }
    }
}

/// A running application; dropping it stops it too.
pub struct RunningApp {
    addr: SocketAddr,
    banner: String,
    shutdown: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RunningApp {
    /// The address actually listened on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What `spin up` prints at start: the address and every route.
    pub fn banner(&self) -> &str {
        &self.banner
    }

    /// Stops accepting, lets in-flight requests and cron ticks finish (bounded), and returns
    /// when everything has stopped.
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RunningApp {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

/// Loads, checks and compiles the application, starts listening, and returns once it serves.
pub fn start(opts: UpOptions) -> Result<RunningApp> {
    let app = manifest::load(&opts.manifest)?;
    let resolver = variables::Resolver::new(&app, &opts.env)?;
    let runtime_config = match &opts.runtime_config {
        Some(p) => RuntimeConfig::load(p)?,
        None => RuntimeConfig::default(),
    };
    let log_dir = opts.state_dir.join("logs");
    std::fs::create_dir_all(&log_dir)
        .with_context(|| format!("cannot create the state directory {}", log_dir.display()))?;
    let services = Arc::new(open_services(&app, &runtime_config, &opts.state_dir)?);

    let engine = state::engine()?;
    let linker = state::linker(&engine)?;
    let http_ids: BTreeSet<&str> = app
        .http_triggers
        .iter()
        .map(|t| t.component.as_str())
        .collect();
    let cron_ids: BTreeSet<&str> = app
        .cron_triggers
        .iter()
        .map(|t| t.component.as_str())
        .collect();

    let mut http_components: HashMap<&str, Arc<HttpComponent>> = HashMap::new();
    let mut cron_pres = HashMap::new();
    for id in http_ids.union(&cron_ids) {
        let def = &app.components[*id];
        let ctx = Arc::new(component_ctx(
            def,
            &resolver,
            &services,
            &log_dir,
            !opts.quiet,
        )?);
        let component = state::compile(&engine, &def.source)?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!("component `{id}` needs imports this host does not provide")
            })?;
        if http_ids.contains(id) {
            let proxy = wasmtime_wasi_http::p2::bindings::ProxyPre::new(pre.clone()).map_err(anyhow::Error::from).with_context(|| {
                format!("component `{id}` has an HTTP trigger but does not export wasi:http/incoming-handler@0.2.x")
            })?;
            http_components.insert(
                id,
                Arc::new(HttpComponent {
                    pre: proxy,
                    ctx: ctx.clone(),
                }),
            );
        }
        if cron_ids.contains(id) {
            let cron = bindings::cron::SpinCronPre::new(pre).map_err(anyhow::Error::from).with_context(|| {
                format!("component `{id}` has a cron trigger but does not export handle-cron-event (fermyon:spin-cron@2.0.0)")
            })?;
            cron_pres.insert(*id, (cron, ctx));
        }
    }

    let router: Arc<HttpRouter> = Arc::new(routing::Router::new(
        app.http_triggers
            .iter()
            .map(|t| {
                (
                    t.route.clone(),
                    http_components[t.component.as_str()].clone(),
                )
            })
            .collect(),
    ));
    let mut cron_jobs = Vec::new();
    for t in &app.cron_triggers {
        let (pre, ctx) = &cron_pres[t.component.as_str()];
        cron_jobs.push(cron::CronJob {
            schedule: cron::parse_schedule(&t.cron_expression)?,
            expression: t.cron_expression.clone(),
            pre: pre.clone(),
            component: ctx.clone(),
        });
    }

    // SQLite and local key-value calls run in place on the workers (see sqlite.rs): twice as many
    // workers as cores keep requests moving while a long query holds one.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads((cores * 2).max(4))
        .enable_all()
        .thread_name("canbao-host-worker")
        .build()?;
    let bound = {
        let _in_runtime = runtime.enter();
        listen(opts.listen)
    };
    let listener = match bound {
        Ok(l) => l,
        Err(e) => {
            // Dropping a runtime blocks, which panics if the caller is itself async.
            runtime.shutdown_background();
            return Err(anyhow::Error::from(e).context(format!("cannot listen on {}", opts.listen)));
        }
    };
    let addr = listener.local_addr()?;
    let banner = banner(&app, addr);

    let (shutdown, shutdown_rx) = watch::channel(false);
    let thread = std::thread::Builder::new()
        .name("canbao-host".into())
        .spawn(move || {
            runtime.block_on(async move {
                let mut crons = tokio::task::JoinSet::new();
                for job in cron_jobs {
                    crons.spawn(job.run(shutdown_rx.clone()));
                }
                server::serve(listener, router, shutdown_rx).await;
                let all_done = async { while crons.join_next().await.is_some() {} };
                let _ = tokio::time::timeout(server::SHUTDOWN_GRACE, all_done).await;
            });
            runtime.shutdown_timeout(std::time::Duration::from_secs(1));
        })?;
    Ok(RunningApp {
        addr,
        banner,
        shutdown,
        thread: Some(thread),
    })
}

/// Binds with a backlog deep enough for bursts of new connections (std's default is 128).
fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

fn component_ctx(
    def: &manifest::ComponentDef,
    resolver: &variables::Resolver,
    services: &Arc<Services>,
    log_dir: &Path,
    echo: bool,
) -> Result<ComponentCtx> {
    let id = def.id.as_str();
    let variables = resolver
        .component_values(&def.variables)
        .with_context(|| format!("[component.{id}.variables]"))?;
    let hosts = def
        .allowed_outbound_hosts
        .iter()
        .map(|t| resolver.expand(t))
        .collect::<Result<Vec<_>>>()
        .with_context(|| format!("component `{id}`: allowed_outbound_hosts"))?;
    let allowed_hosts = AllowedHosts::parse(&hosts).with_context(|| format!("component `{id}`"))?;
    for label in &def.key_value_stores {
        if !services.key_value.contains_key(label) {
            eprintln!("canbao-host: component `{id}` declares key-value store `{label}`, which is not configured; opening it fails with no-such-store");
        }
    }
    for label in &def.sqlite_databases {
        if !services.sqlite.contains_key(label) {
            eprintln!("canbao-host: component `{id}` declares SQLite database `{label}`, which is not configured; opening it fails with no-such-database");
        }
    }
    Ok(ComponentCtx {
        id: id.into(),
        key_value_stores: def.key_value_stores.iter().cloned().collect(),
        sqlite_databases: def.sqlite_databases.iter().cloned().collect(),
        variables,
        environment: def.environment.clone().into_iter().collect(),
        allowed_hosts: Arc::new(allowed_hosts),
        stdout: LogSink::new(id, Stream::Stdout, Some(log_dir), echo)?,
        stderr: LogSink::new(id, Stream::Stderr, Some(log_dir), echo)?,
        services: services.clone(),
    })
}

/// Opens the `default` store and database in `state_dir` plus those of the runtime config,
/// for every label some component declares.
fn open_services(app: &App, rc: &RuntimeConfig, state_dir: &Path) -> Result<Services> {
    let mut services = Services::default();
    let kv_labels: BTreeSet<&String> = app
        .components
        .values()
        .flat_map(|c| &c.key_value_stores)
        .collect();
    for label in kv_labels {
        let backend: Option<Arc<dyn KeyValueBackend>> = match rc.key_value_stores.get(label) {
            Some(Backend::Spin { path }) => {
                Some(Arc::new(SqliteKeyValue::open(label, path.as_deref())?))
            }
            Some(Backend::Redis { url }) => {
                Some(Arc::new(kv_redis::RedisKeyValue::open(label, url)?))
            }
            None if label == "default" => Some(Arc::new(SqliteKeyValue::open(
                label,
                Some(&state_dir.join("sqlite_key_value.db")),
            )?)),
            None => None,
        };
        if let Some(b) = backend {
            services.key_value.insert(label.clone(), b);
        }
    }
    let db_labels: BTreeSet<&String> = app
        .components
        .values()
        .flat_map(|c| &c.sqlite_databases)
        .collect();
    for label in db_labels {
        let db = match rc.sqlite_databases.get(label) {
            Some(Backend::Spin { path: Some(p) }) => Some(Database::file(p.clone())?),
            Some(Backend::Spin { path: None }) => Some(Database::memory(label)?),
            Some(Backend::Redis { .. }) => {
                anyhow::bail!("[sqlite_database.{label}]: Redis is a key-value backend")
            }
            None if label == "default" => Some(Database::file(state_dir.join("sqlite_db.db"))?),
            None => None,
        };
        if let Some(db) = db {
            services.sqlite.insert(label.clone(), Arc::new(db));
        }
    }
    Ok(services)
}

fn banner(app: &App, addr: SocketAddr) -> String {
    let mut out = format!("Serving http://{addr}\n");
    if !app.http_triggers.is_empty() {
        out.push_str("Available Routes:\n");
        for t in &app.http_triggers {
            let wildcard = if t.route.is_wildcard() {
                " (wildcard)"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "  {}: http://{addr}{}{wildcard}",
                t.component,
                t.route.base()
            );
        }
    }
    if !app.cron_triggers.is_empty() {
        out.push_str("Cron Jobs:\n");
        for t in &app.cron_triggers {
            let _ = writeln!(out, "  {}: {}", t.component, t.cron_expression);
        }
    }
    out
}

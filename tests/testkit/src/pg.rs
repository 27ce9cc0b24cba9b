//! Fresh PostgreSQL databases for tests (DESIGN §5): `DATABASE_URL` if set, else the server on
//! 127.0.0.1:5432. Each call creates a uniquely named database; `Drop` removes it.
//!
//! [`PrivatePg`] is a whole throwaway cluster (initdb into a temp dir, own port) for tests that
//! stop and restart PostgreSQL under a running service; [`PgProxy`] sits between a service and
//! PostgreSQL and can cut every connection.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use anyhow::{bail, Context};
use sqlx::Connection;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The server's admin URL.
pub fn server_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database that exists for the lifetime of this value.
pub struct TestDb {
    pub name: String,
    pub url: String,
    admin_url: String,
}

impl TestDb {
    pub async fn create(label: &str) -> anyhow::Result<TestDb> {
        static N: AtomicU32 = AtomicU32::new(0);
        let admin_url = server_url();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let label: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        let name = format!(
            "llmfw_{label}_{}_{}_{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut conn = sqlx::PgConnection::connect(&admin_url)
            .await
            .with_context(|| {
                format!(
                    "connecting to PostgreSQL at {} (set DATABASE_URL)",
                    redact(&admin_url)
                )
            })?;
        // A database name cannot be a bind parameter; `name` is built above from [a-z0-9_] only.
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await?;
        let url = with_database(&admin_url, &name);
        Ok(TestDb {
            name,
            url,
            admin_url,
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs outside any runtime guarantee: use a small runtime of its own on a thread.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

/// `url` with its database (the last path segment) replaced by `name`; the query string is kept.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map(|(b, q)| (b, format!("?{q}")))
        .unwrap_or((url, String::new()));
    let authority_start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    format!("{base}/{name}{query}")
}

/// The `host:port` a URL's authority names (port 5432 if none), e.g. to put a proxy in front.
pub fn host_port(url: &str) -> Option<String> {
    let rest = &url[url.find("://")? + 3..];
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if hostport.is_empty() {
        return None;
    }
    Some(if hostport.contains(':') {
        hostport.to_owned()
    } else {
        format!("{hostport}:5432")
    })
}

/// `url` with its `host:port` replaced by `addr`; user, database and query are kept.
pub fn with_host_port(url: &str, addr: &str) -> Option<String> {
    let start = url.find("://")? + 3;
    let rest = &url[start..];
    let end = start + rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &url[start..end];
    let user = authority.rsplit_once('@').map(|(u, _)| format!("{u}@"));
    Some(format!(
        "{}{}{addr}{}",
        &url[..start],
        user.unwrap_or_default(),
        &url[end..]
    ))
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// A private PostgreSQL cluster: `initdb` into a fresh temp dir, served on its own loopback port
/// with trust auth (user `postgres`, database `postgres`). [`PrivatePg::stop`] and
/// [`PrivatePg::start`] (fast shutdown, restart on the same port and data) let a test take the
/// database away from a running service. `Drop` stops the server (immediate) and removes the dir.
///
/// Binaries: `LLMFW_PG_BINDIR`, else the newest `/usr/lib/postgresql/*/bin`, else `PATH`. initdb
/// and postgres refuse to run as root: as root the cluster runs as the `postgres` user (via
/// `runuser`, or `setpriv` where runuser is missing) and the dir is chowned to it.
pub struct PrivatePg {
    /// The server's port on 127.0.0.1.
    pub port: u16,
    dir: PathBuf,
    bindir: Option<PathBuf>,
    run_as: Option<String>,
}

impl PrivatePg {
    /// Creates the cluster and starts the server.
    pub fn start_new() -> anyhow::Result<PrivatePg> {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        // short: the unix socket path (dir/.s.PGSQL.port) must stay under ~100 bytes
        let dir = std::env::temp_dir().join(format!(
            "llmfw-pg-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)?;
        let mut pg = PrivatePg {
            port: crate::paths::free_port()?,
            dir,
            bindir: pg_bindir(),
            run_as: None,
        };
        if is_root() {
            let user = std::env::var("LLMFW_PG_USER").unwrap_or_else(|_| "postgres".to_owned());
            let status = Command::new("chown")
                .arg("-R")
                .arg(&user)
                .arg(&pg.dir)
                .status()
                .context("running chown")?;
            if !status.success() {
                bail!(
                    "running as root: cannot chown {} to user {user:?} (create it or set LLMFW_PG_USER)",
                    pg.dir.display()
                );
            }
            pg.run_as = Some(user);
        }
        let data = pg.data_dir();
        pg.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--auth=trust".as_ref(),
                "--no-sync".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--locale=C".as_ref(),
            ],
        )?;
        pg.start()?;
        Ok(pg)
    }

    /// The admin URL (database `postgres`).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server and waits until it accepts connections (at most 30 s).
    pub fn start(&self) -> anyhow::Result<()> {
        let data = self.data_dir();
        let log = self.dir.join("postgres.log");
        // fsync=off: nothing here survives an OS crash anyway; a fast shutdown still checkpoints
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-t".as_ref(),
                "30".as_ref(),
                "-o".as_ref(),
                opts.as_ref(),
                "start".as_ref(),
            ],
        )
    }

    /// Stops the server with a fast shutdown (sessions terminated, in-flight transactions rolled
    /// back) and waits until it is gone.
    pub fn stop(&self) -> anyhow::Result<()> {
        self.pg_ctl_stop("fast")
    }

    /// The server log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default()
    }

    fn pg_ctl_stop(&self, mode: &str) -> anyhow::Result<()> {
        let data = self.data_dir();
        self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                mode.as_ref(),
                "-w".as_ref(),
                "-t".as_ref(),
                "30".as_ref(),
                "stop".as_ref(),
            ],
        )
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Runs a PostgreSQL tool (as the cluster's user) to completion; output goes to `ctl.log`.
    fn run(&self, tool: &str, args: &[&std::ffi::OsStr]) -> anyhow::Result<()> {
        let program = match &self.bindir {
            Some(b) => b.join(tool),
            None => PathBuf::from(tool),
        };
        let mut cmd = match &self.run_as {
            None => Command::new(&program),
            Some(user) if Path::new("/usr/sbin/runuser").exists() || on_path("runuser") => {
                let mut c = Command::new("runuser");
                c.arg("-u").arg(user).arg("--").arg(&program);
                c
            }
            Some(user) => {
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={user}"))
                    .arg(format!("--regid={user}"))
                    .arg("--init-groups")
                    .arg(&program);
                c
            }
        };
        let log_path = self.dir.join("ctl.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let status = cmd
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .status()
            .with_context(|| format!("running {}", program.display()))?;
        if !status.success() {
            bail!(
                "{tool} failed ({status}):\n{}\n--- postgres.log ---\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default(),
                self.log_text()
            );
        }
        Ok(())
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        if self.data_dir().join("postmaster.pid").exists() {
            let _ = self.pg_ctl_stop("immediate");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn pg_bindir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("LLMFW_PG_BINDIR") {
        return Some(PathBuf::from(d));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, b)| b)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

/// A TCP proxy in front of PostgreSQL that can be cut (live connections closed, new ones refused)
/// and restored on the same port.
pub struct PgProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    upstream: String,
    accept: Mutex<Option<JoinHandle<()>>>,
    generation: watch::Sender<u64>,
}

impl PgProxy {
    /// Listens on a free loopback port and forwards to `upstream` (`host:port`).
    pub async fn start(upstream: String) -> std::io::Result<PgProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let proxy = PgProxy {
            addr,
            upstream,
            accept: Mutex::new(None),
            generation: watch::channel(0).0,
        };
        proxy.serve(listener);
        Ok(proxy)
    }

    fn serve(&self, listener: TcpListener) {
        let upstream = self.upstream.clone();
        let generation = self.generation.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut down, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let mut cut = generation.subscribe();
                tokio::spawn(async move {
                    let Ok(mut up) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut down, &mut up) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        *self.accept.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
    }

    /// Closes every live connection and stops listening (new connections are refused).
    pub fn cut(&self) {
        if let Some(t) = self.accept.lock().unwrap_or_else(|e| e.into_inner()).take() {
            t.abort();
        }
        self.generation.send_modify(|g| *g += 1);
    }

    /// Listens again on the same port.
    pub async fn restore(&self) -> std::io::Result<()> {
        let listener = TcpListener::bind(self.addr).await?;
        self.serve(listener);
        Ok(())
    }
}

impl Drop for PgProxy {
    fn drop(&mut self) {
        self.cut();
    }
}

//! The shared backend: PostgreSQL, for replicas of `assay serve` that share
//! one database (`[storage] url = "postgres://…"`).
//!
//! - Reads go through a small pool (deadpool-postgres), each on its own
//!   connection, with prepared statements cached per connection.
//! - Writes keep the embedded backend's promise: queued one after another,
//!   they commit in that order. One writer task takes every job waiting (up
//!   to [`BATCH`]) into one transaction, as SQLite's writer does; a job whose
//!   statement fails is retried alone, so its failure stays its own.
//! - While the database is unreachable a write that someone waits for fails
//!   with [`StoreError::Unavailable`] after one more attempt (the API answers
//!   503, and the client still holds what it sent), and a write nobody waits
//!   for (a probe result, a history row) is held, in order, and written when
//!   the database is back: up to [`HELD_MAX`] jobs, past which the oldest are
//!   dropped and counted in the log. Jobs queued after held ones wait behind
//!   them, so the order of commits never changes. Held writes are retried
//!   every second at most, and at once when a waited write arrives.
//! - Migrations run under an advisory lock, so replicas starting together
//!   apply each one once.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::error::Error as StdError;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::{Mutex, mpsc};
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use super::value::{Answer, Row, Stmt, Value, dollar_placeholders};
use super::{StoreError, schema, writer::Job};

/// Most jobs one transaction takes.
const BATCH: usize = 512;
/// Most writes held while the database is unreachable.
const HELD_MAX: usize = 100_000;
/// How long a connection attempt may take before the database counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Connections in the pool (reads, the writer, leases).
const POOL_SIZE: usize = 8;
/// The advisory lock key migrations run under (`assay` in ASCII).
const MIGRATION_LOCK: i64 = 0x61_73_73_61_79;

pub(super) struct Postgres {
    pool: Pool,
    /// `postgres://user@host:port/db`, without the password.
    pub(super) display: String,
    jobs: std::sync::Mutex<Option<mpsc::UnboundedSender<Job>>>,
    writer: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Asks the database every second whether it is there ([`ping`]).
    pinger: tokio::task::JoinHandle<()>,
    /// Whether the database answered the last write, read or ping.
    pub(super) healthy: Arc<AtomicBool>,
}

impl Postgres {
    /// Connects, brings the schema up to date and starts the writer.
    pub(super) async fn open(url: &str) -> Result<Postgres, StoreError> {
        let parsed = super::pg_tls::parse(url)?;
        let tls = parsed.connector()?;
        let mut config = parsed.config;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.application_name("assay");
        let display = display(&config);
        let manager = Manager::from_config(
            config,
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(CONNECT_TIMEOUT))
            .wait_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(|e| StoreError::Config(format!("cannot build the connection pool: {e}")))?;
        {
            let client = pool.get().await.map_err(|e| {
                StoreError::Unavailable(format!("cannot connect to {display}: {}", pool_error(&e)))
            })?;
            migrate(&client).await?;
        }
        let healthy = Arc::new(AtomicBool::new(true));
        let (tx, rx) = mpsc::unbounded_channel();
        let writer = Writer {
            pool: pool.clone(),
            healthy: healthy.clone(),
            held: VecDeque::new(),
        };
        let handle = tokio::spawn(writer.run(rx));
        let pinger = tokio::spawn(ping(pool.clone(), healthy.clone()));
        Ok(Postgres {
            pool,
            display,
            jobs: std::sync::Mutex::new(Some(tx)),
            writer: Mutex::new(Some(handle)),
            pinger,
            healthy,
        })
    }

    pub(super) fn send(&self, job: Job) -> Result<(), StoreError> {
        let jobs = self.jobs.lock().expect("store lock poisoned");
        let sender = jobs.as_ref().ok_or(StoreError::Closed)?;
        sender.send(job).map_err(|_| StoreError::Closed)
    }

    /// Runs a query on a pooled connection.
    pub(super) async fn query(
        &self,
        sql: Cow<'static, str>,
        args: Vec<Value>,
    ) -> Result<Vec<Row>, StoreError> {
        let result = async {
            let client = self.pool.get().await.map_err(|e| {
                StoreError::Unavailable(format!("cannot reach the database: {}", pool_error(&e)))
            })?;
            let st = client
                .prepare_cached(&dollar_placeholders(&sql))
                .await
                .map_err(pg_error)?;
            let params: Vec<&(dyn ToSql + Sync)> =
                args.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
            let rows = client.query(&st, &params).await.map_err(pg_error)?;
            rows.iter().map(row).collect()
        }
        .await;
        self.note(&result);
        result
    }

    fn note<T>(&self, result: &Result<T, StoreError>) {
        match result {
            Ok(_) => self.healthy.store(true, Ordering::Relaxed),
            Err(StoreError::Unavailable(_)) => self.healthy.store(false, Ordering::Relaxed),
            Err(_) => {}
        }
    }

    /// Finishes queued writes (while the database answers) and stops the writer.
    pub(super) async fn close(&self) {
        self.pinger.abort();
        drop(self.jobs.lock().expect("store lock poisoned").take());
        if let Some(h) = self.writer.lock().await.take()
            && h.await.is_err()
        {
            tracing::error!("store: the writer task panicked");
        }
        self.pool.close();
        self.healthy.store(false, Ordering::Relaxed);
    }
}

/// Every second, `SELECT 1`: `/ready` fails within about a second of the
/// database going away even when nothing is being written, and passes again
/// once it answers.
async fn ping(pool: Pool, healthy: Arc<AtomicBool>) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let answer = tokio::time::timeout(CONNECT_TIMEOUT, async {
            let client = pool.get().await.map_err(|e| pool_error(&e))?;
            client
                .simple_query("SELECT 1")
                .await
                .map_err(|e| pg_text(&e))
        })
        .await
        .unwrap_or_else(|_| Err("no answer within 3 s".into()));
        let was = healthy.swap(answer.is_ok(), Ordering::Relaxed);
        match answer {
            Err(e) if was => tracing::error!("store: the database does not answer: {e}"),
            Ok(_) if !was => tracing::info!("store: the database answers again"),
            _ => {}
        }
    }
}

/// `postgres://user@host:port/db`: where the store is, for logs and `/health`.
fn display(c: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let host = match c.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = c.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        c.get_user().unwrap_or(""),
        c.get_dbname().unwrap_or("")
    )
}

/// Brings the schema up to date, under an advisory lock held for the session.
async fn migrate(client: &deadpool_postgres::Object) -> Result<(), StoreError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg_error)?;
    let result = migrate_locked(client).await;
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    result?;
    unlocked.map_err(pg_error)?;
    Ok(())
}

async fn migrate_locked(client: &deadpool_postgres::Object) -> Result<(), StoreError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS assay_schema (version BIGINT NOT NULL);
             INSERT INTO assay_schema (version)
               SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM assay_schema);",
        )
        .await
        .map_err(pg_error)?;
    let current: i64 = client
        .query_one("SELECT version FROM assay_schema", &[])
        .await
        .map_err(pg_error)?
        .get(0);
    let current = current.max(0) as usize;
    schema::check_version(current, schema::POSTGRES.len())?;
    for (i, sql) in schema::POSTGRES.iter().enumerate().skip(current) {
        let version = (i + 1) as i64;
        client
            .batch_execute(&format!(
                "BEGIN; {sql}; UPDATE assay_schema SET version = {version}; COMMIT;"
            ))
            .await
            .map_err(|e| {
                StoreError::Postgres(format!("migration {version} failed: {}", pg_text(&e)))
            })?;
        tracing::info!("store: applied migration {version}");
    }
    Ok(())
}

/// The writer task.
struct Writer {
    pool: Pool,
    healthy: Arc<AtomicBool>,
    /// Writes nobody waits for, kept while the database was unreachable.
    held: VecDeque<Job>,
}

impl Writer {
    async fn run(mut self, mut jobs: mpsc::UnboundedReceiver<Job>) {
        let mut retry = Duration::from_millis(100);
        loop {
            // Held writes go first: order of commits is kept.
            if !self.held.is_empty() {
                let batch: Vec<Job> = self.held.drain(..self.held.len().min(BATCH)).collect();
                match self.write(batch).await {
                    Ok(()) => {
                        retry = Duration::from_millis(100);
                        continue;
                    }
                    Err(()) => {
                        // Still unreachable: hold new writes until it is time to
                        // try again, or until someone waits for one (then try
                        // at once: the database may be back).
                        let until = tokio::time::Instant::now() + retry;
                        retry = (retry * 2).min(Duration::from_secs(1));
                        while let Ok(Some(job)) = tokio::time::timeout_at(until, jobs.recv()).await
                        {
                            let waited = job.1.is_some();
                            self.held.push_back(job);
                            self.trim();
                            if waited {
                                break;
                            }
                        }
                        if jobs.is_closed() && jobs.is_empty() {
                            tracing::error!(
                                "store: closing with {} write(s) the database never took",
                                self.held.len()
                            );
                            return;
                        }
                        continue;
                    }
                }
            }
            let Some(first) = jobs.recv().await else {
                break;
            };
            let mut batch = vec![first];
            while batch.len() < BATCH {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            let _ = self.write(batch).await;
        }
        tracing::debug!("store: writer stopped");
    }

    /// Writes `batch` in one transaction, or job by job when one fails. On
    /// `Err` the database is unreachable: waited jobs were failed, the rest held.
    async fn write(&mut self, batch: Vec<Job>) -> Result<(), ()> {
        match self.transaction(&batch).await {
            Ok(results) => {
                self.healthy.store(true, Ordering::Relaxed);
                for (job, r) in batch.into_iter().zip(results) {
                    job.reply(r);
                }
                Ok(())
            }
            Err(e) if is_unreachable(&e) => {
                self.unreachable(batch, &e);
                Err(())
            }
            Err(_) => {
                // One job's statement failed and took the transaction with it:
                // each job alone, so that only that one fails.
                let mut rest = batch.into_iter();
                while let Some(job) = rest.next() {
                    match self.transaction(std::slice::from_ref(&job)).await {
                        Ok(mut r) => job.reply(r.pop().unwrap_or(Ok(Vec::new()))),
                        Err(e) if is_unreachable(&e) => {
                            let left: Vec<Job> = std::iter::once(job).chain(rest).collect();
                            self.unreachable(left, &e);
                            return Err(());
                        }
                        Err(e) => {
                            tracing::error!("store: write failed: {}", describe(&e));
                            job.reply(Err(StoreError::Postgres(describe(&e))));
                        }
                    }
                }
                self.healthy.store(true, Ordering::Relaxed);
                Ok(())
            }
        }
    }

    fn unreachable(&mut self, batch: Vec<Job>, e: &Failure) {
        if self.healthy.swap(false, Ordering::Relaxed) {
            tracing::error!("store: the database is unreachable: {}", describe(e));
        }
        let reason = format!("the database is unreachable: {}", describe(e));
        // Back at the front, in their order, ahead of anything held later;
        // then everyone waiting, wherever in the queue, is answered now.
        for job in batch.into_iter().rev() {
            self.held.push_front(job);
        }
        let (waited, kept): (VecDeque<Job>, VecDeque<Job>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|j| j.1.is_some());
        self.held = kept;
        for job in waited {
            job.reply(Err(StoreError::Unavailable(reason.clone())));
        }
        self.trim();
    }

    fn trim(&mut self) {
        if self.held.len() > HELD_MAX {
            let over = self.held.len() - HELD_MAX;
            self.held.drain(..over);
            tracing::error!(
                "store: dropped the {over} oldest write(s) held while the database is unreachable"
            );
        }
    }

    /// One transaction for `jobs`; answers each job's statements' answers.
    async fn transaction(
        &self,
        jobs: &[Job],
    ) -> Result<Vec<Result<Vec<Answer>, StoreError>>, Failure> {
        let mut client = self.pool.get().await.map_err(Failure::Pool)?;
        let tx = client.transaction().await.map_err(Failure::Pg)?;
        // Every statement prepared first (cached per connection), then all of
        // them sent at once, in order: one round trip for the batch instead
        // of one per statement. (tokio-postgres sends a request when its
        // future is first polled, and `try_join_all` polls them in order.)
        let stmts: Vec<(&Stmt, String)> = (jobs.iter().flat_map(|j| &j.0))
            .map(|s| (s, dollar_placeholders(&s.sql)))
            .collect();
        let mut prepared: HashMap<&str, tokio_postgres::Statement> = HashMap::new();
        for (_, sql) in &stmts {
            if let std::collections::hash_map::Entry::Vacant(e) = prepared.entry(sql.as_str()) {
                let st = tx.prepare_cached(sql).await.map_err(Failure::Pg)?;
                e.insert(st);
            }
        }
        // A guard already passed in this transaction holds for the rest of it.
        let mut guards = std::collections::HashSet::new();
        let tx_ref = &tx;
        let runs = (stmts.iter()).map(|(s, sql)| {
            let again = s.guard && !guards.insert((sql.as_str(), format!("{:?}", s.args)));
            let st = prepared[sql.as_str()].clone();
            async move {
                if again {
                    return Ok(Answer {
                        count: 1,
                        rows: Vec::new(),
                    });
                }
                run(tx_ref, st, s).await
            }
        });
        let mut answers = futures_util::future::try_join_all(runs).await?.into_iter();
        tx.commit().await.map_err(Failure::Pg)?;
        Ok(jobs
            .iter()
            .map(|j| Ok(answers.by_ref().take(j.0.len()).collect()))
            .collect())
    }
}

async fn run(
    tx: &deadpool_postgres::Transaction<'_>,
    st: tokio_postgres::Statement,
    s: &Stmt,
) -> Result<Answer, Failure> {
    let params: Vec<&(dyn ToSql + Sync)> =
        s.args.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
    if s.returning {
        let rows = tx.query(&st, &params).await.map_err(Failure::Pg)?;
        let rows = rows.iter().map(row).collect::<Result<_, _>>();
        Ok(Answer::returned(rows.map_err(Failure::Decode)?))
    } else {
        Ok(Answer {
            count: tx.execute(&st, &params).await.map_err(Failure::Pg)? as i64,
            rows: Vec::new(),
        })
    }
}

/// Why a transaction did not commit.
enum Failure {
    Pool(deadpool_postgres::PoolError),
    Pg(tokio_postgres::Error),
    Decode(StoreError),
}

fn describe(e: &Failure) -> String {
    match e {
        Failure::Pool(e) => pool_error(e),
        Failure::Pg(e) => pg_text(e),
        Failure::Decode(e) => e.to_string(),
    }
}

/// Whether the failure is the database being away (rather than a statement's fault).
fn is_unreachable(e: &Failure) -> bool {
    match e {
        Failure::Pool(_) => true,
        Failure::Pg(e) => pg_unreachable(e),
        Failure::Decode(_) => false,
    }
}

fn pg_unreachable(e: &tokio_postgres::Error) -> bool {
    match e.code() {
        // Connection exceptions, operator intervention (shutdown), insufficient
        // resources, system errors: the database, not the statement.
        Some(code) => ["08", "57", "53", "58"]
            .iter()
            .any(|class| code.code().starts_with(class)),
        None => true,
    }
}

fn pg_text(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match e.source() {
            Some(s) => format!("{e}: {s}"),
            None => e.to_string(),
        },
    }
}

fn pool_error(e: &deadpool_postgres::PoolError) -> String {
    match e {
        deadpool_postgres::PoolError::Backend(e) => pg_text(e),
        e => e.to_string(),
    }
}

fn pg_error(e: tokio_postgres::Error) -> StoreError {
    if pg_unreachable(&e) {
        StoreError::Unavailable(pg_text(&e))
    } else {
        StoreError::Postgres(pg_text(&e))
    }
}

/// A PostgreSQL row as the store's [`Row`].
fn row(r: &tokio_postgres::Row) -> Result<Row, StoreError> {
    let mut out = Vec::with_capacity(r.len());
    for (i, c) in r.columns().iter().enumerate() {
        let t = c.type_();
        let bad =
            |e: tokio_postgres::Error| StoreError::Decode(format!("column {}: {e}", c.name()));
        let v = if *t == Type::INT8 {
            r.try_get::<_, Option<i64>>(i).map_err(bad)?.map(Value::Int)
        } else if *t == Type::INT4 {
            r.try_get::<_, Option<i32>>(i)
                .map_err(bad)?
                .map(|v| Value::Int(v.into()))
        } else if *t == Type::INT2 {
            r.try_get::<_, Option<i16>>(i)
                .map_err(bad)?
                .map(|v| Value::Int(v.into()))
        } else if *t == Type::BOOL {
            r.try_get::<_, Option<bool>>(i)
                .map_err(bad)?
                .map(|v| Value::Int(v.into()))
        } else if *t == Type::FLOAT8 {
            r.try_get::<_, Option<f64>>(i)
                .map_err(bad)?
                .map(Value::Real)
        } else if *t == Type::FLOAT4 {
            r.try_get::<_, Option<f32>>(i)
                .map_err(bad)?
                .map(|v| Value::Real(v.into()))
        } else {
            r.try_get::<_, Option<String>>(i)
                .map_err(bad)?
                .map(Value::Text)
        };
        out.push(v.unwrap_or(Value::Null));
    }
    Ok(Row(out))
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                _ => i.to_string().as_str().to_sql(ty, out),
            },
            Value::Real(f) => match *ty {
                Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                Type::FLOAT8 => f.to_sql(ty, out),
                _ => f.to_string().as_str().to_sql(ty, out),
            },
            Value::Text(s) => s.as_str().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

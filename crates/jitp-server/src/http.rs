//! The HTTP plumbing: accept loop with a connection limit, optional TLS,
//! header and body timeouts, body limits, hot reload (SIGHUP and file
//! polling) and graceful shutdown.

use crate::api::{self, Answer, Incoming};
use crate::State;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::header::HeaderValue;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::rustls;

/// Binds, announces the address and serves until a shutdown signal.
pub async fn serve(state: Arc<State>) -> Result<(), String> {
    let cfg = &state.config;
    let listener = TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| format!("cannot listen on `{}`: {e}", cfg.listen))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    let tls = match &cfg.tls {
        Some((cert, key)) => Some(tls_acceptor(cert, key)?),
        None => None,
    };
    let base: Arc<str> =
        format!("{}://{addr}", if tls.is_some() { "https" } else { "http" }).into();
    {
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "listening on {base}");
    }
    let l = state.current();
    tracing::info!(package = %l.bundle.name(), revision = %l.revision, entities = l.entities.len(), "serving");
    drop(l);

    tokio::spawn(reload_on_sighup(state.clone()));
    tokio::spawn(reload_on_change(state.clone()));

    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(cfg.max_connections));
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            state.metrics.errors.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let watcher = graceful.watcher();
        let state = state.clone();
        let base = base.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let timeout = state.config.header_timeout;
            let svc = {
                let state = state.clone();
                let timer = BodyTimer::default();
                hyper::service::service_fn(move |req| {
                    respond(state.clone(), base.clone(), timer.clone(), req)
                })
            };
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(timeout);
            let result = match tls {
                Some(acceptor) => {
                    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => {
                            watcher
                                .watch(builder.serve_connection(TokioIo::new(s), svc))
                                .await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    }
                }
                None => {
                    watcher
                        .watch(builder.serve_connection(TokioIo::new(stream), svc))
                        .await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: draining requests in flight");
    if tokio::time::timeout(state.config.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after the drain timeout");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Answers a connection over the limit with 503 and closes it.
async fn refuse(mut stream: TcpStream) {
    let body = r#"{"error":{"status":503,"message":"too many connections; retry later"}}"#;
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(body.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// A connection's body-read deadline: one timer per connection, moved
/// later for each request's body. Moving a registered timer later is an
/// atomic store in tokio; a fresh timer per request would take the timer
/// wheel's lock and, when the other worker is parked, wake it to re-arm
/// its sleep, on every request. (HTTP/1 answers a connection's requests
/// one at a time; a second request finding the timer taken gets its own.)
#[derive(Clone, Default)]
struct BodyTimer(Arc<std::sync::Mutex<Option<Pin<Box<tokio::time::Sleep>>>>>);

impl BodyTimer {
    /// Reads `body` whole, within `limit` bytes and `timeout`; `None` when
    /// the time ran out.
    async fn collect(
        &self,
        body: hyper::body::Incoming,
        limit: usize,
        timeout: std::time::Duration,
    ) -> Option<Result<http_body_util::Collected<Bytes>, Box<dyn std::error::Error + Send + Sync>>>
    {
        let taken = match self.0.lock() {
            Ok(mut g) => g.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        let deadline = tokio::time::Instant::now() + timeout;
        let mut sleep = match taken {
            Some(mut s) => {
                s.as_mut().reset(deadline);
                s
            }
            None => Box::pin(tokio::time::sleep_until(deadline)),
        };
        let read = tokio::select! {
            biased;
            r = Limited::new(body, limit).collect() => Some(r),
            () = sleep.as_mut() => None,
        };
        match self.0.lock() {
            Ok(mut g) => *g = Some(sleep),
            Err(poisoned) => *poisoned.into_inner() = Some(sleep),
        }
        read
    }
}

async fn respond(
    state: Arc<State>,
    base: Arc<str>,
    timer: BodyTimer,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let answer = answer(&state, &base, &timer, req).await;
    if answer.status >= 400 {
        state.metrics.errors.fetch_add(1, Ordering::Relaxed);
    }
    let mut resp = Response::new(Full::new(Bytes::from(answer.body)));
    *resp.status_mut() = hyper::StatusCode::from_u16(answer.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = resp.headers_mut();
    let content_type = match answer.content_type {
        "application/json" => HeaderValue::from_static("application/json"),
        other => HeaderValue::from_str(other).unwrap_or(HeaderValue::from_static("text/plain")),
    };
    headers.insert(hyper::header::CONTENT_TYPE, content_type);
    for (k, v) in answer.headers {
        if let Ok(v) = HeaderValue::try_from(v) {
            headers.append(k, v);
        }
    }
    Ok(resp)
}

async fn answer(
    state: &Arc<State>,
    base: &str,
    timer: &BodyTimer,
    req: Request<hyper::body::Incoming>,
) -> Answer {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let limit = state.config.max_body_bytes;
    let bytes = if api::wants_body(&path) && parts.method == hyper::Method::POST {
        let declared = parts
            .headers
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return api::error(
                413,
                format!("the request body is larger than {limit} bytes"),
            );
        }
        match timer.collect(body, limit, state.config.body_timeout).await {
            None => return api::error(408, "the request body was not received in time"),
            Some(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
                return api::error(
                    413,
                    format!("the request body is larger than {limit} bytes"),
                )
            }
            Some(Err(e)) => return api::error(400, format!("cannot read the request body: {e}")),
            Some(Ok(c)) => c.to_bytes(),
        }
    } else {
        Bytes::new()
    };
    let header = |name: hyper::header::HeaderName| parts.headers.get(name).map(|v| v.as_bytes());
    let content_type =
        header(hyper::header::CONTENT_TYPE).and_then(|v| std::str::from_utf8(v).ok());
    if state.store().is_some() && api::touches_store(&path) {
        // The task store blocks (the PostgreSQL client even runs a runtime
        // of its own): answer on the blocking pool, never on a worker.
        let state = state.clone();
        let base = base.to_string();
        let method = parts.method.as_str().to_string();
        let query = parts.uri.query().unwrap_or("").to_string();
        let content_type = content_type.map(str::to_string);
        let authorization = header(hyper::header::AUTHORIZATION).map(<[u8]>::to_vec);
        let handled = tokio::task::spawn_blocking(move || {
            let incoming = Incoming {
                method: &method,
                path: &path,
                query: &query,
                content_type: content_type.as_deref(),
                authorization: authorization.as_deref(),
                body: &bytes,
            };
            api::handle(&state, &incoming, &base)
        })
        .await;
        return handled.unwrap_or_else(|e| {
            tracing::error!(error = %e, "a request handler failed");
            api::error(500, "the request could not be answered")
        });
    }
    let incoming = Incoming {
        method: parts.method.as_str(),
        path: &path,
        query: parts.uri.query().unwrap_or(""),
        content_type,
        authorization: header(hyper::header::AUTHORIZATION),
        body: &bytes,
    };
    api::handle(state, &incoming, base)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install the signal handlers; stop the server with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}

async fn reload_on_sighup(state: Arc<State>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot install the SIGHUP handler; reload by file change only");
        return;
    };
    while hup.recv().await.is_some() {
        tracing::info!("SIGHUP received: reloading");
        let s = state.clone();
        let _ = tokio::task::spawn_blocking(move || s.reload()).await;
    }
}

async fn reload_on_change(state: Arc<State>) {
    let paths = crate::watched_paths(&state.config);
    if paths.is_empty() {
        return;
    }
    let mut last = state.current().watched;
    let mut tick = tokio::time::interval(state.config.poll_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let p = paths.clone();
        let now = tokio::task::spawn_blocking(move || fingerprint(&p))
            .await
            .unwrap_or(last);
        if now != last {
            tracing::info!("a watched file changed: reloading");
            let s = state.clone();
            let ok = tokio::task::spawn_blocking(move || s.reload())
                .await
                .unwrap_or(false);
            // After a good reload, what it saw before loading (a change
            // made during the load is caught next time); after a failed
            // one, what failed, so that a broken file is not retried every
            // second until it changes again.
            last = if ok { state.current().watched } else { now };
        }
    }
}

/// A hash of the names, sizes and modification times of `paths` (files,
/// or directories walked recursively, at most 10,000 entries).
pub(crate) fn fingerprint(paths: &[PathBuf]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let mut budget = 10_000usize;
    fn visit(p: &Path, h: &mut impl Hasher, budget: &mut usize) {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        p.hash(h);
        let Ok(meta) = std::fs::metadata(p) else {
            0u8.hash(h);
            return;
        };
        meta.len().hash(h);
        if let Ok(m) = meta.modified() {
            m.hash(h);
        }
        if meta.is_dir() {
            if let Ok(rd) = std::fs::read_dir(p) {
                let mut entries: Vec<PathBuf> =
                    rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
                entries.sort();
                for e in entries {
                    visit(&e, h, budget);
                }
            }
        }
    }
    for p in paths {
        visit(p, &mut h, &mut budget);
    }
    h.finish()
}

fn tls_acceptor(cert: &Path, key: &Path) -> Result<tokio_rustls::TlsAcceptor, String> {
    let read =
        |p: &Path| std::fs::read(p).map_err(|e| format!("cannot read `{}`: {e}", p.display()));
    let cert_pem = read(cert)?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("`{}`: not a PEM certificate chain: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("`{}` holds no PEM certificate", cert.display()));
    }
    let key_pem = read(key)?;
    let key_der = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| format!("`{}`: not a PEM private key: {e}", key.display()))?
        .ok_or_else(|| format!("`{}` holds no PEM private key", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot configure TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| format!("the TLS certificate and key do not fit together: {e}"))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

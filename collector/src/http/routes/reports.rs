//! `/api/…` reports: the handlers of summary, time series, breakdowns (JSON or CSV),
//! real-time, paths, funnels and the visitor log. Each validates its query string into a
//! [`ReportQuery`] (a `400` names the bad parameter) and asks the store's
//! [`ReportSource`](crate::store::ReportSource).

use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::http::error::AppError;
use crate::reports::funnel::{self, FunnelDef};
use crate::reports::params::Params;
use crate::reports::range::{DAY_MS, date, timestamp};
use crate::reports::summary::{Change, Fallback, SummaryReport, Totals};
use crate::reports::{ReportQuery, Share, Transitions, csv, flows};
use crate::state::AppState;

/// How far back `GET /api/realtime` looks, ms.
pub const REALTIME_MS: i64 = 5 * 60_000;

/// How far past the collector's clock an event still counts as now in realtime (1 minute).
pub const REALTIME_AHEAD_MS: i64 = 60_000;
/// Longest funnel name, in bytes.
pub const MAX_FUNNEL_NAME: usize = 100;

/// The report routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/sites", get(sites))
        .route("/api/timeseries", get(timeseries))
        .route("/api/breakdown", get(breakdown))
        .route("/api/realtime", get(realtime))
        .route("/api/paths/transitions", get(transitions))
        .route("/api/paths/flows", get(flows))
        .route("/api/funnel", get(funnel))
        .route("/api/funnels", get(list_funnels).post(save_funnel))
        .route("/api/visitors", get(visitors))
}

fn query(state: &AppState, params: &Params) -> Result<ReportQuery, AppError> {
    let today = state.clock.now_ms().div_euclid(DAY_MS);
    params.query(today).map_err(AppError::BadRequest)
}

/// `GET /api/sites`.
pub async fn sites(State(state): State<AppState>) -> Result<Json<serde_json::Value>, AppError> {
    let sites = state.store.sites().await?;
    Ok(Json(json!({ "sites": sites })))
}

/// `GET /api/summary`: the period's numbers, the previous period's and the change.
pub async fn summary(
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<Json<SummaryReport>, AppError> {
    let q = query(&state, &params)?;
    let (now, before) = state.store.counts_with_previous(&q).await?;
    let q = query(&state, &params)?;
    let fallback = {
        let q = q.clone();
        state.store.fallbacks(&q).await?
    };
    let (totals, previous) = (Totals::from(now), Totals::from(before));
    Ok(Json(SummaryReport {
        site: q.site,
        from: date(q.range.from),
        to: date(q.range.to),
        totals,
        previous,
        change: Change::between(&totals, &previous),
        fallback: fallback
            .into_iter()
            .map(|(reason, pageviews)| Fallback { reason, pageviews })
            .collect(),
    }))
}

/// One point of `GET /api/timeseries`.
#[derive(Debug, Serialize)]
struct Point {
    t: String,
    visitors: u64,
    persons: u64,
    pageviews: u64,
    sessions: u64,
    bounce_rate: f64,
    mean_duration_ms: u64,
}

/// `GET /api/timeseries?interval=hour|day`.
pub async fn timeseries(
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<Json<serde_json::Value>, AppError> {
    let q = query(&state, &params)?;
    let interval = params.interval(&q.range).map_err(AppError::BadRequest)?;
    let series = state.store.series(&q, interval).await?;
    let points: Vec<Point> = series
        .into_iter()
        .map(|(t, c)| {
            let totals = Totals::from(c);
            Point {
                t: timestamp(t),
                visitors: c.visitors,
                persons: c.persons,
                pageviews: c.pageviews,
                sessions: c.sessions,
                bounce_rate: totals.bounce_rate,
                mean_duration_ms: totals.mean_duration_ms,
            }
        })
        .collect();
    Ok(Json(
        json!({ "interval": interval.as_str(), "points": points }),
    ))
}

/// `GET /api/breakdown?dimension=D[&format=csv]`.
pub async fn breakdown(
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<Response, AppError> {
    let q = query(&state, &params)?;
    let dimension = params.dimension().map_err(AppError::BadRequest)?;
    let as_csv = params.csv().map_err(AppError::BadRequest)?;
    let name = dimension.as_str();
    let rows = state.store.breakdown(&q, &dimension).await?;
    if as_csv {
        return Ok(csv_response(name, csv::rows(&rows)));
    }
    Ok(Json(json!({ "dimension": name, "rows": rows })).into_response())
}

/// A CSV download named `name.csv`.
fn csv_response(name: &str, body: String) -> Response {
    let disposition = format!("attachment; filename=\"{name}.csv\"");
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}

/// `GET /api/realtime`: the last 5 minutes, by the events' own time, up to
/// [`REALTIME_AHEAD_MS`] past the collector's clock (a client whose clock runs a little
/// ahead is still on the site now; one an hour ahead is not, for the hour its
/// timestamps lead).
pub async fn realtime(
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<Json<crate::reports::Realtime>, AppError> {
    let q = query(&state, &params)?;
    let now = state.clock.now_ms();
    Ok(Json(
        state
            .store
            .realtime(&q.site, now - REALTIME_MS, now + REALTIME_AHEAD_MS)
            .await?,
    ))
}

fn shares(rows: Vec<(String, u64)>, views: u64) -> Vec<Share> {
    let mut out: Vec<Share> = rows
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(key, count)| Share {
            share: if views == 0 {
                0.0
            } else {
                count as f64 / views as f64
            },
            key,
            count,
        })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    out
}

/// `GET /api/paths/transitions?page=/x`.
pub async fn transitions(
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<Response, AppError> {
    let as_csv = params.csv().map_err(AppError::BadRequest)?;
    let mut q = query(&state, &params)?;
    let page = q
        .filters
        .page
        .take()
        .ok_or_else(|| AppError::BadRequest("page: query parameter is required".into()))?;
    let limit = q.limit;
    let subject = page.clone();
    let (views, before, after) = state.store.transitions(&q, &subject).await?;
    let mut before = shares(before, views);
    let mut after = shares(after, views);
    before.truncate(limit);
    after.truncate(limit);
    if as_csv {
        let line = |side: &str, s: &Share| {
            vec![
                side.to_string(),
                s.key.clone(),
                s.count.to_string(),
                s.share.to_string(),
            ]
        };
        let lines = before
            .iter()
            .map(|s| line("before", s))
            .chain(after.iter().map(|s| line("after", s)));
        let body = csv::table(&["side", "key", "count", "share"], lines);
        return Ok(csv_response("transitions", body));
    }
    Ok(Json(Transitions {
        page,
        views,
        before,
        after,
    })
    .into_response())
}

/// `GET /api/paths/flows?steps=N`.
pub async fn flows(
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<Response, AppError> {
    let as_csv = params.csv().map_err(AppError::BadRequest)?;
    let q = query(&state, &params)?;
    let steps = params.flow_steps().map_err(AppError::BadRequest)?;
    let limit = q.limit;
    let sessions = state.store.flows(&q, steps).await?;
    let flows = flows::build(&sessions, steps, limit);
    if as_csv {
        let lines = flows
            .sequences
            .iter()
            .map(|s| vec![s.pages.join(" > "), s.sessions.to_string()]);
        return Ok(csv_response(
            "flows",
            csv::table(&["pages", "sessions"], lines),
        ));
    }
    Ok(Json(flows).into_response())
}

/// `GET /api/funnel?steps=…&window_ms=…` or `?name=…`.
pub async fn funnel(
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<Response, AppError> {
    let as_csv = params.csv().map_err(AppError::BadRequest)?;
    let mut q = query(&state, &params)?;
    q.count = crate::reports::CountBy::Persons;
    let (steps, window) = match params.name.as_deref().filter(|s| !s.is_empty()) {
        Some(name) => {
            let site = q.site.clone();
            let saved = state.store.funnels(&site).await?;
            let def = saved
                .into_iter()
                .find(|f| f.name == name)
                .ok_or_else(|| AppError::NotFound(format!("name: no saved funnel {name:?}")))?;
            funnel::validate(&def.steps, Some(def.window_ms))
        }
        None => {
            let steps: Vec<String> = params
                .steps
                .as_deref()
                .unwrap_or("")
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            funnel::validate(&steps, params.window_ms().map_err(AppError::BadRequest)?)
        }
    }
    .map_err(AppError::BadRequest)?;
    let (start, end) = (q.range.start_ms(), q.range.end_ms());
    let for_store = steps.clone();
    let hits = state.store.funnel_hits(&q, &for_store, window).await?;
    let result = funnel::evaluate(&steps, hits, start, end, window);
    if as_csv {
        let lines = result.iter().map(|s| {
            vec![
                s.step.clone(),
                s.persons.to_string(),
                s.conversion.to_string(),
                s.dropoff.to_string(),
            ]
        });
        let body = csv::table(&["step", "persons", "conversion", "dropoff"], lines);
        return Ok(csv_response("funnel", body));
    }
    Ok(Json(json!({ "steps": result, "window_ms": window })).into_response())
}

/// Body of `POST /api/funnels`.
#[derive(Debug, Deserialize)]
pub struct SaveFunnel {
    site: String,
    name: String,
    steps: Vec<String>,
    window_ms: Option<i64>,
}

/// `POST /api/funnels`: saves (or replaces) a funnel by name.
pub async fn save_funnel(
    State(state): State<AppState>,
    body: Result<Json<SaveFunnel>, JsonRejection>,
) -> Result<(StatusCode, Json<FunnelDef>), AppError> {
    let Json(body) = body.map_err(|e| AppError::BadRequest(e.body_text()))?;
    if body.site.is_empty() {
        return Err(AppError::BadRequest("site: must not be empty".into()));
    }
    if body.name.is_empty() || body.name.len() > MAX_FUNNEL_NAME {
        return Err(AppError::BadRequest(format!(
            "name: 1 to {MAX_FUNNEL_NAME} bytes"
        )));
    }
    let (steps, window_ms) =
        funnel::validate(&body.steps, body.window_ms).map_err(AppError::BadRequest)?;
    let def = FunnelDef {
        name: body.name,
        steps: steps.iter().map(|s| s.to_text()).collect(),
        window_ms,
    };
    let saved = def.clone();
    state.store.save_funnel(&body.site, &saved).await?;
    Ok((StatusCode::CREATED, Json(def)))
}

/// `GET /api/funnels?site=…`.
pub async fn list_funnels(
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<Json<serde_json::Value>, AppError> {
    let q = query(&state, &params)?;
    let funnels = state.store.funnels(&q.site).await?;
    Ok(Json(json!({ "funnels": funnels })))
}

/// `GET /api/visitors`: the visitor log.
pub async fn visitors(
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<Response, AppError> {
    let as_csv = params.csv().map_err(AppError::BadRequest)?;
    let q = query(&state, &params)?;
    let sessions = state.store.visitor_log(&q).await?;
    if as_csv {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        let lines = sessions.iter().map(|s| {
            vec![
                s.session.clone(),
                s.visitor.clone(),
                s.person.clone(),
                s.start.to_string(),
                s.end.to_string(),
                s.entry.clone(),
                s.exit.clone(),
                s.pageviews.to_string(),
                s.duration_ms.to_string(),
                s.bounce.to_string(),
                opt(&s.device),
                opt(&s.browser),
                opt(&s.os),
                opt(&s.source),
                s.events.len().to_string(),
            ]
        });
        let header = [
            "session",
            "visitor",
            "person",
            "start",
            "end",
            "entry",
            "exit",
            "pageviews",
            "duration_ms",
            "bounce",
            "device",
            "browser",
            "os",
            "source",
            "events",
        ];
        return Ok(csv_response("visitors", csv::table(&header, lines)));
    }
    Ok(Json(json!({ "sessions": sessions })).into_response())
}

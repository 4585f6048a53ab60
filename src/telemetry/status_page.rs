//! The status page of `run --listen` (`/`): one HTML document with inline CSS and charts drawn
//! here as inline SVG — no script, no external asset — that a person reads at a glance: per
//! merchant its health, watermarks and their lag, outbox and quarantine sizes, API calls and
//! errors, the lag and the orders of each run over the last day, and the last runs.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::run_history::{HISTORY_SPAN, MerchantHistory};
use crate::beijing_time;

/// Runs listed in each merchant's table.
const RUNS_LISTED: usize = 12;

const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header{background:#1d2330;color:#fff;padding:14px 24px;display:flex;align-items:baseline;gap:18px}
header h1{margin:0;font-size:20px}header .muted{color:#aab}
main{padding:16px 24px;display:grid;gap:18px}
section.merchant{background:#fff;border-radius:8px;padding:14px 18px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
h2{margin:0 0 10px;font-size:18px;display:flex;gap:10px;align-items:center}
.badge{font-size:12px;padding:2px 8px;border-radius:10px;color:#fff}
.badge.ok{background:#1f8a4c}.badge.bad{background:#c62828}.badge.running{background:#1565c0}
.reason{color:#c62828;margin:0 0 8px}
.facts{display:flex;flex-wrap:wrap;gap:10px;margin-bottom:10px}
.fact{border:1px solid #e1e4ea;border-radius:6px;padding:6px 10px;min-width:120px}
.fact .label{display:block;color:#667;font-size:12px}
.fact .value{font-size:16px;font-weight:600}
.fact .sub{display:block;color:#667;font-size:12px}
.charts{display:flex;flex-wrap:wrap;gap:14px}
figure{margin:0}figcaption{color:#445;font-size:12px;margin-bottom:2px}
svg text{font-size:10px;fill:#667}
table{border-collapse:collapse;width:100%;margin-top:10px;font-size:13px}
th,td{padding:3px 8px;border-bottom:1px solid #eceef2;text-align:right;white-space:nowrap}
th:nth-child(-n+3),td:nth-child(-n+3){text-align:left}
td.failed{color:#c62828;font-weight:600}td.succeeded{color:#1f8a4c}
td.error{white-space:normal;text-align:left;color:#c62828;max-width:420px}
";

/// The whole page.
pub fn render(
    merchants: &[MerchantHistory],
    max_lag: Option<Duration>,
    now: DateTime<Utc>,
) -> String {
    let unhealthy = merchants
        .iter()
        .filter(|m| m.unhealthy(max_lag, now).is_some())
        .count();
    let mut page = String::new();
    let _ = write!(
        page,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"30\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>jst-sync status</title><style>{STYLE}</style></head><body>\
         <header><h1>jst-sync</h1><span id=\"overall\" class=\"badge {}\">{}</span>\
         <span class=\"muted\">{} merchant(s) · {} Beijing time · refreshes every 30 s{}</span></header><main>",
        if unhealthy == 0 { "ok" } else { "bad" },
        if unhealthy == 0 {
            "all healthy".to_owned()
        } else {
            format!("{unhealthy} unhealthy")
        },
        merchants.len(),
        beijing(now),
        max_lag
            .map(|d| format!(" · max_watermark_lag {}", humantime::format_duration(d)))
            .unwrap_or_default(),
    );
    for merchant in merchants {
        merchant_section(&mut page, merchant, max_lag, now);
    }
    page.push_str("</main></body></html>\n");
    page
}

fn merchant_section(
    page: &mut String,
    m: &MerchantHistory,
    max_lag: Option<Duration>,
    now: DateTime<Utc>,
) {
    let name = escape(&m.name);
    let reason = m.unhealthy(max_lag, now);
    let _ = write!(
        page,
        "<section class=\"merchant\" id=\"merchant-{name}\" data-merchant=\"{name}\"><h2>{name} <span class=\"badge {}\">{}</span>{}</h2>",
        if reason.is_none() { "ok" } else { "bad" },
        if reason.is_none() {
            "healthy"
        } else {
            "unhealthy"
        },
        m.running_since
            .map(|since| format!(
                " <span class=\"badge running\">running for {}</span>",
                human_secs((now - since).num_seconds().max(0) as f64)
            ))
            .unwrap_or_default(),
    );
    if let Some(reason) = &reason {
        let _ = write!(page, "<p class=\"reason\">{}</p>", escape(reason));
    }
    page.push_str("<div class=\"facts\">");
    let lags = m.lags_now(now);
    if lags.is_empty() {
        fact(page, "watermark", "none yet", "", "watermark");
    }
    for (w, lag) in &lags {
        fact(
            page,
            &format!("watermark {} {}", w.source, w.strategy),
            &w.value,
            &lag.map(|l| format!("lag {}", human_secs(l)))
                .unwrap_or_else(|| "lag unknown".to_owned()),
            "watermark",
        );
    }
    let count = |n: Option<i64>| n.map_or("?".to_owned(), |n| n.to_string());
    fact(
        page,
        "outbox pending",
        &count(m.outbox_pending),
        "versions not yet pushed",
        "outbox",
    );
    fact(
        page,
        "quarantine open",
        &count(m.quarantine_open),
        "see jst-sync quarantine",
        "quarantine",
    );
    let (calls, errors) = m
        .runs
        .iter()
        .fold((0, 0), |(c, e), r| (c + r.api_calls, e + r.api_errors));
    fact(
        page,
        "API calls, last 24 h",
        &calls.to_string(),
        &format!("{errors} failed attempts"),
        "api",
    );
    let (failed, total) = (m.runs.iter().filter(|r| !r.succeeded).count(), m.runs.len());
    fact(
        page,
        "runs, last 24 h",
        &total.to_string(),
        &format!("{failed} failed"),
        "runs",
    );
    page.push_str("</div><div class=\"charts\">");
    let span = chart_span(m, now);
    let over = if span == HISTORY_SPAN {
        "last 24 h".to_owned()
    } else {
        format!("last {}", human_span(span))
    };
    let lag_points: Vec<(DateTime<Utc>, f64)> = m
        .runs
        .iter()
        .filter_map(|r| Some((r.finished_at, r.max_lag_secs?)))
        .collect();
    chart(
        page,
        "lag",
        &format!("Watermark lag after each run ({over})"),
        &lag_points,
        Shape::Line,
        span,
        now,
    );
    let order_points: Vec<(DateTime<Utc>, f64)> = m
        .runs
        .iter()
        .map(|r| (r.finished_at, (r.orders_new + r.orders_changed) as f64))
        .collect();
    chart(
        page,
        "orders",
        &format!("Orders new or changed per run ({over})"),
        &order_points,
        Shape::Bars,
        span,
        now,
    );
    page.push_str("</div>");
    runs_table(page, m);
    page.push_str("</section>");
}

fn fact(page: &mut String, label: &str, value: &str, sub: &str, class: &str) {
    let _ = write!(
        page,
        "<div class=\"fact {class}\"><span class=\"label\">{}</span><span class=\"value\">{}</span><span class=\"sub\">{}</span></div>",
        escape(label),
        escape(value),
        escape(sub)
    );
}

fn runs_table(page: &mut String, m: &MerchantHistory) {
    page.push_str(
        "<table class=\"runs\"><thead><tr><th>run</th><th>finished (Beijing)</th><th>command</th>\
         <th>outcome</th><th>duration</th><th>API calls</th><th>API errors</th><th>orders seen</th>\
         <th>new</th><th>changed</th><th>pushed</th></tr></thead><tbody>",
    );
    if m.runs.is_empty() {
        page.push_str("<tr><td colspan=\"11\">no run in the last 24 h</td></tr>");
    }
    for r in m.runs.iter().rev().take(RUNS_LISTED) {
        let outcome = if r.succeeded { "succeeded" } else { "failed" };
        let _ = write!(
            page,
            "<tr class=\"run\"><td>{}</td><td>{}</td><td>{}</td><td class=\"{outcome}\">{outcome}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            r.run_id,
            beijing(r.finished_at),
            escape(&r.command),
            human_secs(r.duration_secs),
            r.api_calls,
            r.api_errors,
            r.orders_seen,
            r.orders_new,
            r.orders_changed,
            r.orders_pushed,
        );
        if let Some(error) = r.error.as_deref().filter(|_| !r.succeeded) {
            let _ = write!(
                page,
                "<tr><td></td><td class=\"error\" colspan=\"10\">{}</td></tr>",
                escape(error)
            );
        }
    }
    page.push_str("</tbody></table>");
}

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Line,
    Bars,
}

const WIDTH: f64 = 560.0;
const HEIGHT: f64 = 150.0;
const LEFT: f64 = 52.0;
const BOTTOM: f64 = 18.0;
const TOP: f64 = 8.0;

/// How far back the charts reach: the runs kept (at most a day), in whole hours, at least one,
/// so that a process started an hour ago does not squeeze its runs into the last pixels.
fn chart_span(m: &MerchantHistory, now: DateTime<Utc>) -> chrono::TimeDelta {
    let oldest = m.runs.front().map_or(now, |r| r.finished_at);
    let hours = ((now - oldest).num_seconds() as f64 / 3600.0).ceil() as i64;
    chrono::TimeDelta::hours(hours.clamp(1, HISTORY_SPAN.num_hours()))
}

/// `45 m`, `1 h`, `6 h`.
fn human_span(span: chrono::TimeDelta) -> String {
    if span.num_seconds() % 3600 == 0 {
        format!("{} h", span.num_hours())
    } else {
        format!("{} m", span.num_minutes())
    }
}

/// A chart over the last `span`: x is when the run finished, y the value.
fn chart(
    page: &mut String,
    id: &str,
    caption: &str,
    points: &[(DateTime<Utc>, f64)],
    shape: Shape,
    span_delta: chrono::TimeDelta,
    now: DateTime<Utc>,
) {
    let span = span_delta.num_seconds() as f64;
    let start = now - span_delta;
    let max = points.iter().map(|p| p.1).fold(0.0_f64, f64::max);
    let top = if max > 0.0 { max * 1.1 } else { 1.0 };
    let plot_w = WIDTH - LEFT - 18.0;
    let plot_h = HEIGHT - BOTTOM - TOP;
    let x = |at: DateTime<Utc>| {
        LEFT + ((at - start).num_milliseconds() as f64 / 1000.0 / span).clamp(0.0, 1.0) * plot_w
    };
    let y = |v: f64| TOP + plot_h - (v / top).clamp(0.0, 1.0) * plot_h;
    let label = |v: f64| match shape {
        Shape::Line => human_secs(v),
        Shape::Bars => format!("{}", v.round()),
    };
    let _ = write!(
        page,
        "<figure class=\"chart\" id=\"chart-{id}\"><figcaption>{}</figcaption>\
         <svg class=\"chart-{id}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}\">\
         <rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{plot_w}\" height=\"{plot_h}\" fill=\"#fafbfc\" stroke=\"#e1e4ea\"/>",
        escape(caption),
        escape(caption),
    );
    // Gridlines at 0, half and the top, and four steps back in time along x.
    for fraction in [0.0, 0.5, 1.0] {
        let value = top * fraction;
        let _ = write!(
            page,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e1e4ea\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LEFT + plot_w,
            LEFT - 4.0,
            y(value) + 3.0,
            label(value),
            y = y(value),
        );
    }
    for quarter in (0..=4).rev() {
        let ago = span_delta * quarter / 4;
        let at = now - ago;
        let text = if quarter == 0 {
            "now".to_owned()
        } else {
            format!("-{}", human_span(ago))
        };
        let _ = write!(
            page,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{text}</text>",
            x(at),
            HEIGHT - 4.0
        );
    }
    if points.is_empty() {
        let _ = write!(
            page,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">no runs yet</text>",
            LEFT + plot_w / 2.0,
            TOP + plot_h / 2.0
        );
    }
    match shape {
        Shape::Line => {
            if points.len() > 1 {
                let path: Vec<String> = points
                    .iter()
                    .map(|(at, v)| format!("{:.1},{:.1}", x(*at), y(*v)))
                    .collect();
                let _ = write!(
                    page,
                    "<polyline fill=\"none\" stroke=\"#1565c0\" stroke-width=\"1.5\" points=\"{}\"/>",
                    path.join(" ")
                );
            }
            for (at, v) in points {
                let _ = write!(
                    page,
                    "<circle class=\"point\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"#1565c0\"><title>{}: {}</title></circle>",
                    x(*at),
                    y(*v),
                    beijing(*at),
                    human_secs(*v)
                );
            }
        }
        Shape::Bars => {
            for (at, v) in points {
                let height = (TOP + plot_h - y(*v)).max(if *v > 0.0 { 1.0 } else { 0.0 });
                let _ = write!(
                    page,
                    "<rect class=\"bar\" x=\"{:.1}\" y=\"{:.1}\" width=\"3\" height=\"{height:.1}\" fill=\"#2e7d32\"><title>{}: {v} orders</title></rect>",
                    x(*at) - 1.5,
                    TOP + plot_h - height,
                    beijing(*at),
                );
            }
        }
    }
    page.push_str("</svg></figure>");
}

/// `2024-05-01 12:00:00` in Beijing time.
fn beijing(at: DateTime<Utc>) -> String {
    beijing_time::format(beijing_time::from_utc(at))
}

/// `850 ms`, `42 s`, `3 m 12 s`, `5 h 3 m`, `2 d 4 h`.
pub fn human_secs(secs: f64) -> String {
    let secs = secs.max(0.0);
    if secs < 1.0 {
        return format!("{} ms", (secs * 1000.0).round());
    }
    if secs < 60.0 {
        return format!("{secs:.1} s");
    }
    let whole = secs.round() as u64;
    let (d, h, m, s) = (
        whole / 86400,
        whole / 3600 % 24,
        whole / 60 % 60,
        whole % 60,
    );
    match (d, h) {
        (0, 0) => format!("{m} m {s} s"),
        (0, _) => format!("{h} h {m} m"),
        _ => format!("{d} d {h} h"),
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::watermark_lag::WatermarkLag;
    use crate::telemetry::run_history::RunPoint;

    #[test]
    fn the_page_shows_each_merchants_watermark_and_escapes_what_it_prints() {
        let now = Utc::now();
        let mut shop = MerchantHistory::new("shop<1>");
        shop.watermarks = vec![WatermarkLag {
            source: "10969016".into(),
            strategy: "window".into(),
            value: "2024-05-01 11:30:00".into(),
            lag_secs: Some(90.0),
        }];
        shop.watermarks_read_at = Some(now);
        shop.push(RunPoint {
            run_id: 7,
            command: "sync".into(),
            finished_at: now,
            succeeded: false,
            duration_secs: 2.5,
            api_calls: 3,
            api_errors: 1,
            orders_seen: 4,
            orders_new: 4,
            orders_changed: 0,
            orders_pushed: 4,
            max_lag_secs: Some(90.0),
            error: Some("gateway <down>".into()),
        });
        let page = render(&[shop], None, now);
        assert!(page.contains("2024-05-01 11:30:00"), "{page}");
        assert!(page.contains("lag 1 m 30 s"), "{page}");
        assert!(page.contains("shop&lt;1&gt;") && !page.contains("shop<1>"));
        assert!(page.contains("gateway &lt;down&gt;"));
        assert!(page.contains("<rect class=\"bar\""));
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "no external asset"
        );
    }

    #[test]
    fn durations_read_as_a_person_says_them() {
        assert_eq!(human_secs(0.25), "250 ms");
        assert_eq!(human_secs(42.0), "42.0 s");
        assert_eq!(human_secs(192.0), "3 m 12 s");
        assert_eq!(human_secs(5.0 * 3600.0 + 180.0), "5 h 3 m");
        assert_eq!(human_secs(2.0 * 86400.0 + 4.0 * 3600.0), "2 d 4 h");
    }
}

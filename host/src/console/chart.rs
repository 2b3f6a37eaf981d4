//! Inline SVG pictures: a probe's response times, and 30 days of uptime
//! bars. Pure functions of their data; each mark carries a `<title>` and the
//! whole an `aria-label`, so nothing rests on colour or on sight alone.

use maud::{Markup, html};

use crate::clock::rfc3339;
use crate::probes::{Counts, DAY_MS};

/// A result status's class: `ok`, `warn`, `bad` or `none`.
fn class(status: &str) -> &'static str {
    match status {
        "pass" => "ok",
        "warn" => "warn",
        "fail" => "bad",
        _ => "none",
    }
}

/// One bar per result, oldest left: height the response time, colour its status.
pub(super) fn response_times(points: &[(i64, f64, String)]) -> Markup {
    const W: f64 = 720.0;
    const H: f64 = 160.0;
    const TOP: f64 = 14.0;
    if points.is_empty() {
        return html! { p.hint { "No stored results yet." } };
    }
    let max = points
        .iter()
        .map(|p| p.1)
        .fold(0.0_f64, f64::max)
        .max(0.001);
    let step = W / points.len() as f64;
    let mean = points.iter().map(|p| p.1).sum::<f64>() / points.len() as f64;
    let label = format!(
        "Response times of the last {} results: mean {mean:.1} ms, highest {max:.1} ms",
        points.len()
    );
    html! {
        svg.chart role="img" aria-label=(label) viewBox=(format!("0 0 {W} {}", H + 18.0)) preserveAspectRatio="none" {
            line.axis x1="0" y1=(H) x2=(W) y2=(H) {}
            text x="2" y="11" { (format!("{max:.1} ms")) }
            @for (i, (at, ms, status)) in points.iter().enumerate() {
                @let h = ((ms / max) * (H - TOP)).max(1.0);
                rect class=(class(status)) x=(format!("{:.2}", i as f64 * step)) y=(format!("{:.2}", H - h))
                    width=(format!("{:.2}", (step - 1.0).max(0.5))) height=(format!("{h:.2}")) {
                    title { (rfc3339(*at)) ": " (format!("{ms:.1} ms")) ", " (status) }
                }
            }
            text x="2" y=(H + 14.0) { (rfc3339(points[0].0)) }
            text x=(W - 2.0) y=(H + 14.0) text-anchor="end" { (rfc3339(points[points.len() - 1].0)) }
        }
    }
}

/// A day's class by its uptime.
fn day_class(c: Option<&Counts>) -> &'static str {
    match c.and_then(Counts::percent) {
        None => "none",
        Some(p) if p >= 99.9 => "ok",
        Some(p) if p >= 95.0 => "warn",
        Some(_) => "bad",
    }
}

/// 30 bars, one per UTC day up to `now_ms`'s, oldest left.
pub(super) fn uptime_bars(name: &str, days: &[(i64, Counts)], now_ms: i64) -> Markup {
    let today = now_ms.div_euclid(DAY_MS) * DAY_MS;
    let total: Counts = days.iter().fold(Counts::default(), |mut a, (_, c)| {
        a.up += c.up;
        a.total += c.total;
        a
    });
    let label = format!(
        "{name}: uptime per day over the last 30 days, {} overall",
        super::page::percent(total.percent())
    );
    html! {
        svg.bars role="img" aria-label=(label) viewBox="0 0 600 34" preserveAspectRatio="none" {
            @for i in 0..30_i64 {
                @let day = today - (29 - i) * DAY_MS;
                @let c = days.iter().find(|d| d.0 == day).map(|d| &d.1);
                rect class=(day_class(c)) x=(i * 20) y="0" width="16" height="34" rx="2" {
                    title {
                        (rfc3339(day).get(..10).unwrap_or_default()) ": "
                        @match c {
                            Some(c) => { (super::page::percent(c.percent())) " up (" (c.total) " checks)" }
                            None => { "no data" }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bar_says_its_day_and_uptime() {
        let now = 30 * DAY_MS + 5;
        let days = [
            (
                30 * DAY_MS,
                Counts {
                    up: 9,
                    total: 10,
                    duration_us: 0,
                },
            ),
            (
                29 * DAY_MS,
                Counts {
                    up: 10,
                    total: 10,
                    duration_us: 0,
                },
            ),
        ];
        let svg = uptime_bars("api", &days, now).into_string();
        assert_eq!(svg.matches("<rect").count(), 30);
        assert_eq!(svg.matches("no data").count(), 28);
        assert!(svg.contains("90.0% up (10 checks)") && svg.contains(r#"class="bad""#));
        assert!(svg.contains("100% up") && svg.contains("95.0% overall"));
    }

    #[test]
    fn response_times_scale_to_the_slowest() {
        let pts = vec![
            (0, 10.0, "pass".to_owned()),
            (1000, 20.0, "fail".to_owned()),
        ];
        let svg = response_times(&pts).into_string();
        assert!(svg.contains("20.0 ms") && svg.contains(r#"class="bad""#));
        assert!(svg.contains("mean 15.0 ms"));
    }
}

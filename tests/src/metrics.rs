//! Reading a process's Prometheus text exposition: scraping `/metrics` and picking series out.

use crate::http::http_get;

/// The `/metrics` page of a gateway or hub admin port.
pub async fn scrape_metrics(admin_port: u16) -> String {
    let (status, body) = http_get(&format!("http://127.0.0.1:{admin_port}/metrics"))
        .await
        .unwrap_or_else(|| panic!("/metrics on admin port {admin_port} answers"));
    assert_eq!(status, 200, "/metrics on admin port {admin_port}");
    body
}

/// The sum of every series of `name` in a text exposition (0 when there is none).
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with([' ', '{']))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The value of the one series `name{labels}` (labels exactly as exposed, e.g. `kind="connected"`),
/// or `None` when the page does not have it.
pub fn metric_series(text: &str, name: &str, labels: &str) -> Option<f64> {
    let prefix = format!("{name}{{{labels}}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix)?.trim().parse::<f64>().ok())
}

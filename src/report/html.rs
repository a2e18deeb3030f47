//! report.html: report.md rendered with pulldown-cmark, every figure inlined as
//! a base64 data URI, and a small stylesheet — one file that opens offline and
//! can be mailed to a reviewer.
use super::manifest::Manifest;
use crate::error::{Error, Result};
use base64::Engine;
use pulldown_cmark::{html, Event, Options, Parser, Tag};
use std::path::Path;

const STYLE: &str = "body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#1b1b1b;line-height:1.45}\
table{border-collapse:collapse;margin:1em 0;font-size:0.9em;display:block;max-width:100%;overflow-x:auto}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#f3f3f3}\
tr:nth-child(even) td{background:#fafafa}code{font-size:0.85em;background:#f5f5f5;padding:1px 3px}img{max-width:100%;height:auto;border:1px solid #eee}\
h1{border-bottom:2px solid #333}h2{border-bottom:1px solid #ccc;margin-top:2em}pre{background:#f5f5f5;padding:1em;overflow-x:auto}";

/// Renders `markdown` (whose images are paths relative to `dir`) as one HTML page.
pub fn render(dir: &Path, markdown: &str, m: &Manifest) -> Result<String> {
    let mut opts = Options::empty();
    opts.insert(Options::ENABLE_TABLES);
    let mut err: Option<Error> = None;
    let events = Parser::new_ext(markdown, opts).map(|ev| match ev {
        Event::Start(Tag::Image { link_type, dest_url, title, id }) if !dest_url.starts_with("data:") => {
            let path = dir.join(dest_url.as_ref());
            let url = match std::fs::read(&path) {
                Ok(bytes) => {
                    let mime = if dest_url.ends_with(".svg") { "image/svg+xml" } else { "image/png" };
                    format!("data:{mime};base64,{}", base64::engine::general_purpose::STANDARD.encode(bytes))
                }
                Err(e) => {
                    err.get_or_insert(Error::io(&path, e));
                    dest_url.to_string()
                }
            };
            Event::Start(Tag::Image { link_type, dest_url: url.into(), title, id })
        }
        // Links to the SVG copies would not resolve once the page is mailed.
        Event::Start(Tag::Link { dest_url, .. }) if dest_url.ends_with(".svg") => Event::Start(Tag::Emphasis),
        Event::End(pulldown_cmark::TagEnd::Link) => Event::End(pulldown_cmark::TagEnd::Emphasis),
        other => other,
    });
    let mut body = String::new();
    html::push_html(&mut body, events);
    if let Some(e) = err {
        return Err(e);
    }
    let title = m.suite.replace('<', "&lt;");
    Ok(format!("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>repbench report: {title}</title><style>{STYLE}</style></head><body>\n{body}</body></html>\n"))
}

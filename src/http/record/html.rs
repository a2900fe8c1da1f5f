//! The materials package as a standalone HTML page: every text escaped, no
//! inline script or style (the server's CSP forbids both). Served at
//! /events/{id}/record it has the 大字版 switch of the public pages; the
//! download stays a document without any script.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use super::*;

/// Escape text for HTML element content and quoted attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
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

/// A Beijing time for people: `2024-10-14 09:30`.
fn local_minutes(at: DateTime<Utc>) -> String {
    at.with_timezone(&shanghai()).format("%Y-%m-%d %H:%M").to_string()
}

/// A link for an http(s) URL (stored URLs are checked to be http(s) on input;
/// anything else is shown as text).
fn link(url: &str) -> String {
    let url = escape_html(url);
    if url.starts_with("https://") || url.starts_with("http://") {
        format!("<a href=\"{url}\" rel=\"noopener\">{url}</a>")
    } else {
        url
    }
}

/// Where the document goes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    /// A file to keep: no script, nothing fetched but the stylesheet.
    Download,
    /// The public page: with the 大字版 switch (large.js in the head, before
    /// the first paint; large.css; the button in the header).
    Page,
}

/// The package as a standalone HTML document. Every text that came from a
/// person goes through [`escape_html`]; the rest are fixed labels and numbers.
pub fn render_html(p: &MaterialsPackage, shell: Shell) -> String {
    let a = &p.announcement;
    let e = escape_html;
    let (script, sheet, switch) = match shell {
        Shell::Download => ("", "", ""),
        Shell::Page => (
            "<script src=\"/large.js\"></script>\n",
            "<link rel=\"stylesheet\" href=\"/large.css\">\n",
            "<button type=\"button\" id=\"large-switch\" class=\"large-switch\" aria-pressed=\"false\" hidden>大字版</button>",
        ),
    };
    let mut h = String::with_capacity(16 * 1024);
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n{script}\
         <title>{title} · 活动实录</title>\n<link rel=\"icon\" href=\"/favicon.svg\" type=\"image/svg+xml\">\n\
         <link rel=\"stylesheet\" href=\"/style.css\">\n{sheet}</head>\n\
         <body class=\"record\">\n<header class=\"page-head\"><div><h1>{title}</h1><p>{kind} · 活动实录</p></div>{switch}</header>\n<main>\n",
        title = e(&a.title),
        kind = a.kind_label,
    );
    if !p.published {
        h.push_str("<p class=\"record-draft\">预览：本实录尚未发布。</p>\n");
    }
    render_announcement(&mut h, p);
    if let Some(url) = &p.transcript_url {
        let _ = writeln!(
            h,
            "<p class=\"record-transcript\"><a href=\"{}\">访谈实录（全文）</a></p>",
            e(url)
        );
    }
    render_questions(&mut h, p);
    render_polls(&mut h, p);
    render_adoption(&mut h, p);
    let _ = write!(
        h,
        "</main>\n<footer>北京市大兴区 · 政务开放日 / 政策公开讲 · 生成于 {}</footer>\n</body>\n</html>\n",
        local_minutes(p.generated_at)
    );
    h
}

fn render_announcement(h: &mut String, p: &MaterialsPackage) {
    let a = &p.announcement;
    let e = escape_html;
    let mut facts: Vec<(&str, String)> = vec![("活动类型", a.kind_label.to_owned())];
    if let Some(theme) = &a.theme {
        facts.push(("主题", e(theme)));
    }
    facts.push(("主办单位", e(&a.host_units.join("、"))));
    facts.push(("活动形式", a.form_label.to_owned()));
    if let Some(at) = a.starts_at {
        facts.push(("活动时间", format!("{}（北京时间）", local_minutes(at))));
    }
    if let Some(m) = a.duration_minutes {
        facts.push(("活动时长", format!("{m} 分钟")));
    }
    let optional = [
        ("活动地点", &a.venue),
        ("活动流程", &a.agenda),
        ("网民参与方式", &a.participation),
    ];
    for (label, value) in optional {
        if let Some(v) = value {
            facts.push((label, format!("<span class=\"record-text\">{}</span>", e(v))));
        }
    }
    if let Some(url) = &a.stream_url {
        facts.push(("直播地址", link(url)));
    }
    h.push_str("<section id=\"announcement\">\n<h2>活动公告</h2>\n");
    if !a.summary.is_empty() {
        let _ = writeln!(h, "<p class=\"record-text\">{}</p>", e(&a.summary));
    }
    h.push_str("<dl class=\"record-facts\">\n");
    for (label, value) in facts {
        let _ = writeln!(h, "<dt>{label}</dt><dd>{value}</dd>");
    }
    h.push_str("</dl>\n</section>\n<section id=\"video\">\n<h2>活动视频</h2>\n");
    match &p.video_url {
        Some(url) => {
            let _ = writeln!(h, "<p>{}</p>", link(url));
        }
        None => h.push_str("<p>暂无视频。</p>\n"),
    }
    h.push_str("</section>\n");
}

/// A section's closing list: `items` in an `<ol class>`, each written by
/// `item`, or the `empty` note when there are none; then the section ends.
fn closing_list<T>(h: &mut String, items: &[T], class: &str, empty: &str, mut item: impl FnMut(&mut String, &T)) {
    if items.is_empty() {
        let _ = write!(h, "<p>{empty}</p>\n</section>\n");
        return;
    }
    let _ = writeln!(h, "<ol class=\"{class}\">");
    for it in items {
        item(h, it);
    }
    h.push_str("</ol>\n</section>\n");
}

/// Opens a list item with what someone said: who, their text (both escaped)
/// and a badge.
fn open_said(h: &mut String, nickname: &str, text: &str, badge: impl std::fmt::Display) {
    let _ = write!(
        h,
        "<li><p class=\"record-q\"><span class=\"record-who\">{}</span>：<span class=\"record-text\">{}</span> \
         <span class=\"badge\">{badge}</span></p>",
        escape_html(nickname),
        escape_html(text)
    );
}

fn render_questions(h: &mut String, p: &MaterialsPackage) {
    let e = escape_html;
    h.push_str("<section id=\"qa\">\n<h2>互动问答</h2>\n");
    closing_list(
        h,
        &p.questions,
        "record-qa",
        "本场活动没有公开的提问。",
        |h, q| {
            open_said(h, &q.nickname, &q.text, format_args!("赞 {}", q.upvotes));
            match &q.answer {
                Some(answer) => {
                    let _ = write!(h, "<p class=\"record-a record-text\">答：{}</p>", e(answer));
                }
                None => h.push_str("<p class=\"record-a\">现场未作答，已转交承办单位答复。</p>"),
            }
            h.push_str("</li>\n");
        },
    );
}

fn render_polls(h: &mut String, p: &MaterialsPackage) {
    let e = escape_html;
    h.push_str("<section id=\"polls\">\n<h2>投票结果</h2>\n");
    if p.polls.is_empty() {
        h.push_str("<p>本场活动没有投票。</p>\n");
    }
    for poll in &p.polls {
        let status = if poll.status == PollStatus::Closed.as_str() {
            "已结束"
        } else {
            "进行中"
        };
        let _ = write!(
            h,
            "<article class=\"record-poll\">\n<h3>{}</h3>\n<p>{} · {}",
            e(&poll.title),
            poll.kind_label,
            status
        );
        if let Some(voters) = poll.voters {
            let _ = write!(h, " · {voters} 人参与");
        }
        if let Some(avg) = poll.average {
            let _ = write!(h, " · 平均 {avg:.2} 分");
        }
        h.push_str("</p>\n");
        if !poll.results_shown {
            h.push_str("<p>结果将在投票结束后公布。</p>\n</article>\n");
            continue;
        }
        let total: i64 = poll.counts.iter().map(|c| c.count).sum::<i64>().max(1);
        h.push_str("<table class=\"record-table\">\n<thead><tr><th>选项</th><th>票数</th><th>占比</th></tr></thead>\n<tbody>\n");
        for c in &poll.counts {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td><meter min=\"0\" max=\"{total}\" value=\"{}\"></meter> {:.1}%</td></tr>",
                e(&c.label),
                c.count,
                c.count,
                c.count as f64 * 100.0 / total as f64
            );
        }
        h.push_str("</tbody>\n</table>\n</article>\n");
    }
    h.push_str("</section>\n");
}

fn render_adoption(h: &mut String, p: &MaterialsPackage) {
    let e = escape_html;
    let s = &p.adoption;
    let _ = write!(
        h,
        "<section id=\"adoption\">\n<h2>意见采纳情况</h2>\n<table class=\"record-table\">\n<tbody>\n\
         <tr><th>收集意见建议</th><td>{}</td></tr>\n<tr><th>已公开答复</th><td>{}</td></tr>\n\
         <tr><th>待答复</th><td>{}</td></tr>\n",
        s.collected, s.published, s.awaiting_reply
    );
    for c in &s.by_state {
        let _ = writeln!(h, "<tr><th>{}</th><td>{}</td></tr>", c.label, c.count);
    }
    let t = &p.participation;
    let _ = writeln!(
        h,
        "<tr><th>在线观看峰值</th><td>{}</td></tr>\n<tr><th>线上参与网友</th><td>{}</td></tr>\n<tr><th>线上提问</th><td>{}</td></tr>\n<tr><th>线上评论</th><td>{}</td></tr>\n\
         <tr><th>投票</th><td>{}</td></tr>\n<tr><th>报名人数</th><td>{}</td></tr>\n<tr><th>入选人数</th><td>{}</td></tr>\n\
         <tr><th>定向邀请</th><td>{}</td></tr>\n<tr><th>现场加入</th><td>{}</td></tr>\n\
         <tr><th>按时通知</th><td>{} / {}</td></tr>\n<tr><th>现场签到</th><td>{}</td></tr>",
        t.peak_viewers.map_or_else(|| "—".to_owned(), |n| n.to_string()),
        t.online_participants,
        t.questions,
        t.comments,
        t.votes,
        t.applicants,
        t.chosen,
        t.invited,
        t.walk_ins,
        t.notified_on_time,
        t.notified,
        t.attended
    );
    for g in &t.by_group {
        let _ = writeln!(
            h,
            "<tr><th>到场：{}</th><td>{} / {}</td></tr>",
            e(&g.group),
            g.attended,
            g.on_list
        );
    }
    for l in &t.principal_leaders {
        let who = l.leader.as_deref().map(|x| format!("（{}）", e(x))).unwrap_or_default();
        let said = if l.attended { "出席" } else { "未出席" };
        let _ = writeln!(
            h,
            "<tr><th>{}主要负责同志{who}</th><td>{said}</td></tr>",
            e(&l.unit_name)
        );
    }
    let m = &p.moderation;
    let _ = writeln!(
        h,
        "<tr><th>收到举报</th><td>{}</td></tr>\n<tr><th>举报后隐藏的内容</th><td>{}</td></tr>\n\
         <tr><th>收到申诉</th><td>{}</td></tr>\n<tr><th>申诉成立</th><td>{}</td></tr>",
        m.reports_received, m.hidden_after_reports, m.appeals_received, m.appeals_upheld
    );
    h.push_str("</tbody>\n</table>\n<h3>答复公开</h3>\n");
    closing_list(h, &p.replies, "record-replies", "暂无公开答复。", |h, r| {
        open_said(h, &r.nickname, &r.text, r.state_label);
        if let Some(reason) = &r.reason {
            let _ = write!(h, "<p class=\"record-text\">原因：{}</p>", e(reason));
        }
        let _ = writeln!(
            h,
            "<p class=\"record-a record-text\">答复：{}</p><p class=\"record-meta\">答复单位：{} · 受理日期：{} · 答复日期：{}</p></li>",
            e(&r.reply),
            e(&r.unit_name),
            e(&r.received_date),
            e(&r.reply_date)
        );
    });
}

//! The materials package as workbook sheets: 公告, 问答, 投票结果, 采纳情况, 答复.

use super::MaterialsPackage;
use crate::export::{Cell, Table};

/// The package as workbook sheets: 公告, 问答, 投票结果, 采纳情况 and 答复.
pub(super) fn tables(p: &MaterialsPackage) -> Vec<Table> {
    let a = &p.announcement;
    let mut notice = Table::new("公告", ["项目", "内容"]);
    let rows: [(&str, Cell); 14] = [
        ("活动名称", a.title.as_str().into()),
        ("活动类型", a.kind_label.into()),
        ("主题", a.theme.clone().into()),
        ("主办单位", a.host_units.join("、").into()),
        ("活动形式", a.form_label.into()),
        ("活动简介", a.summary.as_str().into()),
        ("开始时间（北京时间）", a.starts_at.into()),
        ("时长（分钟）", a.duration_minutes.into()),
        ("活动地点", a.venue.clone().into()),
        ("活动流程", a.agenda.clone().into()),
        ("网民参与方式", a.participation.clone().into()),
        ("直播地址", a.stream_url.clone().into()),
        ("视频", p.video_url.clone().into()),
        ("生成时间", p.generated_at.into()),
    ];
    notice.rows = rows.into_iter().map(|(k, v)| vec![k.into(), v]).collect();

    let mut qa = Table::new("问答", ["序号", "提问人", "问题", "点赞数", "现场答复", "提问时间"]);
    qa.rows = p
        .questions
        .iter()
        .map(|q| {
            vec![
                q.number.into(),
                q.nickname.as_str().into(),
                q.text.as_str().into(),
                q.upvotes.into(),
                q.answer.clone().into(),
                q.asked_at.into(),
            ]
        })
        .collect();

    let mut polls = Table::new("投票结果", ["投票", "类型", "状态", "参与人数", "选项", "票数"]);
    for poll in &p.polls {
        let head = |option: Cell, count: Cell| {
            vec![
                poll.title.as_str().into(),
                poll.kind_label.into(),
                poll.status.into(),
                poll.voters.into(),
                option,
                count,
            ]
        };
        if !poll.results_shown {
            polls.rows.push(head("结果未公布".into(), Cell::Empty));
        }
        for c in &poll.counts {
            polls.rows.push(head(c.label.as_str().into(), c.count.into()));
        }
        if let Some(avg) = poll.average {
            polls.rows.push(head("平均分".into(), avg.into()));
        }
    }

    let mut adoption = Table::new("采纳情况", ["项目", "数量"]);
    let s = &p.adoption;
    adoption.rows = [
        ("收集意见建议", s.collected),
        ("已公开答复", s.published),
        ("待答复", s.awaiting_reply),
    ]
    .into_iter()
    .chain(s.by_state.iter().map(|c| (c.label, c.count)))
    .chain([
        ("收到举报", p.moderation.reports_received),
        ("举报后隐藏的内容", p.moderation.hidden_after_reports),
        ("收到申诉", p.moderation.appeals_received),
        ("申诉成立", p.moderation.appeals_upheld),
    ])
    .map(|(k, n)| vec![k.into(), n.into()])
    .collect();

    let mut replies = Table::new(
        "答复",
        [
            "留言人",
            "意见建议",
            "采纳情况",
            "原因",
            "答复",
            "答复单位",
            "受理日期",
            "答复日期",
        ],
    );
    replies.rows = p
        .replies
        .iter()
        .map(|r| {
            vec![
                r.nickname.as_str().into(),
                r.text.as_str().into(),
                r.state_label.into(),
                r.reason.clone().into(),
                r.reply.as_str().into(),
                r.unit_name.as_str().into(),
                r.received_date.as_str().into(),
                r.reply_date.as_str().into(),
            ]
        })
        .collect();
    vec![notice, qa, polls, adoption, replies]
}

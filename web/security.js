// 安全与账号: one's own sessions; for administrators the accounts (disable,
// enable, reset password, reset second factor) and the security log
// (filter, export as CSV). Every action is checked and logged by the server.

import { $, api, button, errorText, rows, say, signedIn, when } from "./dom.js";

const KINDS = {
  sign_in: "登录", sign_in_failed: "登录失败", account_locked: "账号锁定", sign_out: "退出登录",
  session_ended: "会话被结束", password_changed: "修改密码", password_reset: "重置密码",
  account_created: "创建账号", account_changed: "修改账号", account_disabled: "停用账号",
  account_enabled: "启用账号", export_unmasked: "导出未打码个人信息", view_unmasked: "查看未打码个人信息",
  settings_changed: "修改设置", event_changed: "修改活动", second_factor_enrolled: "启用两步验证",
  second_factor_reset: "重置两步验证", recovery_code_used: "使用恢复码",
};
const ROLES = { admin: "管理员", unit_staff: "单位工作人员", moderator: "审核员", host: "主持人" };

async function loadSessions() {
  const list = await api("GET", "/api/auth/sessions");
  rows($("sessions").tBodies[0], list, (s) => [
    ["开始时间", when(s.created_at)],
    ["最近使用", s.last_seen_at ? when(s.last_seen_at) : "—"],
    ["地址", s.ip ?? "—"],
    ["到期", when(s.idle_until ?? s.expires_at)],
    ["操作", button("结束", () => act(api("DELETE", `/api/auth/sessions/${s.id}`), "会话已结束", loadSessions), "secondary")],
  ], "没有其他会话");
}

async function act(promise, done, reload) {
  const msg = $("accounts-msg");
  try {
    const result = await promise;
    say(msg, typeof done === "function" ? done(result) : done, true);
  } catch (err) {
    say(msg, errorText(err));
  }
  await reload();
}

async function loadAccounts() {
  const list = await api("GET", "/api/users");
  rows($("accounts").tBodies[0], list, (u) => {
    const actions = document.createElement("div");
    actions.className = "actions";
    actions.append(
      button(u.active ? "停用" : "启用", () => act(api("PATCH", `/api/users/${u.id}`, { active: !u.active }), u.active ? "已停用，会话已结束" : "已启用", loadAccounts), u.active ? "danger" : "secondary"),
      button("重置密码", () => act(api("POST", `/api/users/${u.id}/password`), (r) => `一次性密码（只显示这一次）：${r.one_time_password}`, loadAccounts), "secondary"),
    );
    if (u.second_factor) {
      actions.append(button("重置两步验证", () => act(api("DELETE", `/api/users/${u.id}/second-factor`), "两步验证已重置", loadAccounts), "secondary"));
    }
    return [
      ["用户名", u.username],
      ["姓名", u.display_name],
      ["角色", ROLES[u.role] ?? u.role],
      ["状态", u.active ? "正常" : "已停用"],
      ["两步验证", u.second_factor ? "已启用" : "未启用"],
      ["操作", actions],
    ];
  });
}

function logQuery() {
  const q = new URLSearchParams();
  for (const [key, id] of [["kind", "log-kind"], ["from", "log-from"], ["to", "log-to"]]) {
    if ($(id).value) q.set(key, $(id).value);
  }
  return q;
}

async function loadLog() {
  const q = logQuery();
  const list = await api("GET", `/api/security-log?${q}`);
  q.set("format", "csv");
  $("log-csv").href = `/api/security-log?${q}`;
  rows($("log").tBodies[0], list, (e) => [
    ["时间", when(e.at)],
    ["类型", KINDS[e.kind] ?? e.kind],
    ["操作人", e.actor_name ?? "—"],
    ["涉及账号", e.subject_name ?? "—"],
    ["登录名", e.username ?? "—"],
    ["地址", e.ip ?? "—"],
    ["详情", e.detail ?? ""],
  ], "没有记录");
}

async function start() {
  const status = $("page-status");
  try {
    const me = await signedIn(["admin", "unit_staff", "moderator", "host"]);
    if (!me) return;
    await loadSessions();
    if (me.role !== "admin") return;
    for (const node of document.querySelectorAll(".admin-only")) node.hidden = false;
    for (const [value, label] of Object.entries(KINDS)) {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = label;
      $("log-kind").append(option);
    }
    $("log-form").addEventListener("submit", (e) => {
      e.preventDefault();
      loadLog().catch((err) => say(status, errorText(err)));
    });
    await Promise.all([loadAccounts(), loadLog()]);
  } catch (err) {
    say(status, `加载失败：${errorText(err)}`);
  }
}

start();

// Staff sign-in: POST /api/auth/login sets the HttpOnly session cookie that
// the console's WebSocket handshake then carries; the token itself is not kept.

const form = document.getElementById("login");
const status = document.getElementById("login-status");

/**
 * Where `next` may send a signed-in user: a path on this site, or else "/".
 * The URL is parsed the way the browser will follow it (which drops tabs and
 * newlines and reads "\\" as "/", so "/\t/evil.example/" is
 * "//evil.example/"); it must stay on this origin and its path start with a
 * single "/".
 */
function safeNext(next, origin) {
  if (!next || !next.startsWith("/")) return "/";
  let url;
  try {
    url = new URL(next, origin);
  } catch {
    return "/";
  }
  if (url.origin !== origin || !url.pathname.startsWith("/") || url.pathname.startsWith("//")) return "/";
  return url.pathname + url.search + url.hash;
}

/**
 * Where to go once signed in: `next` when the link named one, else the
 * account's workspace — the bureau's for an administrator, the unit's for
 * unit staff, and for a moderator or host the console of the one live event
 * they serve, or the programme page (its live events carry the console
 * links) when none or several are live.
 */
async function nextPage() {
  const next = new URLSearchParams(location.search).get("next");
  if (next) return safeNext(next, location.origin);
  if (!staff) return "/";
  if (staff.role === "admin") return "/bureau.html";
  if (staff.role === "unit_staff") return "/unit.html";
  const live = await liveEventsServed(staff);
  return live.length === 1 ? `/moderate.html?event=${encodeURIComponent(live[0].id)}` : "/";
}

/** The live events `who` works for (a moderator or host with a unit: that unit's). */
async function liveEventsServed(who) {
  try {
    const res = await fetch("/api/events", { headers: { accept: "application/json" } });
    if (!res.ok) return [];
    const events = await res.json();
    return events.filter(
      (e) => e.status === "live" && (who.unit_id == null || e.hosts.some((h) => h.id === who.unit_id)),
    );
  } catch {
    return [];
  }
}

/** The signed-in account (`staff` of the sign-in answer), for where to land. */
let staff = null;

const otpRow = document.getElementById("otp-row");

/** Show a new second-factor secret (QR code and text) to add to an authenticator app. */
async function startEnrolment() {
  const res = await fetch("/api/auth/second-factor", { method: "POST" });
  if (!res.ok) {
    status.textContent = "无法开始两步验证设置，请重试。";
    return;
  }
  const shown = await res.json();
  document.getElementById("enrol-qr").src = `data:image/svg+xml;base64,${btoa(shown.qr_svg)}`;
  document.getElementById("enrol-secret").textContent = shown.secret;
  form.hidden = true;
  document.getElementById("enrol").hidden = false;
  document.getElementById("enrol-code").focus();
}

document.getElementById("enrol").addEventListener("submit", async (e) => {
  e.preventDefault();
  const said = document.getElementById("enrol-status");
  const res = await fetch("/api/auth/second-factor/confirm", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ code: document.getElementById("enrol-code").value.trim() }),
  }).catch(() => null);
  if (!res?.ok) {
    said.textContent = "验证码不正确，请核对手机时间后输入最新的验证码。";
    return;
  }
  const { recovery_codes } = await res.json();
  const list = document.getElementById("recovery-codes");
  list.replaceChildren(...recovery_codes.map((c) => Object.assign(document.createElement("li"), { textContent: c })));
  document.getElementById("enrol").hidden = true;
  document.getElementById("recovery").hidden = false;
});

document.getElementById("recovery-done").addEventListener("click", async () => location.assign(await nextPage()));

/** The one-time password just used, for the change that must follow it. */
let oneTime = "";

document.getElementById("change").addEventListener("submit", async (e) => {
  e.preventDefault();
  const said = document.getElementById("change-status");
  const next = document.getElementById("new-password").value;
  if (next !== document.getElementById("new-password-2").value) {
    said.textContent = "两次输入的新密码不一致。";
    return;
  }
  const res = await fetch("/api/auth/password", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ old_password: oneTime, new_password: next }),
  }).catch(() => null);
  if (res?.ok) {
    said.textContent = "密码已设置，正在跳转……";
    location.assign(await nextPage());
    return;
  }
  const error = res ? (await res.json().catch(() => null))?.error : null;
  said.textContent = error?.message ? `未能设置：${error.message}` : "未能设置，请重试。";
});

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const button = document.getElementById("login-button");
  button.disabled = true;
  status.textContent = "";
  try {
    const res = await fetch("/api/auth/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        username: form.username.value.trim(),
        password: form.password.value,
        ...(otpRow.hidden ? {} : { otp: form.otp.value.trim() }),
      }),
    });
    if (res.ok) {
      const body = await res.json();
      staff = body.staff ?? null;
      if (body.must_enrol_second_factor) {
        await startEnrolment();
        return;
      }
      if (body.must_change_password) {
        oneTime = form.password.value;
        form.hidden = true;
        document.getElementById("change").hidden = false;
        document.getElementById("new-password").focus();
        return;
      }
      status.textContent = "登录成功，正在跳转……";
      location.assign(await nextPage());
      return;
    }
    const error = (await res.json().catch(() => null))?.error;
    if (error?.code === "otp_required") {
      otpRow.hidden = false;
      form.otp.focus();
      status.textContent = "请输入两步验证码。";
    } else if (error?.code === "otp_wrong") {
      status.textContent = "验证码不正确或已使用，请输入最新的验证码。";
      form.otp.select();
    } else if (error?.code === "account_locked") {
      const wait = Number(res.headers.get("retry-after")) || 0;
      status.textContent = `密码错误次数过多，账号已临时锁定，请 ${Math.ceil(wait / 60)} 分钟后再试。`;
    } else if (res.status === 429) {
      status.textContent = "尝试过于频繁，请稍后再试。";
    } else {
      status.textContent = res.status === 401 ? "用户名或密码错误。" : "登录失败，请检查后重试。";
    }
  } catch {
    status.textContent = "无法连接服务器，请稍后重试。";
  }
  button.disabled = false;
});

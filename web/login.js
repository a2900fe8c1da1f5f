// Staff sign-in: POST /api/auth/login sets the HttpOnly session cookie that
// the console's WebSocket handshake then carries; the token itself is not kept.

const form = document.getElementById("login");
const status = document.getElementById("login-status");

/** Only a path on this site: never an absolute or protocol-relative URL. */
function nextPage() {
  const next = new URLSearchParams(location.search).get("next");
  return next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const button = document.getElementById("login-button");
  button.disabled = true;
  status.textContent = "";
  try {
    const res = await fetch("/api/auth/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: form.username.value.trim(), password: form.password.value }),
    });
    if (res.ok) {
      status.textContent = "登录成功，正在跳转……";
      location.assign(nextPage());
      return;
    }
    status.textContent = res.status === 401 ? "用户名或密码错误。" : "登录失败，请检查后重试。";
  } catch {
    status.textContent = "无法连接服务器，请稍后重试。";
  }
  button.disabled = false;
});

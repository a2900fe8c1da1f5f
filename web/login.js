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

function nextPage() {
  return safeNext(new URLSearchParams(location.search).get("next"), location.origin);
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

// Verifying a mobile number by text message outside the live room (the
// sign-up page): a code to the number, the code back, a token kept in this
// browser under the live room's key — a person verified in one is verified
// in the other. The number itself is never kept in the browser.

import { VERIFICATION_KEY, api, countdown, errorText, say, store, stored } from "./dom.js";

/** This browser's verification token, or null. */
export function storedVerification() {
  return stored(VERIFICATION_KEY) || null;
}

/** Forget this browser's verification (it expired, or the person wants another number). */
export function forgetVerification() {
  store(VERIFICATION_KEY, "");
}

/**
 * Wire a verification form: `phone` and `code` inputs, the `send` button
 * (获取验证码) and the form's own submit (验证). Enter in the phone field
 * asks for a code; once the code is right the token is kept and
 * `onVerified({verification, phone})` runs (`phone` masked).
 */
export function wireVerification({ form, phone, code, send, status, onVerified }) {
  async function sendCode() {
    const number = phone.value.trim();
    if (!number) {
      say(status, "请输入手机号");
      phone.focus();
      return;
    }
    send.disabled = true;
    try {
      const sent = await api("POST", "/api/verification/code", { phone: number });
      say(status, `验证码已发送至 ${sent.phone}，${Math.round(sent.expires_in_secs / 60)} 分钟内有效。`, true);
      code.focus();
      countdown(send, sent.resend_after_secs);
    } catch (err) {
      say(status, codeError(err));
      send.disabled = false;
    }
  }

  async function confirm() {
    const number = phone.value.trim();
    const digits = code.value.trim();
    if (!number) return say(status, "请输入手机号");
    if (!digits) return sendCode();
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      const verified = await api("POST", "/api/verification", { phone: number, code: digits });
      store(VERIFICATION_KEY, verified.verification);
      code.value = "";
      say(status, `手机号 ${verified.phone} 验证成功。`, true);
      onVerified(verified);
    } catch (err) {
      say(status, codeError(err));
      if (err.code === "code_wrong") code.select();
    } finally {
      submit.disabled = false;
    }
  }

  send.addEventListener("click", sendCode);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    confirm();
  });
}

/** The verification routes' errors in words (tries left, when to ask again). */
function codeError(err) {
  if (err.code === "code_wrong") {
    const left = err.details?.tries_left;
    return left === undefined ? "验证码不正确" : `验证码不正确，还可以再试 ${left} 次`;
  }
  if (err.code === "code_expired") return "验证码已失效，请重新获取";
  if (err.code === "too_many_codes") return "获取验证码太频繁，请稍后再试";
  if (err.code === "invalid") return err.details?.field === "code" ? "验证码是短信中的 6 位数字" : "请输入正确的 11 位手机号";
  return errorText(err);
}

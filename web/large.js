// 大字版: the elder-friendly mode of the public and viewer pages (larger
// type, higher contrast, one column; the rules are in large.css), remembered
// per browser under "minsheng.large" (beside the other keys of dom.js).
//
// A classic script loaded in <head>, before the page's stylesheets apply to
// the body: it sets `large` on <html> before the first paint, so the page
// never shows in normal size first. Once the document is parsed it wires the
// page's switch, a button#large-switch with aria-pressed. No module: a
// module runs only after parsing, too late for the first paint.
(() => {
  const KEY = "minsheng.large";
  const root = document.documentElement;
  const stored = () => {
    try {
      return localStorage.getItem(KEY) === "1";
    } catch {
      return false; // storage refused (private mode, policy): normal size
    }
  };
  const show = (on) => {
    root.classList.toggle("large", on);
    const button = document.getElementById("large-switch");
    if (button) button.setAttribute("aria-pressed", String(on));
  };
  show(stored());
  document.addEventListener("DOMContentLoaded", () => {
    const button = document.getElementById("large-switch");
    if (!button) return;
    show(root.classList.contains("large"));
    button.hidden = false;
    button.addEventListener("click", () => {
      const on = !root.classList.contains("large");
      try {
        localStorage.setItem(KEY, on ? "1" : "0");
      } catch {
        // Not remembered, but still switched for this page.
      }
      show(on);
    });
  });
  // Switched in another tab of this browser: follow it.
  window.addEventListener("storage", (e) => {
    if (e.key === KEY) show(e.newValue === "1");
  });
})();

// claimwatch desk: the little behaviour the pages need, with no inline script (the
// Content-Security-Policy allows scripts from the desk itself only).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // tabs: <div class="tabs" data-tabs> buttons with aria-controls switch panels
  for (const tabs of document.querySelectorAll("[data-tabs]")) {
    const buttons = [...tabs.querySelectorAll("button[aria-controls]")];
    for (const button of buttons) {
      button.addEventListener("click", () => {
        for (const other of buttons) {
          const selected = other === button;
          other.setAttribute("aria-selected", String(selected));
          document.getElementById(other.getAttribute("aria-controls")).hidden = !selected;
        }
      });
    }
  }
  // the review form: the new-verdict field matters only for "revised"
  for (const form of document.querySelectorAll("form[data-review]")) {
    const verdict = form.querySelector("[data-verdict]");
    const sync = () => {
      const revised = form.querySelector("input[name=decision]:checked")?.value === "revised";
      verdict.hidden = !revised;
      verdict.querySelector("input").required = revised;
    };
    form.addEventListener("change", sync);
    sync();
  }
});

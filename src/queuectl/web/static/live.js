// The dashboard's only script: no build step, nothing fetched from elsewhere.
// 1. Elements with data-live="/live/…" are kept current: the server sends their new
//    HTML (rendered and escaped on the server, like every page) as server-sent events.
// 2. <pre data-stream="/live/jobs/ID/output"> shows a running job's output as it comes.
// 3. Forms with data-confirm="question" ask first; a yes adds confirm=yes, which the
//    server requires for destructive actions (without it, it asks on a page of its own).
"use strict";

(function () {
  const indicator = () => document.getElementById("connection");

  function showConnection(ok) {
    const el = indicator();
    if (!el) return;
    el.hidden = false;
    el.textContent = ok ? "live" : "reconnecting…";
    el.classList.toggle("lost", !ok);
  }

  function keepCurrent(el) {
    const source = new EventSource(el.dataset.live);
    source.addEventListener("open", () => showConnection(true));
    source.addEventListener("error", () => showConnection(false));
    source.addEventListener("fragment", (message) => {
      const update = JSON.parse(message.data);
      const target = document.getElementById(update.id);
      if (target) target.innerHTML = update.html;
    });
    // the job is gone or the queue cannot be read: stop asking (a reload says why)
    source.addEventListener("end", () => source.close());
  }

  function follow(pre) {
    const source = new EventSource(pre.dataset.stream);
    let fresh = true;
    source.addEventListener("open", () => {
      fresh = true; // a reconnected stream starts from the beginning of the output again
    });
    source.addEventListener("output", (message) => {
      if (fresh) {
        pre.textContent = "";
        fresh = false;
      }
      const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.textContent += JSON.parse(message.data);
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    });
    source.addEventListener("end", () => {
      source.close();
      if (fresh) pre.textContent = "(no output)";
      pre.dataset.ended = "yes";
    });
  }

  function askFirst(event) {
    const form = event.target;
    const question = form.dataset && form.dataset.confirm;
    if (!question) return;
    if (!window.confirm(question)) {
      event.preventDefault();
      return;
    }
    const yes = document.createElement("input");
    yes.type = "hidden";
    yes.name = "confirm";
    yes.value = "yes";
    form.appendChild(yes);
  }

  document.addEventListener("submit", askFirst);
  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-live]").forEach(keepCurrent);
    document.querySelectorAll("pre[data-stream]").forEach(follow);
  });
})();

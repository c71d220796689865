// The dashboard's only script: no build step, nothing fetched from elsewhere.
// 1. Elements with data-live="/live/…" are kept current: the server sends their new
//    HTML (rendered and escaped on the server, like every page) as server-sent events.
// 2. <pre data-stream="/live/jobs/ID/output"> shows a running job's output as it comes.
// 3. Forms with data-confirm="question" ask first; a yes adds confirm=yes, which the
//    server requires for destructive actions (without it, it asks on a page of its own).
// A stream the server refuses (too many live views: 429 or 503) is not retried at once
// by the browser: the page says "not live" and asks again every SLOW_RETRY.
"use strict";

(function () {
  const SLOW_RETRY = 30000; // ms
  const indicator = () => document.getElementById("connection");

  function showConnection(ok, text) {
    const el = indicator();
    if (!el) return;
    el.hidden = false;
    el.textContent = ok ? "live" : text || "reconnecting…";
    el.classList.toggle("lost", !ok);
  }

  // open() again later when the browser has given the stream up (an HTTP error)
  function retrySlowly(source, open) {
    if (source.readyState !== EventSource.CLOSED) return false;
    showConnection(false, "not live: reload for news");
    setTimeout(open, SLOW_RETRY);
    return true;
  }

  function keepCurrent(el) {
    const source = new EventSource(el.dataset.live);
    source.addEventListener("open", () => showConnection(true));
    source.addEventListener("error", () => {
      if (!retrySlowly(source, () => keepCurrent(el))) showConnection(false);
    });
    source.addEventListener("fragment", (message) => {
      const update = JSON.parse(message.data);
      const target = document.getElementById(update.id);
      // not while the user types in it (a pause's reason): the next update brings news
      const typing = target && target.contains(document.activeElement) && document.activeElement.tagName === "INPUT";
      if (target && !typing) target.innerHTML = update.html;
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
    source.addEventListener("error", () => retrySlowly(source, () => follow(pre)));
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

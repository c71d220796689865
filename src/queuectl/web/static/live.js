// The dashboard's only script: no build step, nothing fetched from elsewhere.
// 1. Elements with data-live="/live/…" are kept current: the server sends their new
//    HTML (rendered and escaped on the server, like every page) as server-sent events.
// 2. <pre data-stream="/live/jobs/ID/output"> shows a running job's output as it comes.
// 3. Forms with data-confirm="question" ask first; a yes adds confirm=yes, which the
//    server requires for destructive actions (without it, it asks on a page of its own).
// 4. Times: <time> elements are shown in UTC or in the browser's zone (the #clock button
//    toggles; the choice is kept in localStorage). Ticked rows stay ticked across updates.
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
      const focused = document.activeElement;
      const typing = target && target.contains(focused) && focused.tagName === "INPUT" && focused.type !== "checkbox";
      if (!target || typing) return;
      const ticked = new Set(Array.from(target.querySelectorAll("input[type=checkbox]:checked"), (box) => box.value));
      target.innerHTML = update.html;
      target.querySelectorAll("input[type=checkbox]").forEach((box) => {
        if (ticked.has(box.value)) box.checked = true;
      });
      showTimes(target);
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

  // UTC as the server wrote it, or the browser's own zone
  const CLOCK = "queuectl.clock";
  function local() {
    try {
      return localStorage.getItem(CLOCK) === "local";
    } catch (e) {
      return false;
    }
  }

  function showTimes(root) {
    const inLocal = local();
    root.querySelectorAll("time[datetime]").forEach((el) => {
      if (!el.dataset.utc) el.dataset.utc = el.classList.contains("at") ? el.textContent : el.title;
      const shown = inLocal ? new Date(el.getAttribute("datetime")).toLocaleString() : el.dataset.utc;
      if (el.classList.contains("at")) el.textContent = shown;
      else el.title = shown;
    });
    const button = document.getElementById("clock");
    if (button) button.textContent = inLocal ? "local time" : "UTC";
  }

  function toggleClock() {
    try {
      localStorage.setItem(CLOCK, local() ? "utc" : "local");
    } catch (e) {
      return;
    }
    showTimes(document);
  }

  // a header box ticks or unticks every row of its table
  function selectAll(event) {
    const box = event.target;
    if (!box.matches || !box.matches("input[data-select-all]")) return;
    const table = box.closest("table");
    table.querySelectorAll("tbody input[type=checkbox]").forEach((row) => {
      row.checked = box.checked;
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
  document.addEventListener("change", selectAll);
  document.addEventListener("DOMContentLoaded", () => {
    showTimes(document);
    const clock = document.getElementById("clock");
    if (clock) clock.addEventListener("click", toggleClock);
    document.querySelectorAll("[data-live]").forEach(keepCurrent);
    document.querySelectorAll("pre.output").forEach((pre) => {
      pre.scrollTop = pre.scrollHeight; // the end of the output first
    });
    document.querySelectorAll("pre[data-stream]").forEach(follow);
  });
})();

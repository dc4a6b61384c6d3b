/*
 * Keeps the parcel page fresh while the parcel can still change (open, or on its way).
 *
 * <div data-live-url="/parcels/7/status/" data-live-seconds="10" data-version="...">: every few
 * seconds, GET that URL (an HTML fragment rendered by the same templates as the page). When its
 * data-version differs, each [data-live-part] of the page is replaced by the fragment's part of
 * the same name. Nothing is swapped while the user is typing in one of those parts; an open
 * <details> stays open. Polling stops when the fragment says data-live="false" (delivered,
 * cancelled, expired), on a 4xx or a redirect (logged out), and pauses while the tab is hidden.
 */
(function () {
  "use strict";

  var page = document.querySelector("[data-live-url]");
  if (!page || !window.fetch || !window.DOMParser) return;
  var url = page.getAttribute("data-live-url");
  var every = Math.max(2, Number(page.getAttribute("data-live-seconds")) || 10) * 1000;
  var STOP = {};

  function typingInLivePart() {
    var el = document.activeElement;
    return !!(
      el &&
      /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName) &&
      el.closest("[data-live-part]")
    );
  }

  function swap(root) {
    var parts = root.querySelectorAll("[data-live-part]");
    Array.prototype.forEach.call(parts, function (fresh) {
      var name = fresh.getAttribute("data-live-part");
      var old = page.querySelector('[data-live-part="' + name + '"]');
      if (!old) return;
      var open = Array.prototype.map.call(old.querySelectorAll("details[open][id]"), function (d) {
        return d.id;
      });
      var node = document.importNode(fresh, true);
      open.forEach(function (id) {
        var details = node.querySelector("#" + id);
        if (details) details.open = true;
      });
      old.replaceWith(node);
    });
    page.setAttribute("data-version", root.getAttribute("data-version"));
    page.setAttribute("data-status", root.getAttribute("data-status"));
    page.dispatchEvent(new CustomEvent("parcel:updated", { bubbles: true }));
  }

  function schedule() {
    window.setTimeout(tick, every);
  }

  function tick() {
    if (document.hidden) return schedule();
    fetch(url, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "text/html", "X-Requested-With": "fetch" },
    })
      .then(function (response) {
        if (response.redirected || (response.status >= 400 && response.status < 500)) throw STOP;
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var root = doc.querySelector("[data-live-root]");
        if (!root) throw STOP;
        var changed = root.getAttribute("data-version") !== page.getAttribute("data-version");
        if (changed && typingInLivePart()) return schedule(); // try again next time
        if (changed) swap(root);
        if (root.getAttribute("data-live") === "true") schedule();
      })
      .catch(function (error) {
        if (error !== STOP) schedule(); // a network hiccup: keep trying
      });
  }

  schedule();
})();

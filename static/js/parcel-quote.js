/*
 * "Get a quote": sends the fields the price depends on to the quote endpoint and shows the
 * price and its split before the parcel is posted. The posted parcel is quoted again on save.
 */
(function () {
  "use strict";

  function init() {
    var form = document.getElementById("parcel-form");
    var button = document.getElementById("get-quote");
    var out = document.getElementById("quote-result");
    if (!form || !button || !out || !window.fetch) return;

    function show(html, kind) {
      out.innerHTML = html;
      out.className = "quote-result" + (kind ? " quote-" + kind : "");
    }

    function escape(text) {
      var div = document.createElement("div");
      div.textContent = String(text);
      return div.innerHTML;
    }

    button.addEventListener("click", function () {
      var data = new FormData(form);
      data.delete("photo");
      data.delete("photo-clear");
      button.disabled = true;
      show("Calculating…", "pending");
      fetch(form.dataset.quoteUrl, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { Accept: "application/json", "X-Requested-With": "XMLHttpRequest" },
      })
        .then(function (response) {
          return response.json().catch(function () {
            return { ok: false, message: "The quote is not available right now." };
          });
        })
        .then(function (body) {
          if (body.ok) {
            var d = body.display;
            show(
              "Price: <strong data-testid=\"quote-total\">" + escape(d.price_total) + "</strong>" +
                " <span class=\"muted\">(" + escape(d.distance_km) + "; platform fee " +
                escape(d.platform_fee) + ", courier " + escape(d.courier_share) + ")</span>",
              "ok"
            );
          } else {
            show(escape(body.message || "The quote is not available right now."), "error");
          }
        })
        .catch(function () {
          show("The quote is not available right now. Check your connection.", "error");
        })
        .then(function () {
          button.disabled = false;
        });
    });

    // A quote is stale once the inputs it depends on change.
    ["change", "parcel-map:change"].forEach(function (type) {
      form.addEventListener(type, function (e) {
        if (out.classList.contains("quote-ok") && (!e.target || e.target.name !== "photo")) {
          show("The details changed: get a new quote.", "");
        }
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();

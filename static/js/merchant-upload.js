// The CSV upload page: poll the status until the upload is done, moving the progress bar;
// then reload once to show the per-row results.
(function () {
  "use strict";
  var box = document.querySelector("[data-testid=upload-progress]");
  if (!box || box.dataset.status === "done" || box.dataset.status === "failed") return;
  var bar = box.querySelector("progress");
  function show(name, value) {
    var el = box.querySelector("[data-role=" + name + "]");
    if (el) el.textContent = value;
  }
  function poll() {
    fetch(box.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        bar.max = s.total;
        bar.value = s.processed;
        show("processed", s.processed);
        show("created", s.created);
        show("failed", s.failed);
        show("status", s.status);
        if (s.status === "done" || s.status === "failed") {
          window.location.reload();
        } else {
          window.setTimeout(poll, 1000);
        }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
})();

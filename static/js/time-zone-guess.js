// Sign-up: tell the server the browser's time zone (an IANA name such as "Europe/Berlin"), so
// that the new account sees times in it. The server keeps only names it knows.
(function () {
  "use strict";
  var zone = "";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (e) {
    zone = "";
  }
  document.querySelectorAll("input[data-time-zone-guess]").forEach(function (input) {
    if (!input.value) input.value = zone;
  });
})();

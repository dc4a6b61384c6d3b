/*
 * The live panel of a delivery's chat page (templates/chat/delivery_chat.html).
 *
 * <section data-chat data-ws-path="/ws/deliveries/7/chat/" data-messages-url="/api/v1/..."
 *          data-user-id="3" data-can-post="true" data-live="true" data-other-read="12" ...>
 *
 * - Opens a WebSocket to ws(s)://<this host><data-ws-path> (the session cookie logs it in) and, on
 *   every (re)connect, fetches what it missed from the REST history (?since_id=<last id shown>),
 *   so nothing sent while it was away is lost. Messages are shown once each, by id.
 * - Text goes over the socket (over REST when the socket is down); a photo is posted to the REST
 *   endpoint as multipart, after the same type and size checks the server makes.
 * - Shows "... is typing" from the others, sends its own typing at most every 2.5 s, sends a read
 *   receipt for the newest message while the page is visible, and shows "Seen" under the newest
 *   of my messages the other party has read.
 * - Reconnects with a growing delay after a dropped connection; not after a refusal (4401, 4403,
 *   4404) or once the conversation is closed (4409).
 * - Message text is always inserted as text (textContent), never as HTML.
 * The section's data-state says "connecting", "live" or "closed" (data-close-code then holds the
 * code). Without WebSocket support the page still works: the form posts to the page itself.
 */
(function () {
  "use strict";

  var root = document.querySelector("[data-chat]");
  if (!root || !window.WebSocket || !window.fetch || !window.FormData) return;

  var IMAGE_TYPES = ["image/jpeg", "image/png", "image/webp"];
  var TYPING_SEND_MS = 2500;
  var TYPING_SHOW_MS = 4000;
  var REFUSED = { 4401: "Log in again to chat.", 4403: "You are not part of this conversation.",
    4404: "This conversation does not exist." };

  var me = Number(root.getAttribute("data-user-id"));
  var wsPath = root.getAttribute("data-ws-path");
  var messagesUrl = root.getAttribute("data-messages-url");
  var canPost = root.getAttribute("data-can-post") === "true";
  var live = root.getAttribute("data-live") === "true";
  var maxLength = Number(root.getAttribute("data-max-length")) || 2000;
  var maxBytes = Number(root.getAttribute("data-max-bytes")) || 5242880;
  var otherRead = Number(root.getAttribute("data-other-read")) || 0;

  var log = root.querySelector("[data-chat-log]");
  var statusLine = root.querySelector("[data-chat-status]");
  var typingLine = root.querySelector("[data-chat-typing]");
  var form = root.querySelector("[data-chat-form]");
  var input = root.querySelector("[data-chat-input]");
  var imageInput = root.querySelector("[data-chat-image]");
  var counter = root.querySelector("[data-chat-counter]");
  var olderButton = root.querySelector("[data-chat-older]");

  var socket = null;
  var retryMs = 1000;
  var lastTypingSent = 0;
  var typingTimer = null;
  var readSent = 0;
  var refs = 0;
  var pending = {};
  var olderUrl = null;

  function csrfToken() {
    var field = form && form.elements.csrfmiddlewaretoken;
    return field ? field.value : "";
  }

  function status(text, isError) {
    statusLine.textContent = text || "";
    statusLine.classList.toggle("error", !!isError);
  }

  function ids() {
    return Array.prototype.map.call(log.querySelectorAll("[data-id]"), function (li) {
      return Number(li.getAttribute("data-id"));
    });
  }

  function lastId() {
    return ids().reduce(function (a, b) { return Math.max(a, b); }, 0);
  }

  function firstId() {
    var all = ids();
    return all.length ? Math.min.apply(Math, all) : 0;
  }

  function timeText(iso) {
    var when = new Date(iso);
    if (isNaN(when.getTime())) return "";
    return when.toLocaleString([], { weekday: "short", day: "numeric", month: "short",
      hour: "2-digit", minute: "2-digit" });
  }

  function nearBottom() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  }

  function scrollDown() {
    log.scrollTop = log.scrollHeight;
  }

  function build(m) {
    var li = document.createElement("li");
    li.className = "chat-msg" + (m.sender_id === me ? " mine" : "") +
      (m.sender_role === "support" ? " support" : "");
    li.setAttribute("data-id", String(m.id));
    li.setAttribute("data-sender-id", String(m.sender_id));
    li.setAttribute("data-testid", "chat-message");
    var meta = document.createElement("span");
    meta.className = "chat-meta";
    var who = m.sender_id === me ? "You" : m.sender_name +
      (m.sender_role === "support" ? " (Waypost support)" : "");
    meta.appendChild(document.createTextNode(who + " · "));
    var time = document.createElement("time");
    time.setAttribute("datetime", m.created_at);
    time.textContent = timeText(m.created_at);
    meta.appendChild(time);
    li.appendChild(meta);
    if (m.body) {
      var body = document.createElement("p");
      body.className = "chat-body";
      body.textContent = m.body;
      li.appendChild(body);
    }
    if (m.image_url) {
      var link = document.createElement("a");
      link.href = m.image_url;
      link.target = "_blank";
      link.rel = "noopener";
      var img = document.createElement("img");
      img.className = "chat-image";
      img.src = m.image_url;
      img.alt = "Photo from " + m.sender_name;
      img.loading = "lazy";
      link.appendChild(img);
      li.appendChild(link);
    }
    return li;
  }

  /* Insert or replace a message, kept in id order. */
  function show(m) {
    var empty = log.querySelector("[data-chat-empty]");
    if (empty) empty.remove();
    var stick = nearBottom() || m.sender_id === me;
    var node = build(m);
    var old = log.querySelector('[data-id="' + m.id + '"]');
    if (old) {
      old.replaceWith(node);
    } else {
      var after = null;
      Array.prototype.some.call(log.querySelectorAll("[data-id]"), function (li) {
        if (Number(li.getAttribute("data-id")) > m.id) { after = li; return true; }
        return false;
      });
      log.insertBefore(node, after);
      if (stick && !after) scrollDown();
    }
    updateSeen();
  }

  function updateSeen() {
    Array.prototype.forEach.call(log.querySelectorAll("[data-chat-seen]"), function (el) {
      el.remove();
    });
    var mine = Array.prototype.filter.call(log.querySelectorAll("[data-id]"), function (li) {
      return Number(li.getAttribute("data-sender-id")) === me &&
        Number(li.getAttribute("data-id")) <= otherRead;
    });
    if (!mine.length) return;
    var seen = document.createElement("span");
    seen.className = "chat-seen";
    seen.setAttribute("data-chat-seen", "");
    seen.textContent = "Seen";
    mine[mine.length - 1].appendChild(seen);
  }

  function getJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      });
  }

  function errorText(data, fallback) {
    var error = data && data.error;
    if (!error) return fallback;
    var fields = error.fields || {};
    var first = Object.keys(fields).map(function (k) { return [].concat(fields[k])[0]; })[0];
    return first || error.message || fallback;
  }

  /* Everything after `sinceId`, following the cursor pages. */
  function fetchSince(sinceId) {
    function page(url) {
      return getJson(url).then(function (data) {
        data.results.forEach(show);
        if (data.next) return page(data.next);
        return null;
      });
    }
    return page(messagesUrl + "?since_id=" + sinceId);
  }

  function catchUp() {
    return fetchSince(lastId()).then(sendRead).catch(function () {
      status("Could not load new messages; they will appear after a reload.", true);
    });
  }

  function loadOlder() {
    var url = olderUrl || messagesUrl + "?before_id=" + firstId();
    var height = log.scrollHeight;
    olderButton.disabled = true;
    getJson(url).then(function (data) {
      data.results.forEach(show);
      log.scrollTop += log.scrollHeight - height;
      olderUrl = data.next;
      olderButton.disabled = false;
      if (!data.next) olderButton.hidden = true;
    }).catch(function () {
      olderButton.disabled = false;
      status("Could not load earlier messages.", true);
    });
  }

  function send(frame) {
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  function sendRead() {
    if (document.visibilityState !== "visible") return;
    var newest = lastId();
    if (newest > readSent && send({ type: "read", message_id: newest })) readSent = newest;
  }

  function showTyping(name) {
    typingLine.textContent = name + " is typing…";
    window.clearTimeout(typingTimer);
    typingTimer = window.setTimeout(function () { typingLine.textContent = ""; }, TYPING_SHOW_MS);
  }

  function closeForm(text) {
    canPost = false;
    if (form) {
      Array.prototype.forEach.call(form.elements, function (el) { el.disabled = true; });
    }
    status(text, false);
  }

  function onFrame(event) {
    var frame;
    try { frame = JSON.parse(event.data); } catch (e) { return; }
    if (frame.type === "message") {
      show(frame);
      if (frame.sender_id !== me) {
        typingLine.textContent = "";
        sendRead();
      }
    } else if (frame.type === "typing") {
      showTyping(frame.name || "Someone");
    } else if (frame.type === "read") {
      if (frame.user_id !== me) {
        otherRead = Math.max(otherRead, frame.message_id);
        updateSeen();
      }
    } else if (frame.type === "conversation") {
      // Contact sharing changed: fetch the shown messages again, masked or not.
      fetchSince(Math.max(firstId() - 1, 0)).catch(function () {});
    } else if (frame.type === "error") {
      if (frame.ref && pending[frame.ref] && input && !input.value) {
        input.value = pending[frame.ref];
      }
      status(errorText({ error: frame }, "That did not work."), true);
    }
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + wsPath);
    root.setAttribute("data-state", "connecting");
    socket.addEventListener("open", function () {
      root.setAttribute("data-state", "live");
      retryMs = 1000;
      readSent = 0;
      status("");
      catchUp();
    });
    socket.addEventListener("message", onFrame);
    socket.addEventListener("close", function (event) {
      socket = null;
      root.setAttribute("data-state", "closed");
      root.setAttribute("data-close-code", String(event.code));
      if (event.code === 4409) return closeForm("This conversation is closed to new messages.");
      if (REFUSED[event.code]) return closeForm(REFUSED[event.code]);
      status("Connection lost; reconnecting…", true);
      window.setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 30000);
    });
  }

  function postRest(body, file) {
    var headers = { Accept: "application/json", "X-CSRFToken": csrfToken() };
    var payload;
    if (file) {
      payload = new FormData();
      payload.append("body", body);
      payload.append("image", file);
    } else {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify({ body: body });
    }
    return fetch(messagesUrl, { method: "POST", credentials: "same-origin", headers: headers,
      body: payload })
      .then(function (response) {
        return response.json().catch(function () { return null; }).then(function (data) {
          if (!response.ok) throw new Error(errorText(data, "Could not send that."));
          return data;
        });
      });
  }

  function onSubmit(event) {
    event.preventDefault();
    if (!canPost) return;
    var body = input.value.trim();
    var file = imageInput && imageInput.files[0];
    if (!body && !file) return;
    if (body.length > maxLength) {
      return status("A message may be at most " + maxLength + " characters long.", true);
    }
    if (file) {
      if (IMAGE_TYPES.indexOf(file.type) < 0) {
        return status("Send a photo as a JPEG, PNG or WebP image.", true);
      }
      if (file.size > maxBytes) {
        return status("A photo may be at most " + (maxBytes / 1048576) + " MB.", true);
      }
    }
    status("");
    if (!file) {
      var ref = "m" + (++refs);
      pending[ref] = body;
      if (send({ type: "message", body: body, ref: ref })) {
        input.value = "";
        updateCounter();
        return;
      }
    }
    var button = form.querySelector("[type=submit]");
    button.disabled = true;
    postRest(body, file).then(function (message) {
      show(message);
      input.value = "";
      if (imageInput) imageInput.value = "";
      updateCounter();
    }).catch(function (error) {
      status(error.message, true);
    }).then(function () {
      button.disabled = false;
    });
  }

  function updateCounter() {
    if (!counter || !input) return;
    var left = maxLength - input.value.length;
    counter.textContent = left < maxLength * 0.2 ? left + " characters left" : "";
  }

  function onInput() {
    updateCounter();
    var now = Date.now();
    if (input.value && now - lastTypingSent > TYPING_SEND_MS && send({ type: "typing" })) {
      lastTypingSent = now;
    }
  }

  Array.prototype.forEach.call(log.querySelectorAll("time[datetime]"), function (el) {
    el.textContent = timeText(el.getAttribute("datetime")) || el.textContent;
  });
  updateSeen();
  scrollDown();
  if (olderButton) olderButton.addEventListener("click", loadOlder);
  if (form && input) {
    form.addEventListener("submit", onSubmit);
    input.addEventListener("input", onInput);
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit ? form.requestSubmit() : onSubmit(event);
      }
    });
  }
  document.addEventListener("visibilitychange", sendRead);
  if (live) connect();
})();

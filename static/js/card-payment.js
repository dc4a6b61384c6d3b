/*
 * Card forms (paying for a parcel, tipping the courier) with Stripe.js.
 *
 * <form data-card-form action="/parcels/7/pay/"> holds a <div data-card-element>, where Stripe.js
 * mounts its card field, and the CSRF token. Stripe.js is loaded by the page from
 * settings.STRIPE_JS_URL (localstripe's stand-in in development and tests), with the publishable
 * key in <script id="stripe-config">. On submit:
 *
 *   1. stripe.createToken(card): the card goes from the browser to Stripe only; we get a token.
 *   2. POST the token (and the form's other fields) to the form's action. The answer is JSON:
 *      {status: "succeeded", redirect} | {status: "requires_action", client_secret, sync_url}
 *      | {status: "error", message, redirect?}.
 *   3. On requires_action, stripe.confirmCardPayment(client_secret) lets the bank check the
 *      shipper (3-D Secure), then POST sync_url, which re-reads the payment from Stripe and
 *      answers as in 2.
 *
 * Errors are shown in the form's [data-card-error], and the form can be sent again.
 */
(function () {
  "use strict";

  var GENERIC = "The payment could not be completed. Check your connection and try again.";

  function config() {
    var node = document.getElementById("stripe-config");
    try {
      return node ? JSON.parse(node.textContent) : {};
    } catch (e) {
      return {};
    }
  }

  function UserError(message, redirect) {
    this.message = message;
    this.redirect = redirect || "";
  }

  // Go to `url`; on the same page (the tip form, "#tip") load it again, to show the result.
  function go(url) {
    var target = new URL(url, window.location.href);
    var here = window.location;
    if (target.pathname === here.pathname && target.search === here.search) {
      here.hash = target.hash;
      here.reload();
    } else {
      here.assign(target.href);
    }
  }

  function post(url, data) {
    return fetch(url, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: {
        Accept: "application/json",
        "X-CSRFToken": data.get("csrfmiddlewaretoken") || "",
        "X-Requested-With": "fetch",
      },
    }).then(function (response) {
      return response.json().catch(function () {
        throw new UserError(
          response.status === 403
            ? "Your session has expired. Reload the page and try again."
            : GENERIC
        );
      });
    });
  }

  function setup(form, stripe) {
    var mountPoint = form.querySelector("[data-card-element]");
    var errorBox = form.querySelector("[data-card-error]");
    var progress = form.querySelector("[data-card-progress]");
    var button = form.querySelector("[type=submit]");
    var idle = button.textContent;

    function showError(message) {
      errorBox.textContent = message;
      errorBox.hidden = !message;
      mountPoint.classList.toggle("card-element-error", !!message);
    }

    function busy(text) {
      progress.textContent = text || "";
      button.disabled = !!text;
      button.textContent = text ? "Please wait…" : idle;
      form.setAttribute("aria-busy", text ? "true" : "false");
    }

    if (!stripe) {
      showError("The card field could not be loaded. Reload the page to try again.");
      return;
    }
    var card = stripe.elements().create("card", { hidePostalCode: false });
    card.mount(mountPoint);
    card.on("change", function (event) {
      // Stripe.js reports what is wrong as the shipper types (the stand-in reports nothing).
      showError(event && event.error ? event.error.message : "");
    });
    button.disabled = false;

    function answer(body) {
      if (body.status === "succeeded") {
        busy("Paid. Taking you back to the parcel…");
        go(body.redirect);
        return null;
      }
      if (body.status === "requires_action" && body.client_secret) {
        busy("Your bank asks you to confirm the payment…");
        return stripe.confirmCardPayment(body.client_secret).then(function (result) {
          busy("Checking the payment…");
          var data = new FormData();
          data.set("csrfmiddlewaretoken", form.elements.csrfmiddlewaretoken.value);
          return post(body.sync_url, data).then(function (synced) {
            if (synced.status === "succeeded") return answer(synced);
            var why = result && result.error && result.error.message;
            throw new UserError(synced.message || why || GENERIC, synced.redirect);
          });
        });
      }
      throw new UserError(body.message || GENERIC, body.redirect);
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (button.disabled) return;
      showError("");
      busy("Checking the card…");
      Promise.resolve()
        .then(function () {
          return stripe.createToken(card);
        })
        .catch(function () {
          // The stand-in throws on an empty card field instead of answering with an error.
          return { error: { message: "Fill in the card number, expiry date and CVC." } };
        })
        .then(function (result) {
          if (result.error) {
            var message = result.error.message;
            if (!message || message === "Bad request") {
              message = "The card details are incomplete or not valid. Check them and try again.";
            }
            throw new UserError(message);
          }
          busy("Paying…");
          var data = new FormData(form);
          data.set("card_token", result.token.id);
          return post(form.action, data);
        })
        .then(answer)
        .catch(function (error) {
          busy("");
          if (error instanceof UserError) {
            showError(error.message);
            if (error.redirect) {
              // Already paid, or no longer payable: show why, then go to the parcel.
              window.setTimeout(function () {
                go(error.redirect);
              }, 2500);
            }
          } else {
            showError(GENERIC);
          }
        });
    });
  }

  function init() {
    var forms = document.querySelectorAll("form[data-card-form]");
    if (!forms.length) return;
    var key = config().publishableKey;
    var stripe = typeof window.Stripe === "function" && key ? window.Stripe(key) : null;
    Array.prototype.forEach.call(forms, function (form) {
      setup(form, stripe);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();

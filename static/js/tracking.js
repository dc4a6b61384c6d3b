/*
 * The tracking pages' live map (Leaflet, served from our own static files).
 *
 * #tracking-config (Django's json_script) says what to draw and where to listen:
 *   mode "shipper": the route between pickup and drop-off (GeoJSON LineString), the pickup and
 *     drop-off pins, and the courier's marker with its accuracy circle, moved by the
 *     {"type": "position", lat, lon, accuracy_m, at, eta, remaining_m} frames of
 *     /ws/deliveries/<id>/track/.
 *   mode "public": only a circle around the courier's approximate area, from the
 *     {"type": "status", status, status_label, tracking, eta, eta_live, area} frames of
 *     /ws/track/<token>/.
 * A status frame with tracking=false removes the courier from the map (delivered, or not yet
 * picked up). The page's [data-track-*] elements are kept in step with the frames.
 *
 * The socket reconnects after a dropped connection (waiting 1 s, then longer, up to 30 s) but not
 * after a refusal (close codes 4400-4499: see marketplace/core/websocket.py).
 */
(function () {
  "use strict";

  var COURIER_STYLE = { radius: 9, color: "#ffffff", weight: 3, fillColor: "#16a34a", fillOpacity: 1 };
  var ACCURACY_STYLE = { color: "#16a34a", weight: 1, fillOpacity: 0.12 };
  var AREA_STYLE = { color: "#2563eb", weight: 2, fillOpacity: 0.15 };

  function readJson(id, fallback) {
    var el = document.getElementById(id);
    if (!el) return fallback;
    try {
      return JSON.parse(el.textContent);
    } catch (e) {
      return fallback;
    }
  }

  function part(name) {
    return document.querySelector("[data-track-" + name + "]");
  }

  function setText(name, text) {
    var el = part(name);
    if (el) el.textContent = text;
  }

  // "14:05" today, "Tue 14:05" on another day; a dash when unknown.
  function clock(iso, seconds) {
    if (!iso) return "\u2014";
    var when = new Date(iso);
    if (isNaN(when.getTime())) return "\u2014";
    var options = { hour: "2-digit", minute: "2-digit" };
    if (seconds) options.second = "2-digit";
    if (when.toDateString() === new Date().toDateString()) {
      return when.toLocaleTimeString([], options);
    }
    options.weekday = "short";
    return when.toLocaleString([], options);
  }

  function setEta(iso, live) {
    setText("eta", clock(iso, false));
    setText("eta-label", live ? "Expected around" : "Planned for");
  }

  function pinIcon(kind) {
    return L.divIcon({
      className: "map-pin map-pin-" + kind,
      html: "<span><b>" + (kind === "pickup" ? "P" : "D") + "</b></span>",
      iconSize: [30, 30],
      iconAnchor: [15, 30],
    });
  }

  function createMap(el) {
    var config = readJson("map-config", {});
    var center = config.center && config.center.length === 2 ? config.center : [0, 0];
    var map = L.map(el, { scrollWheelZoom: false }).setView(center, config.zoom || 12);
    if (config.tileUrl) {
      var tiles = L.tileLayer(config.tileUrl, { attribution: config.attribution || "", maxZoom: 19 });
      tiles.on("tileerror", function () {
        el.classList.add("map-offline");
      });
      tiles.addTo(map);
    } else {
      el.classList.add("map-offline");
    }
    return map;
  }

  function shipperView(map, config) {
    var bounds = [];
    if (config.route && config.route.type === "LineString") {
      var line = config.route.coordinates.map(function (c) {
        return [c[1], c[0]];
      });
      L.polyline(line, { color: "#2563eb", weight: 4, opacity: 0.8 }).addTo(map);
      bounds = bounds.concat(line);
    }
    ["pickup", "dropoff"].forEach(function (kind) {
      var p = config[kind];
      if (p && p.length === 2) {
        var label = kind === "pickup" ? "Pickup" : "Drop-off";
        L.marker(p, { icon: pinIcon(kind), title: label, alt: label }).addTo(map);
        bounds.push(p);
      }
    });
    if (bounds.length) map.fitBounds(L.latLngBounds(bounds), { padding: [40, 40], maxZoom: 16 });

    var marker = null;
    var accuracy = null;

    function hide() {
      if (marker) map.removeLayer(marker);
      if (accuracy) map.removeLayer(accuracy);
      marker = accuracy = null;
    }

    function show(frame) {
      var at = [frame.lat, frame.lon];
      if (!marker) {
        accuracy = L.circle(at, L.extend({ radius: frame.accuracy_m || 0 }, ACCURACY_STYLE)).addTo(map);
        marker = L.circleMarker(at, COURIER_STYLE).bindTooltip("Courier").addTo(map);
      } else {
        marker.setLatLng(at);
        accuracy.setLatLng(at).setRadius(frame.accuracy_m || 0);
      }
      setEta(frame.eta, true);
      setText("remaining", frame.remaining_m == null ? "\u2014" : frame.remaining_m + " m");
      setText("updated", clock(frame.at, true));
    }

    if (config.position) show(config.position);
    return {
      position: show,
      status: function (frame) {
        setText("status", frame.status_label);
        if (!frame.tracking) {
          hide();
          setText("note", "The courier's position is not shared now.");
        }
      },
    };
  }

  function publicView(map, config) {
    var area = null;

    function show(frame) {
      setText("status", frame.status_label);
      setEta(frame.eta, frame.eta_live);
      if (frame.area) {
        var at = [frame.area.lat, frame.area.lon];
        if (!area) {
          area = L.circle(at, L.extend({ radius: frame.area.radius_m }, AREA_STYLE)).addTo(map);
          map.setView(at, 14);
        } else {
          area.setLatLng(at);
        }
        setText("note", "The circle shows the courier's approximate area.");
      } else if (area) {
        map.removeLayer(area);
        area = null;
        if (!frame.tracking) setText("note", "The courier's area is no longer shown.");
      }
    }

    show(config);
    return { status: show, position: function () {} };
  }

  function listen(path, view) {
    if (!path || !window.WebSocket) return;
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var wait = 1000;

    function open() {
      var socket = new WebSocket(scheme + window.location.host + path);
      socket.onopen = function () {
        wait = 1000;
      };
      socket.onmessage = function (event) {
        var frame;
        try {
          frame = JSON.parse(event.data);
        } catch (e) {
          return;
        }
        if (frame.type === "position") view.position(frame);
        else if (frame.type === "status") view.status(frame);
      };
      socket.onclose = function (event) {
        if (event.code >= 4400 && event.code < 4500) return; // refused: asking again will not help
        window.setTimeout(open, wait);
        wait = Math.min(wait * 2, 30000);
      };
    }

    open();
  }

  function init() {
    var el = document.getElementById("tracking-map");
    var config = readJson("tracking-config", null);
    if (!el || !config) return;
    if (typeof L === "undefined") {
      el.classList.add("map-unavailable");
      el.textContent = "The map could not be loaded. Reload the page to try again.";
      return;
    }
    var map = createMap(el);
    var view = config.mode === "public" ? publicView(map, config) : shipperView(map, config);
    el.dataset.ready = "true";
    listen(config.socket, view);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();

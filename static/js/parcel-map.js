/*
 * The parcel map (Leaflet, served from our own static files).
 *
 * <div id="parcel-map" data-mode="edit">: "Place pickup" / "Place drop-off" choose which point a
 * click on the map places; markers are draggable; the hidden inputs pickup_lat, pickup_lon,
 * dropoff_lat, dropoff_lon follow them. Values already in those inputs (a form shown again after
 * an error, or the edit form) put the markers back.
 * <div id="parcel-map" data-mode="view">: the two points of a parcel, read from #parcel-points.
 *
 * The map settings come from #map-config (Django's json_script of MAP_CONFIG). Tiles that fail to
 * load (offline) leave a plain background; clicks and markers work all the same.
 */
(function () {
  "use strict";

  var POINTS = {
    pickup: { label: "Pickup", letter: "P" },
    dropoff: { label: "Drop-off", letter: "D" },
  };

  function readJson(id, fallback) {
    var el = document.getElementById(id);
    if (!el) return fallback;
    try {
      return JSON.parse(el.textContent);
    } catch (e) {
      return fallback;
    }
  }

  function pinIcon(kind) {
    return L.divIcon({
      className: "map-pin map-pin-" + kind,
      html: "<span><b>" + POINTS[kind].letter + "</b></span>",
      iconSize: [30, 30],
      iconAnchor: [15, 30],
    });
  }

  function createMap(el) {
    var config = readJson("map-config", {});
    var center = config.center && config.center.length === 2 ? config.center : [0, 0];
    var map = L.map(el, { scrollWheelZoom: el.dataset.mode === "edit" }).setView(
      center,
      config.zoom || 12
    );
    if (config.tileUrl) {
      var tiles = L.tileLayer(config.tileUrl, {
        attribution: config.attribution || "",
        maxZoom: 19,
      });
      tiles.on("tileerror", function () {
        el.classList.add("map-offline");
      });
      tiles.addTo(map);
    } else {
      el.classList.add("map-offline");
    }
    return map;
  }

  function fmt(latlng) {
    return latlng.lat.toFixed(5) + ", " + latlng.lng.toFixed(5);
  }

  function fitPoints(map, latlngs) {
    if (latlngs.length === 2) {
      map.fitBounds(L.latLngBounds(latlngs), { padding: [40, 40], maxZoom: 16 });
    } else if (latlngs.length === 1) {
      map.setView(latlngs[0], Math.max(map.getZoom(), 13));
    }
  }

  function initEditMap(el) {
    var form = el.closest("form") || document;
    var map = createMap(el);
    var markers = {};
    var mode = "pickup";
    var buttons = {
      pickup: document.getElementById("place-pickup"),
      dropoff: document.getElementById("place-dropoff"),
    };

    function input(kind, axis) {
      return form.querySelector('input[name="' + kind + "_" + axis + '"]');
    }

    function setMode(kind) {
      mode = kind;
      Object.keys(buttons).forEach(function (k) {
        if (buttons[k]) buttons[k].setAttribute("aria-pressed", k === kind ? "true" : "false");
      });
      el.dataset.placing = kind;
    }

    function showCoords(kind, latlng) {
      var out = document.getElementById(kind + "-coords");
      if (out) out.textContent = latlng ? fmt(latlng) : "not placed yet";
    }

    function store(kind, latlng) {
      var wrapped = latlng.wrap();
      input(kind, "lat").value = wrapped.lat.toFixed(6);
      input(kind, "lon").value = wrapped.lng.toFixed(6);
      showCoords(kind, wrapped);
      form.dispatchEvent(new CustomEvent("parcel-map:change", { detail: { point: kind } }));
    }

    function place(kind, latlng) {
      if (markers[kind]) {
        markers[kind].setLatLng(latlng);
      } else {
        markers[kind] = L.marker(latlng, {
          icon: pinIcon(kind),
          draggable: true,
          title: POINTS[kind].label,
          alt: POINTS[kind].label,
        }).addTo(map);
        markers[kind].on("dragend", function () {
          store(kind, markers[kind].getLatLng());
        });
      }
      store(kind, latlng);
    }

    Object.keys(buttons).forEach(function (kind) {
      if (buttons[kind]) {
        buttons[kind].addEventListener("click", function () {
          setMode(kind);
        });
      }
    });

    map.on("click", function (e) {
      var kind = mode;
      place(kind, e.latlng);
      // After the pickup, the next click most likely places the drop-off.
      if (kind === "pickup" && !markers.dropoff) setMode("dropoff");
    });

    // Put back the markers of a form shown again.
    var restored = [];
    Object.keys(POINTS).forEach(function (kind) {
      var lat = parseFloat(input(kind, "lat").value);
      var lon = parseFloat(input(kind, "lon").value);
      if (isFinite(lat) && isFinite(lon)) {
        var latlng = L.latLng(lat, lon);
        place(kind, latlng);
        restored.push(latlng);
      }
    });
    fitPoints(map, restored);
    setMode(markers.pickup && !markers.dropoff ? "dropoff" : "pickup");
    el.dataset.ready = "true";
  }

  function initViewMap(el) {
    var points = readJson("parcel-points", {});
    var map = createMap(el);
    var latlngs = [];
    Object.keys(POINTS).forEach(function (kind) {
      var p = points[kind];
      if (p && p.length === 2) {
        var latlng = L.latLng(p[0], p[1]);
        L.marker(latlng, { icon: pinIcon(kind), title: POINTS[kind].label, alt: POINTS[kind].label })
          .addTo(map);
        latlngs.push(latlng);
      }
    });
    if (latlngs.length === 2) {
      L.polyline(latlngs, { color: "#2563eb", weight: 3, dashArray: "6 6" }).addTo(map);
    }
    fitPoints(map, latlngs);
    el.dataset.ready = "true";
  }

  function init() {
    var el = document.getElementById("parcel-map");
    if (!el) return;
    if (typeof L === "undefined") {
      el.classList.add("map-unavailable");
      el.textContent = "The map could not be loaded. Reload the page to try again.";
      return;
    }
    if (el.dataset.mode === "edit") {
      initEditMap(el);
    } else {
      initViewMap(el);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();

/*
 * shoppulse tracking script for a shop's pages (README "Security").
 *
 *   <script defer src="https://ANALYTICS-HOST/js/shoppulse.js" data-key="PUBLIC-KEY"></script>
 *
 * Sends a page view on load; shoppulse.track(type, props) sends the rest
 * (click, add_to_cart, remove_from_cart, favorite, purchase; props may carry
 * product_id, category_id, price, quantity). Events are batched and sent as
 * NDJSON with the public key in the Authorization header, by fetch with
 * keepalive (it outlives the page like navigator.sendBeacon, which can set
 * neither that header nor a JSON content type). The visitor is an anonymous
 * random id in localStorage; nothing is sent when Do Not Track or Global
 * Privacy Control is on.
 */
(function () {
  'use strict';
  var TYPES = ['view', 'click', 'add_to_cart', 'remove_from_cart', 'favorite', 'purchase'];
  var PROPS = ['product_id', 'category_id', 'price', 'quantity'];
  var BATCH = 20; // events per request at most
  var DELAY_MS = 2000; // a partial batch waits this long for company

  var script = document.currentScript;
  var key = script && script.getAttribute('data-key');
  var endpoint = script && (script.getAttribute('data-api') || new URL('/api/events', script.src).href);
  var nav = window.navigator || {};
  var optedOut = nav.doNotTrack === '1' || window.doNotTrack === '1' || nav.msDoNotTrack === '1' || nav.globalPrivacyControl === true;

  var queue = [];
  var timer = null;

  function randomId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join('');
  }

  function stored(storage, name) {
    try {
      var s = window[storage];
      var v = s.getItem(name);
      if (!v) {
        v = randomId();
        s.setItem(name, v);
      }
      return v;
    } catch (e) {
      return null; // storage blocked: one id per page load
    }
  }
  var visitor = stored('localStorage', 'shoppulse.visitor') || randomId();
  var session = stored('sessionStorage', 'shoppulse.session') || randomId();

  function flush() {
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    while (queue.length) {
      var batch = queue.splice(0, BATCH);
      var body = batch.map(function (e) { return JSON.stringify(e); }).join('\n');
      try {
        fetch(endpoint, {
          method: 'POST',
          mode: 'cors',
          credentials: 'omit',
          keepalive: true,
          headers: { 'Content-Type': 'application/x-ndjson', Authorization: 'Bearer ' + key },
          body: body,
        }).catch(function () {}); // analytics must never break the shop's page
      } catch (e) {
        /* fetch unavailable or refused synchronously */
      }
    }
  }

  function track(type, props) {
    if (optedOut || !key || !endpoint || TYPES.indexOf(type) < 0) return false;
    var ev = { event_id: randomId(), user_id: visitor, session_id: session, event_type: type, timestamp: new Date().toISOString() };
    props = props || {};
    for (var i = 0; i < PROPS.length; i++) if (props[PROPS[i]] !== undefined && props[PROPS[i]] !== null) ev[PROPS[i]] = props[PROPS[i]];
    queue.push(ev);
    if (queue.length >= BATCH) flush();
    else if (!timer) timer = setTimeout(flush, DELAY_MS);
    return true;
  }

  window.shoppulse = { track: track, flush: flush, visitor: optedOut ? null : visitor };
  document.addEventListener('visibilitychange', function () {
    if (document.visibilityState === 'hidden') flush();
  });
  window.addEventListener('pagehide', flush);
  var page = script && script.getAttribute('data-product');
  track('view', page ? { product_id: page, category_id: script.getAttribute('data-category') || undefined } : {});
})();

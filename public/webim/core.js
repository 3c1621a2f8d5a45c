/*
 * webim.js: the webim browser client (docs/protocol.md, version 1).
 *
 *   var im = new WebIM.Client({ url: '', transport: 'auto' });
 *   im.on('message', function (m) { ... });
 *   im.login('Alice', 'cat', function (err, answer) { ... });
 *   // or, with a token your site signed: im.login(null, null, callback, token);
 *   im.send({ room: 'lobby' }, 'text', 'hi');
 *
 * Written in ES3 so that IE6-8 run it: JSON comes from window.JSON (the page
 * loads json3 where it is missing), SockJS from window.SockJS. The transport
 * is WebSocket, then SockJS, then Comet long-poll (XHR, XDomainRequest or
 * JSONP); `?transport=websocket|sockjs|comet` in the page URL forces one.
 * The client reconnects by itself, logs in again with its token and resume
 * cursors, drops what it has already seen, and retries unacked sends with
 * their original cid.
 *
 * The source is public/webim/*.js; the server joins the parts into one
 * /webim.js (src/http/client-bundle.ts) in this order:
 *   core.js            the WebIM namespace, shared helpers and settings (this file)
 *   storage.js         WebIM.storage: the saved login token and what the page keeps beside it
 *   comet.js           Comet long-poll over XHR, XDomainRequest or JSONP
 *   transports.js      WebSocket and SockJS, and how a transport is chosen
 *   client.js          WebIM.Client: events, connecting, reconnecting, probing
 *   client-session.js  WebIM.Client: login and resume, the send queue, the API
 *   upload.js          WebIM.Client: upload, an image from any page and browser
 * Each part is a script of its own that adds to window.WebIM; this one
 * starts a new WebIM, so it comes first.
 */
var WebIM = (function (window) {
  var jsonp = {};

  function now() { return new Date().getTime(); }
  function noop() {}
  function hasOwn(o, k) { return Object.prototype.hasOwnProperty.call(o, k); }
  function later(fn, ms) { return window.setTimeout(fn, ms); }
  function cancel(t) { if (t) window.clearTimeout(t); return null; }
  function enc(s) { return encodeURIComponent(s); }
  function rethrow(e) { later(function () { throw e; }, 0); }
  function parse(text) {
    try { return window.JSON.parse(text); } catch (e) { return null; }
  }
  function copy(o) {
    var out = {}, k;
    for (k in o) if (hasOwn(o, k)) out[k] = o[k];
    return out;
  }
  function queryParam(name) {
    var m = new RegExp('[?&]' + name + '=([^&#]*)').exec(window.location.search);
    try { return m ? decodeURIComponent(m[1].replace(/\+/g, ' ')) : null; } catch (e) { return null; }
  }
  function listen(el, ev, fn) {
    if (el.addEventListener) el.addEventListener(ev, fn, false);
    else if (el.attachEvent) el.attachEvent('on' + ev, fn);
  }
  function pageOrigin() { return window.location.protocol + '//' + window.location.host; }
  function dmChannel(a, b) { return a < b ? 'dm:' + a + ':' + b : 'dm:' + b + ':' + a; }
  function channelOf(to, fromId) { return to.room ? 'room:' + to.room : dmChannel(fromId, to.user); }

  /*
   * Transports: each calls client._opened(t), client._received(t, data), client._closed(t, why).
   * This is their shared `fail`: close, then tell the owner once.
   */
  function fail(why) {
    if (this.dead) return;
    this.close();
    this.client._closed(this, why);
  }

  return {
    version: '1',
    dmChannel: dmChannel,
    channelOf: channelOf,
    _jsonp: jsonp,
    /* for the other parts of this library only */
    _lib: {
      HEARTBEAT: 25000, BACKOFF_MIN: 500, BACKOFF_MAX: 30000, FORCED_TRIES: 3, PROBE_DELAY: 5000,
      /* queued sends leave at most this fast, under the server's default limit (20/s, burst 40) */
      SEND_RATE: 15, SEND_BURST: 30,
      /* after server_busy the queue waits 1 s, 2 s, 4 s ... up to this, with jitter, until a send is acked */
      BUSY_WAIT_MAX: 30000,
      now: now, noop: noop, hasOwn: hasOwn, later: later, cancel: cancel, enc: enc, rethrow: rethrow,
      parse: parse, copy: copy, queryParam: queryParam, listen: listen, pageOrigin: pageOrigin,
      dmChannel: dmChannel, fail: fail
    }
  };
})(window);

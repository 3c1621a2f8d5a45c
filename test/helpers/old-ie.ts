/**
 * Old IE in Chromium, for the browser tests. No IE runs on this machine, so
 * an init script takes away, before any page script runs and in every frame
 * (iframes included), what those browsers lack:
 *
 * - `ie67` (IE6-7): WebSocket, EventSource, JSON, the ES5 built-ins
 *   (array methods, Object.keys, bind, trim), postMessage, FormData, fetch,
 *   and CORS: XMLHttpRequest has no `withCredentials` and refuses to open a
 *   URL of another origin ("Access is denied", as IE7 does), so a page of
 *   another origin than the chat has only JSONP.
 * - `ie89` (IE8-9): the same but for JSON and postMessage (IE8 in standards
 *   mode has both), and with an `XDomainRequest` built over fetch with
 *   XDomainRequest's limits: GET and POST only, the page's own scheme, a
 *   body sent as text with no Content-Type and no other header, never a
 *   cookie, and only a 2xx answer that carries Access-Control-Allow-Origin
 *   reaches `onload` (anything else is `onerror`, its status unseen).
 *
 * `watchOwnRequests` counts the requests a page has open at once to the
 * chat host, for the two-connection limit of IE6-7.
 */
import type { Page } from 'playwright-core';

export type OldIe = 'ie67' | 'ie89';

/** The init script for one mode; ES3 itself, since it removes the ES5 methods. */
export function oldIeScript(mode: OldIe): string {
  return `(function (w, mode) {
  var d = w.document, i;
  function drop(obj, key) {
    try { delete obj[key]; } catch (e) {}
    try { if (obj[key] !== undefined) obj[key] = undefined; } catch (e) {}
  }
  function originOf(url) {
    var a = d.createElement('a');
    a.href = url;
    return a.protocol + '//' + a.host;
  }
  var realFetch = w.fetch, here = w.location.protocol + '//' + w.location.host;
  var methods = ['forEach', 'map', 'filter', 'indexOf', 'some', 'every', 'reduce'];
  drop(w, 'WebSocket');
  drop(w, 'EventSource');
  drop(w, 'FormData');
  drop(w, 'fetch');
  for (i = 0; i < methods.length; i++) drop(Array.prototype, methods[i]);
  drop(Object, 'keys');
  drop(Function.prototype, 'bind');
  drop(String.prototype, 'trim');
  if (mode === 'ie67') {
    drop(w, 'JSON');
    drop(w, 'postMessage');
  }
  var X = w.XMLHttpRequest, open = X.prototype.open;
  drop(X.prototype, 'withCredentials');
  X.prototype.open = function (method, url) {
    if (originOf(url) !== here) throw new Error('Access is denied.');
    return open.apply(this, arguments);
  };
  if (mode === 'ie89') w.XDomainRequest = function () {
    this.responseText = '';
    this.contentType = '';
    this.timeout = 0;
    this.onload = this.onerror = this.ontimeout = this.onprogress = null;
  };
  if (mode === 'ie89') {
    w.XDomainRequest.prototype.open = function (method, url) {
      method = String(method).toUpperCase();
      if (method !== 'GET' && method !== 'POST') throw new Error('Invalid argument.');
      var a = d.createElement('a');
      a.href = url;
      if (a.protocol !== w.location.protocol) throw new Error('Access is denied.');
      this.method = method;
      this.url = a.href;
    };
    w.XDomainRequest.prototype.send = function (body) {
      var self = this, abort = new w.AbortController(), timer = null, over = false;
      w.__xdrRequests = (w.__xdrRequests || 0) + 1;
      function fire(name) {
        if (over) return;
        if (name !== 'onprogress') { over = true; if (timer) w.clearTimeout(timer); }
        if (typeof self[name] === 'function') self[name]();
      }
      this.abort = function () { over = true; abort.abort(); };
      if (this.timeout > 0) timer = w.setTimeout(function () { abort.abort(); fire('ontimeout'); }, this.timeout);
      var init = { method: this.method, mode: 'cors', credentials: 'omit', signal: abort.signal };
      if (this.method === 'POST' && body !== undefined && body !== null) init.body = new w.Blob([String(body)]);
      realFetch(this.url, init).then(function (res) {
        if (res.status < 200 || res.status > 299) return fire('onerror');
        self.contentType = res.headers.get('content-type') || '';
        var reader = res.body.getReader(), decoder = new w.TextDecoder();
        function pump() {
          return reader.read().then(function (part) {
            if (part.done) return fire('onload');
            self.responseText += decoder.decode(part.value, { stream: true });
            fire('onprogress');
            return pump();
          });
        }
        return pump();
      }).then(null, function () { fire('onerror'); });
    };
    w.XDomainRequest.prototype.abort = function () {};
  }
  w.__oldIe = mode;
  w.__jsonBeforePage = typeof w.JSON;
})(window, ${JSON.stringify(mode)});`;
}

/** typeof, in the page, of what the modes remove (runs in the page: ES3 only). */
export function oldIeFeatures(): Record<string, string> {
  const w = globalThis as unknown as Record<string, unknown>;
  const X = w.XMLHttpRequest as { prototype: object } | undefined;
  return {
    mode: String(w.__oldIe),
    WebSocket: typeof w.WebSocket,
    EventSource: typeof w.EventSource,
    JSON: typeof w.JSON,
    postMessage: typeof w.postMessage,
    FormData: typeof w.FormData,
    fetch: typeof w.fetch,
    XDomainRequest: typeof w.XDomainRequest,
    withCredentials: X !== undefined && 'withCredentials' in X.prototype ? 'yes' : 'no',
  };
}

export interface RequestWatch {
  /** The most requests that were open at one time. */
  max(): number;
  /** The URLs open when the most were. */
  busiest(): string[];
}

/**
 * Counts the page's open requests (every frame) that `mine` picks, from the
 * moment the page asks for one (queued behind others or not) to its answer's
 * end or its failure.
 */
export function watchOwnRequests(page: Page, mine: (url: URL) => boolean): RequestWatch {
  const open = new Set<object>();
  const urls = new Map<object, string>();
  let max = 0;
  let busiest: string[] = [];
  page.on('request', (req) => {
    if (!mine(new URL(req.url()))) return;
    open.add(req);
    urls.set(req, req.url());
    if (open.size > max) {
      max = open.size;
      busiest = [...open].map((r) => urls.get(r) ?? '');
    }
  });
  const done = (req: object) => {
    open.delete(req);
    urls.delete(req);
  };
  page.on('requestfinished', done);
  page.on('requestfailed', done);
  return { max: () => max, busiest: () => busiest };
}

/*
 * webim/comet.js: the Comet long-poll transport (docs/protocol.md) and the HTTP it
 * runs on: XHR (same origin or CORS), XDomainRequest (IE8-9 across origins)
 * or JSONP. Part of /webim.js, after core.js (see there).
 */
(function (window, WebIM) {
  if (!WebIM || !WebIM._lib) throw new Error('webim/comet.js must load after webim/core.js');
  var document = window.document, lib = WebIM._lib;
  var now = lib.now, noop = lib.noop, later = lib.later, cancel = lib.cancel, enc = lib.enc, parse = lib.parse,
    listen = lib.listen, pageOrigin = lib.pageOrigin;
  var jsonp = WebIM._jsonp, inflight = {}, requestSeq = 0;

  function newXhr() {
    if (window.XMLHttpRequest) return new window.XMLHttpRequest();
    try { return new window.ActiveXObject('Microsoft.XMLHTTP'); } catch (e) { return null; }
  }

  function httpMode(base, forced) {
    if (forced === 'xhr' || forced === 'xdr' || forced === 'jsonp') return forced;
    var x = newXhr();
    if (base.toLowerCase() === pageOrigin().toLowerCase() && x) return 'xhr';
    if (x && 'withCredentials' in x) return 'xhr';
    if (window.XDomainRequest && base.indexOf(window.location.protocol) === 0) return 'xdr';
    return 'jsonp';
  }

  /*
   * One HTTP request; cb(err, data) with err null, or { status, data } (status 0: no answer).
   * Returns a function that aborts it without calling cb.
   */
  function request(mode, url, body, timeout, cb) {
    var done = false, timer = null, x, script, name = 'c' + (++requestSeq);
    function finish(status, data, silent) {
      if (done) return;
      done = true;
      timer = cancel(timer);
      delete inflight[name];
      /* IE6's ActiveX XHR takes no expando handlers: only clear what was set */
      if (x && mode === 'xdr') x.onload = x.onerror = x.ontimeout = noop;
      else if (x) x.onreadystatechange = noop;
      if (silent || status === 0) {
        try { if (x) x.abort(); } catch (e) { /* already over */ }
      }
      if (script) {
        script.onload = script.onerror = script.onreadystatechange = noop;
        if (script.parentNode) script.parentNode.removeChild(script);
        /* a late answer must still find a function */
        if (jsonp[name]) jsonp[name] = function () { delete jsonp[name]; };
      }
      if (!silent) cb(status === 200 && data ? null : { status: status, data: data }, data);
    }
    url += (url.indexOf('?') < 0 ? '?' : '&') + '_=' + now().toString(36) + requestSeq;
    timer = later(function () { finish(0, null); }, timeout);
    if (mode === 'jsonp') {
      if (body !== null) url += '&d=' + enc(body);
      jsonp[name] = function (data) { delete jsonp[name]; finish(200, data); };
      script = document.createElement('script');
      script.onerror = function () { finish(0, null); };
      script.onreadystatechange = function () {
        /* old IE runs the script before 'loaded': no callback by then means it failed */
        if (script.readyState === 'loaded' || script.readyState === 'complete') finish(0, null);
      };
      script.src = url + '&callback=WebIM._jsonp.' + name;
      (document.getElementsByTagName('head')[0] || document.documentElement).appendChild(script);
    } else if (mode === 'xdr') {
      x = inflight[name] = new window.XDomainRequest(); /* held, or IE may collect it mid-flight */
      x.onload = function () { finish(200, parse(x.responseText)); };
      x.onerror = x.ontimeout = function () { finish(0, null); };
      x.onprogress = noop;
      x.open(body === null ? 'GET' : 'POST', url);
      x.send(body === null ? '' : body);
    } else {
      x = newXhr();
      x.open(body === null ? 'GET' : 'POST', url, true);
      x.onreadystatechange = function () {
        if (x.readyState !== 4) return;
        var status = 0;
        try { status = x.status; } catch (e) { status = 0; }
        finish(status, parse(x.responseText));
      };
      if (body !== null) x.setRequestHeader('Content-Type', 'text/plain;charset=UTF-8');
      x.send(body);
    }
    return function () { finish(0, null, true); };
  }

  /* ---- The transport: calls client._opened(t), client._received(t, data), client._closed(t, why) ---- */

  function CometTransport(client, base, mode) {
    var self = this;
    this.name = 'comet';
    this.client = client;
    this.mode = httpMode(base, mode);
    this.url = base + '/comet/';
    this.opened = this.dead = this.sending = false;
    this.sid = null;
    this.ack = this.errors = 0;
    this.out = [];
    this.timeout = 25000;
    this.abortPoll = this.abortOpen = null;
    function start() {
      if (self.dead) return;
      self.abortOpen = request(self.mode, self.url + 'open', null, 20000, function (err, data) {
        if (err || !data.sid) return self.fail('comet open failed' + (err && err.status ? ' (' + err.status + ')' : ''));
        self.sid = data.sid;
        self.timeout = data.timeout || 25000;
        self.opened = true;
        client._opened(self);
        self.poll();
        self.flush();
      });
    }
    /* a pending script tag holds the page's load event (and its busy indicator): JSONP starts after it */
    if (this.mode === 'jsonp' && document.readyState && document.readyState !== 'complete') listen(window, 'load', start);
    else start();
  }
  CometTransport.prototype.poll = function () {
    var self = this;
    if (this.dead) return;
    this.abortPoll = request(this.mode, this.url + 'poll?sid=' + enc(this.sid) + '&ack=' + this.ack, null,
      this.timeout + 15000, function (err, data) {
        var frames, i;
        self.abortPoll = null;
        if (self.dead) return;
        if (err || data.error) {
          if ((data && data.error === 'unknown_session') || ++self.errors > 2) return self.fail('comet session lost');
          self.retry = later(function () { self.poll(); }, 1000 * self.errors);
          return;
        }
        self.errors = 0;
        frames = data.frames || [];
        for (i = 0; i < frames.length; i++) {
          if (frames[i].seq <= self.ack) continue; /* sent again: already handled */
          self.ack = frames[i].seq;
          self.client._received(self, frames[i].msg);
          if (self.dead) return;
        }
        self.poll();
      });
  };
  CometTransport.prototype.send = function (msgs) {
    for (var i = 0; i < msgs.length; i++) this.out.push(msgs[i]);
    this.flush();
  };
  /* One send request at a time, so the server sees them in order; JSONP batches stay short for URL limits. */
  CometTransport.prototype.flush = function () {
    var self = this, max = this.mode === 'jsonp' ? 1500 : 30000, batch = [], size = 2, text;
    if (this.sending || !this.opened || this.dead || !this.out.length) return;
    while (this.out.length) {
      text = window.JSON.stringify(this.out[0]);
      if (batch.length && size + text.length > max) break;
      batch.push(this.out.shift());
      size += text.length + 1;
    }
    this.sending = true;
    request(this.mode, this.url + 'send?sid=' + enc(this.sid), window.JSON.stringify(batch), 30000, function (err, data) {
      self.sending = false;
      if (self.dead) return;
      if (data && data.error === 'too_large') {
        self.client._received(self, { cmd: 'error', code: 'too_large', message: 'request too large' });
      } else if (err || data.error) {
        return self.fail('comet send failed');
      }
      self.flush();
    });
  };
  CometTransport.prototype.close = function () {
    if (this.dead) return;
    this.dead = true;
    this.retry = cancel(this.retry);
    if (this.abortOpen) this.abortOpen();
    if (this.abortPoll) this.abortPoll();
    /* fire and forget, safe during unload: an image GET needs no CORS and no answer */
    if (this.sid) new window.Image().src = this.url + 'close?sid=' + enc(this.sid) + '&_=' + now();
  };
  CometTransport.prototype.fail = lib.fail;

  lib.CometTransport = CometTransport;
})(window, window.WebIM);

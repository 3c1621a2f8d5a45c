/*
 * webim.js: the webim browser client (PROTOCOL.md, version 1) in one file.
 *
 *   var im = new WebIM.Client({ url: '', transport: 'auto' });
 *   im.on('message', function (m) { ... });
 *   im.login('Alice', 'cat', function (err, answer) { ... });
 *   im.send({ room: 'lobby' }, 'text', 'hi');
 *
 * Written in ES3 so that IE6-8 run it: JSON comes from window.JSON (the page
 * loads json3 where it is missing), SockJS from window.SockJS. The transport
 * is WebSocket, then SockJS, then Comet long-poll (XHR, XDomainRequest or
 * JSONP); `?transport=websocket|sockjs|comet` in the page URL forces one.
 * The client reconnects by itself, logs in again with its token and resume
 * cursors, drops what it has already seen, and retries unacked sends with
 * their original cid.
 */
var WebIM = (function (window) {
  var document = window.document;
  var HEARTBEAT = 25000, BACKOFF_MIN = 500, BACKOFF_MAX = 30000, FORCED_TRIES = 3, PROBE_DELAY = 5000;
  /* queued sends leave at most this fast, under the server's default limit (20/s, burst 40) */
  var SEND_RATE = 15, SEND_BURST = 30;
  var ORDER = ['websocket', 'sockjs', 'comet'];
  var jsonp = {}, inflight = {}, requestSeq = 0, cidSeq = 0;

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

  /* ---- HTTP for Comet: XHR (same origin or CORS), XDomainRequest, JSONP ---- */

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

  /* ---- Transports: each calls client._opened(t), client._received(t, data), client._closed(t, why) ---- */

  function SocketTransport(name, client, make) {
    var self = this, sock;
    this.name = name;
    this.client = client;
    this.opened = false;
    this.dead = false;
    try {
      sock = this.sock = make();
    } catch (e) {
      later(function () { self.fail(name + ' could not start: ' + (e.message || e)); }, 0);
      return;
    }
    sock.onopen = function () { self.opened = true; client._opened(self); };
    sock.onmessage = function (e) { if (!self.dead) client._received(self, e.data); };
    sock.onclose = function (e) { self.fail(name + ' closed' + (e && e.code ? ' (' + e.code + ')' : '')); };
    sock.onerror = noop;
  }
  SocketTransport.prototype.send = function (msgs) {
    for (var i = 0; i < msgs.length; i++) this.sock.send(window.JSON.stringify(msgs[i]));
  };
  SocketTransport.prototype.close = function () {
    if (this.dead) return;
    this.dead = true;
    if (!this.sock) return;
    this.sock.onopen = this.sock.onmessage = this.sock.onclose = noop;
    try { this.sock.close(); } catch (e) { /* never opened */ }
  };
  SocketTransport.prototype.fail = function (why) {
    if (this.dead) return;
    this.close();
    this.client._closed(this, why);
  };

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
  CometTransport.prototype.fail = SocketTransport.prototype.fail;

  function rank(name) {
    for (var i = 0; i < ORDER.length; i++) if (ORDER[i] === name) return i;
    return ORDER.length;
  }

  /* owner: the client, or a probe; it receives _opened, _received and _closed */
  function makeTransport(owner, name, base, cometMode) {
    if (name === 'comet') return new CometTransport(owner, base, cometMode);
    return new SocketTransport(name, owner, function () {
      return name === 'sockjs' ? new window.SockJS(base + '/sockjs') : new window.WebSocket(base.replace(/^http/i, 'ws') + '/ws');
    });
  }

  var unsupported = {
    websocket: function () { return window.WebSocket ? '' : 'this browser has no WebSocket'; },
    sockjs: function () { return window.SockJS ? '' : 'the SockJS client (/polyfills/sockjs.min.js) is not loaded'; },
    comet: function () { return ''; }
  };

  /* ---- The client ---- */

  function Client(options) {
    var self = this, forced;
    options = options || {};
    forced = options.transport && options.transport !== 'auto' ? options.transport : queryParam('transport');
    this.base = (options.url || pageOrigin()).replace(/\/+$/, '');
    this.forced = forced && forced !== 'auto' ? forced : null;
    this.cometMode = options.cometMode || queryParam('comet');
    this.state = 'offline';
    this.transport = null;
    this.transportName = '';
    this.stopped = true;
    this.creds = null;
    this.user = null;
    this.loggedIn = false;
    this.cursors = {};
    this.pending = [];
    this.carried = {};
    this.tokens = SEND_BURST;
    this.tokenTime = now();
    this.myStatus = 'online';
    this.heartbeat = HEARTBEAT;
    this.attempt = 0;
    this.failures = 0;
    this.tIndex = 0;
    this.good = null;
    this.handlers = {};
    /* leave at once (a Comet session would otherwise linger); come back if the page is restored */
    listen(window, window.addEventListener ? 'pagehide' : 'unload', function () { self._drop(); });
    if (window.addEventListener) {
      listen(window, 'pageshow', function (e) {
        if (e.persisted && !self.stopped && !self.transport) { self.reconnectTimer = cancel(self.reconnectTimer); self._open(); }
      });
      listen(window, 'online', function () {
        if (self.reconnectTimer) { self.reconnectTimer = cancel(self.reconnectTimer); self._open(); }
      });
    }
  }

  Client.prototype.on = function (event, fn) {
    if (!hasOwn(this.handlers, event)) this.handlers[event] = [];
    this.handlers[event].push(fn);
    return this;
  };
  Client.prototype.off = function (event, fn) {
    var list = hasOwn(this.handlers, event) ? this.handlers[event] : [], i;
    for (i = list.length - 1; i >= 0; i--) if (list[i] === fn || !fn) list.splice(i, 1);
    return this;
  };
  Client.prototype.emit = function (event, arg) {
    var list = hasOwn(this.handlers, event) ? this.handlers[event].slice(0) : [], i;
    for (i = 0; i < list.length; i++) {
      try { list[i].call(this, arg); } catch (e) { rethrow(e); }
    }
  };
  Client.prototype._setState = function (state) {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', state);
  };

  /* The transports this browser can use, in order; or a string saying why the forced one cannot work. */
  Client.prototype.transports = function () {
    var out = [], i, why;
    if (!window.JSON) return 'JSON is missing (the json3 polyfill did not load)';
    if (this.forced) {
      if (!hasOwn(unsupported, this.forced)) return 'unknown transport "' + this.forced + '"';
      why = unsupported[this.forced]();
      return why ? 'transport ' + this.forced + ' cannot work: ' + why : [this.forced];
    }
    for (i = 0; i < ORDER.length; i++) if (!unsupported[ORDER[i]]()) out.push(ORDER[i]);
    return out;
  };

  Client.prototype.connect = function () {
    if (!this.stopped) return this;
    this.stopped = false;
    this.attempt = this.failures = 0;
    this._open();
    return this;
  };

  Client.prototype._stop = function (error) {
    var cb = this.loginCb;
    this.stopped = true;
    this.reconnectTimer = cancel(this.reconnectTimer);
    this.probing = cancel(this.probing);
    this.pumpTimer = cancel(this.pumpTimer);
    this._drop();
    this._setState('offline');
    if (!error) return;
    this.loginCb = null;
    this.emit('error', error);
    if (cb) cb(error);
  };

  Client.prototype._open = function () {
    var list = this.transports();
    this.reconnectTimer = null;
    if (typeof list === 'string') return this._stop({ cmd: 'error', code: 'transport_unavailable', message: list });
    this._setState('connecting');
    this.transport = makeTransport(this, this.good || list[this.tIndex % list.length], this.base, this.cometMode);
  };

  /*
   * Online over a fallback although a better transport worked before (it failed while the server was
   * down, say): try that one once more in the background and move back to it if it opens. The move is
   * lossless: the login resumes from the cursors and resends the queue.
   */
  Client.prototype._probe = function () {
    var self = this, name = this.preferred;
    if (this.probing || !name || rank(name) >= rank(this.transportName)) return;
    this.probing = later(function () {
      var probe = {
        _opened: function (t) {
          t.close();
          self.probing = null;
          if (!self.loggedIn || self.stopped) return;
          self.good = name;
          self._drop();
          self._open();
        },
        _received: noop,
        _closed: function () { self.probing = null; }
      };
      if (!self.loggedIn || self.stopped) self.probing = null;
      else makeTransport(probe, name, self.base, self.cometMode);
    }, PROBE_DELAY);
  };

  Client.prototype._drop = function () {
    if (this.hbTimer) window.clearInterval(this.hbTimer);
    this.hbTimer = null;
    if (this.transport) this.transport.close();
    this.transport = null;
    this.loggedIn = this.loggingIn = false;
  };

  Client.prototype._opened = function (t) {
    var self = this;
    if (t !== this.transport) return;
    this.good = t.name;
    if (!this.preferred || rank(t.name) < rank(this.preferred)) this.preferred = t.name;
    this.transportName = t.name;
    this.emit('transport', t.name);
    this.lastSeen = now();
    if (t.name !== 'comet') {
      /* the poll is Comet's heartbeat; sockets send an application ping and watch for silence */
      this.hbTimer = window.setInterval(function () {
        if (now() - self.lastSeen > self.heartbeat * 2 + 10000) return self._closed(t, 'heartbeat timeout');
        self._write({ cmd: 'ping' });
      }, this.heartbeat);
    }
    if (this.creds) return this._sendLogin();
    this.attempt = this.failures = 0;
    this._setState('online');
  };

  Client.prototype._closed = function (t, why) {
    var delay, self = this, list, i;
    if (t !== this.transport) return;
    this._drop();
    if (!t.opened) {
      this.failures++;
      if (this.forced && !this.good && this.failures >= FORCED_TRIES) {
        return this._stop({ cmd: 'error', code: 'transport_failed', message: why + ': could not connect over ' + t.name });
      }
      /* a transport that worked is kept until it fails a few times in a row; else try the next one */
      if (this.good && this.failures >= FORCED_TRIES && !this.forced) {
        list = this.transports();
        for (i = 0; i < list.length; i++) if (list[i] === this.good) this.tIndex = i;
        this.good = null;
      }
      if (!this.good) this.tIndex++;
    }
    if (this.stopped) return this._setState('offline');
    delay = Math.min(BACKOFF_MAX, BACKOFF_MIN * Math.pow(2, this.attempt++)) * (0.7 + Math.random() * 0.6);
    this._setState('connecting');
    this.reconnectTimer = later(function () { self._open(); }, Math.round(delay));
  };

  Client.prototype._write = function (msg) {
    if (!this.transport || !this.transport.opened) return false;
    this.transport.send([msg]);
    return true;
  };

  Client.prototype._sendLogin = function () {
    var msg = { cmd: 'login', name: this.creds.name }, k, any = false;
    if (this.creds.avatar) msg.avatar = this.creds.avatar;
    if (this.creds.token) msg.token = this.creds.token;
    for (k in this.cursors) if (hasOwn(this.cursors, k)) any = true;
    if (any) msg.resume = { cursors: copy(this.cursors) };
    this.resumed = copy(this.cursors);
    this.loggingIn = true;
    this._write(msg);
  };

  Client.prototype._received = function (t, data) {
    if (t !== this.transport) return;
    this.lastSeen = now();
    var msg = typeof data === 'string' ? parse(data) : data;
    if (msg && typeof msg.cmd === 'string') this._handle(msg);
  };

  /* The highest offset seen per channel: what `resume` sends, and what a replay may repeat. */
  Client.prototype._saw = function (channel, messages) {
    var i, c = this.cursors;
    if (!hasOwn(c, channel)) c[channel] = 0;
    for (i = 0; i < messages.length; i++) if (messages[i].offset > c[channel]) c[channel] = messages[i].offset;
  };

  Client.prototype._handle = function (msg) {
    var cmd = msg.cmd, ch, cb;
    if (cmd === 'login') {
      this.loggedIn = true;
      this.loggingIn = false;
      this.user = msg.user;
      if (!this.creds) this.creds = { name: msg.user.name, avatar: null };
      this.creds.token = msg.token;
      this.creds.name = msg.user.name;
      this.heartbeat = msg.heartbeat || HEARTBEAT;
      this.attempt = this.failures = 0;
      this.gaps = msg.recovered === false ? {} : null;
      this._setState('online');
      if (this.myStatus !== 'online') this._write({ cmd: 'status', status: this.myStatus });
      this.emit('login', msg);
      cb = this.loginCb;
      this.loginCb = null;
      if (cb) cb(null, msg);
      this.carried = {};
      this._pump();
      this._probe();
    } else if (cmd === 'message') {
      ch = msg.channel;
      if (hasOwn(this.cursors, ch) && msg.offset <= this.cursors[ch]) return;
      this._fillGap(ch, msg.offset);
      this.cursors[ch] = msg.offset;
      this.emit('message', msg);
    } else if (cmd === 'ack') {
      this._unqueue(msg.cid);
      this.emit('ack', msg);
    } else if (cmd === 'error') {
      this._error(msg);
    } else if (cmd === 'joined' || cmd === 'history') {
      ch = cmd === 'joined' ? 'room:' + msg.room : msg.channel;
      this._saw(ch, msg.history || msg.messages || []);
      if (cmd === 'history') this._fillGap(ch, msg.messages.length ? msg.messages[0].offset : 0);
      this.emit(cmd, msg);
    } else if (cmd === 'bye') {
      this.emit('bye', msg);
      if (msg.reconnect) this._closed(this.transport, 'bye: ' + msg.code);
      else this._stop();
    } else if (cmd !== 'pong') {
      this.emit(cmd, msg);
    }
  };

  /* After a resume that was not complete (recovered: false), load what the replay left out, page by page. */
  Client.prototype._fillGap = function (channel, lowest) {
    var from;
    if (!this.gaps || !this.resumed || !hasOwn(this.resumed, channel)) return;
    from = hasOwn(this.gaps, channel) ? this.gaps[channel] : this.resumed[channel];
    if (from === null) return;
    this.gaps[channel] = null;
    if (lowest > from + 1) {
      this.gaps[channel] = from;
      this._write({ cmd: 'history', channel: channel, before: lowest, limit: Math.min(100, lowest - from - 1) });
    }
  };

  Client.prototype._unqueue = function (cid) {
    delete this.carried[cid];
    for (var i = 0; i < this.pending.length; i++) {
      if (this.pending[i].cid === cid) { this.pending.splice(i, 1); return true; }
    }
    return false;
  };

  /* Writes the queued sends this connection has not carried yet, paced by a token bucket. */
  Client.prototype._pump = function () {
    var self = this, t = now(), i, msg;
    this.pumpTimer = cancel(this.pumpTimer);
    if (!this.loggedIn) return;
    this.tokens = Math.min(SEND_BURST, this.tokens + (t - this.tokenTime) * SEND_RATE / 1000);
    this.tokenTime = t;
    for (i = 0; i < this.pending.length; i++) {
      msg = this.pending[i];
      if (hasOwn(this.carried, msg.cid)) continue;
      if (this.tokens < 1) {
        this.pumpTimer = later(function () { self._pump(); }, Math.ceil(1000 / SEND_RATE));
        return;
      }
      this.tokens -= 1;
      this.carried[msg.cid] = true;
      this._write(msg);
    }
  };

  Client.prototype._error = function (msg) {
    var self = this, cb = this.loginCb, retryable = /^(server_busy|internal|rate_limited)$/.test(msg.code);
    if (this.loggingIn && msg.ref === 'login') {
      this.loggingIn = false;
      if (msg.code === 'unauthorized' && this.creds.token) {
        this.creds.token = null; /* expired or from an old secret: log in by name again */
        return this._sendLogin();
      }
      this.emit('error', msg);
      if (retryable && !cb) return this._closed(this.transport, 'login failed: ' + msg.code); /* a re-login: retry */
      this.loginCb = this.creds = null;
      this._setState('online');
      if (cb) cb(msg);
      return;
    }
    if (msg.code === 'rate_limited' && msg.ref && hasOwn(this.carried, msg.ref)) {
      delete this.carried[msg.ref]; /* dropped by the server: the pump sends it again */
      this.tokens = 0;
      this.pumpTimer = cancel(this.pumpTimer);
      this.pumpTimer = later(function () { self._pump(); }, 1000 + Math.random() * 1000);
    } else if (msg.ref && msg.code !== 'not_logged_in') {
      this._unqueue(msg.ref);
    }
    this.emit('error', msg);
  };

  /* ---- Public API ---- */

  Client.prototype.login = function (name, avatar, cb) {
    if (this.loggedIn || this.loggingIn) {
      if (cb) cb({ cmd: 'error', code: 'bad_request', message: 'already logged in', ref: 'login' });
      return this;
    }
    this.creds = { name: name, avatar: avatar || null, token: null };
    this.loginCb = cb || null;
    if (this.transport && this.transport.opened) this._sendLogin();
    else this.connect();
    return this;
  };

  Client.prototype.logout = function () {
    this._write({ cmd: 'logout' });
    this.creds = this.user = null;
    this.cursors = {};
    this.pending = [];
    this.carried = {};
    this.myStatus = 'online';
    this._stop();
    return this;
  };

  Client.prototype.send = function (to, type, body) {
    var msg = {
      cmd: 'send', to: to, type: type, body: body,
      cid: 'c' + now().toString(36) + Math.floor(Math.random() * 2176782336).toString(36) + (++cidSeq)
    };
    this.pending.push(msg);
    this._pump();
    return msg.cid;
  };

  Client.prototype.command = function (msg) {
    return this.loggedIn ? this._write(msg) : false;
  };
  Client.prototype.join = function (room) { return this.command({ cmd: 'join', room: room }); };
  Client.prototype.leave = function (room) { return this.command({ cmd: 'leave', room: room }); };
  Client.prototype.online = function (room) { return this.command(room ? { cmd: 'online', room: room } : { cmd: 'online' }); };
  Client.prototype.typing = function (to) { return this.command({ cmd: 'typing', to: to }); };
  Client.prototype.status = function (status) {
    this.myStatus = status;
    return this.command({ cmd: 'status', status: status });
  };
  Client.prototype.history = function (channel, before, limit) {
    var msg = { cmd: 'history', channel: channel };
    if (before) msg.before = before;
    if (limit) msg.limit = limit;
    return this.command(msg);
  };

  return {
    version: '1',
    Client: Client,
    dmChannel: dmChannel,
    channelOf: channelOf,
    _jsonp: jsonp
  };
})(window);

/*
 * webim/client.js: WebIM.Client, its events and its connection: which
 * transport it uses, reconnecting with backoff, falling back and moving back
 * to a better transport. Login, resume, the send queue and the rest of the
 * API are in client-session.js. Part of /webim.js, after core.js, comet.js
 * and transports.js.
 */
(function (window, WebIM) {
  if (!WebIM || !WebIM._lib || !WebIM._lib.makeTransport) throw new Error('webim/client.js must load after webim/transports.js');
  var lib = WebIM._lib;
  var HEARTBEAT = lib.HEARTBEAT, BACKOFF_MIN = lib.BACKOFF_MIN, BACKOFF_MAX = lib.BACKOFF_MAX, FORCED_TRIES = lib.FORCED_TRIES,
    PROBE_DELAY = lib.PROBE_DELAY, SEND_BURST = lib.SEND_BURST, ORDER = lib.ORDER;
  var now = lib.now, noop = lib.noop, hasOwn = lib.hasOwn, later = lib.later, cancel = lib.cancel, rethrow = lib.rethrow,
    queryParam = lib.queryParam, listen = lib.listen, pageOrigin = lib.pageOrigin, rank = lib.rank,
    makeTransport = lib.makeTransport, unsupported = lib.unsupported;

  function Client(options) {
    var self = this, forced;
    options = options || {};
    forced = options.transport && options.transport !== 'auto' ? options.transport : queryParam('transport');
    this.base = (options.url || pageOrigin()).replace(/\/+$/, '');
    this.forced = forced && forced !== 'auto' ? forced : null;
    this.cometMode = options.cometMode || queryParam('comet');
    /* where the login token is kept across reloads and tabs (WebIM.storage), or null: kept in memory only */
    this.remember = options.remember ? (typeof options.remember === 'string' ? options.remember : 'webim.token') : null;
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
    this.busyCount = 0;
    this.busyUntil = 0;
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
    /* the server refuses this page's origin on every transport: trying again would not help */
    if (t.refused) return this._stop({ cmd: 'error', code: 'forbidden', ref: 'connect', message: why });
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

  WebIM.Client = Client;
})(window, window.WebIM);

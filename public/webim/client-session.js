/*
 * webim/client-session.js: the rest of WebIM.Client: login and relogin with
 * the token and resume cursors, dropping what was already seen, loading what
 * an incomplete resume left out, the send queue (paced, resent with the same
 * cid until acked) and the public API (but for upload, in upload.js). Part
 * of /webim.js, after client.js.
 */
(function (window, WebIM) {
  if (!WebIM || !WebIM._lib || !WebIM.Client) throw new Error('webim/client-session.js must load after webim/client.js');
  var lib = WebIM._lib, Client = WebIM.Client;
  var HEARTBEAT = lib.HEARTBEAT, SEND_RATE = lib.SEND_RATE, SEND_BURST = lib.SEND_BURST, BUSY_WAIT_MAX = lib.BUSY_WAIT_MAX;
  var now = lib.now, hasOwn = lib.hasOwn, later = lib.later, cancel = lib.cancel, parse = lib.parse, copy = lib.copy;
  var cidSeq = 0;

  Client.prototype._sendLogin = function () {
    var msg = { cmd: 'login' }, k, any = false;
    if (this.creds.name) msg.name = this.creds.name;
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
      /* a site's own token stays the site's to keep: only what this client logged in as by itself is saved */
      if (this.remember && !this.creds.hostToken) WebIM.storage.set(this.remember, msg.token);
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
      this.busyCount = 0;
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

  /* The one pending pump, in `ms`. */
  Client.prototype._pumpIn = function (ms) {
    var self = this;
    this.pumpTimer = cancel(this.pumpTimer);
    this.pumpTimer = later(function () { self._pump(); }, ms);
  };

  /* Writes the queued sends this connection has not carried yet, paced by a token bucket. */
  Client.prototype._pump = function () {
    var t = now(), i, msg;
    this.pumpTimer = cancel(this.pumpTimer);
    if (!this.loggedIn) return;
    /* the whole queue waits out a server_busy, so that what is sent after a refused message still goes after it */
    if (this.busyUntil > t) return this._pumpIn(this.busyUntil - t);
    this.tokens = Math.min(SEND_BURST, this.tokens + (t - this.tokenTime) * SEND_RATE / 1000);
    this.tokenTime = t;
    for (i = 0; i < this.pending.length; i++) {
      msg = this.pending[i];
      if (hasOwn(this.carried, msg.cid)) continue;
      if (this.tokens < 1) return this._pumpIn(Math.ceil(1000 / SEND_RATE));
      this.tokens -= 1;
      this.carried[msg.cid] = true;
      this._write(msg);
    }
  };

  Client.prototype._error = function (msg) {
    var cb = this.loginCb, retryable = /^(server_busy|internal|rate_limited)$/.test(msg.code);
    if (this.loggingIn && msg.ref === 'login') {
      this.loggingIn = false;
      if (msg.code === 'unauthorized' && this.creds.token && !this.creds.hostToken) this.forget(); /* retired or expired */
      if (msg.code === 'unauthorized' && this.creds.token && this.creds.name && !this.creds.hostToken) {
        this.creds.token = null; /* expired or from an old secret: log in by name again (never a site's user as a guest) */
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
      this._pumpIn(1000 + Math.random() * 1000);
    } else if (msg.code === 'server_busy' && msg.ref && hasOwn(this.carried, msg.ref)) {
      delete this.carried[msg.ref]; /* not stored (the store cannot write now): kept, and sent again after a wait */
      this._waitBusy();
      msg.retrying = true;
    } else if (msg.ref && msg.code !== 'not_logged_in') {
      this._unqueue(msg.ref);
    }
    this.emit('error', msg);
  };

  /* One step of backoff per busy spell: the other sends refused with the same batch find the wait already set. */
  Client.prototype._waitBusy = function () {
    var t = now();
    if (this.busyUntil > t) return;
    this.busyCount = Math.min(this.busyCount + 1, 16);
    this.busyUntil = t + Math.min(BUSY_WAIT_MAX, 1000 * Math.pow(2, this.busyCount - 1)) * (0.75 + Math.random() * 0.5);
    this._pump(); /* which sets its timer for the end of the wait */
  };

  /* ---- Public API ---- */

  /* `token`: one the host application signed (docs/identity.md, "Logging users in from your application"); `name` may then be null. */
  Client.prototype.login = function (name, avatar, cb, token) {
    if (this.loggedIn || this.loggingIn) {
      if (cb) cb({ cmd: 'error', code: 'bad_request', message: 'already logged in', ref: 'login' });
      return this;
    }
    this.creds = { name: name || null, avatar: avatar || null, token: token || null, hostToken: !!token };
    this.loginCb = cb || null;
    if (this.transport && this.transport.opened) this._sendLogin();
    else this.connect();
    return this;
  };

  /*
   * With `remember`: logs in again as whom this browser was logged in as
   * (a reload, another tab), with the saved token. False when none is saved;
   * `cb` as for login (an `unauthorized` means that identity has ended, and
   * the saved token is forgotten).
   */
  Client.prototype.restore = function (cb) {
    var token = this.savedToken();
    if (!token || this.loggedIn || this.loggingIn) return false;
    this.login(null, null, cb, token);
    this.creds.hostToken = false;
    return true;
  };

  Client.prototype.savedToken = function () {
    return this.remember ? WebIM.storage.get(this.remember) : null;
  };

  /* Forgets the saved token in this browser (logout does it too); the session goes on. */
  Client.prototype.forget = function () {
    if (this.remember) WebIM.storage.remove(this.remember);
    return this;
  };

  Client.prototype.logout = function () {
    this._write({ cmd: 'logout' });
    this.forget();
    this.creds = this.user = null;
    this.cursors = {};
    this.pending = [];
    this.carried = {};
    this.busyCount = this.busyUntil = 0;
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
})(window, window.WebIM);

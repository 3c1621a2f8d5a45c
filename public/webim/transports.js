/*
 * webim/transports.js: the WebSocket and SockJS transports (one adapter over
 * either socket), the order the client tries transports in, and what each
 * needs from the browser. Part of /webim.js, after core.js and comet.js.
 */
(function (window, WebIM) {
  if (!WebIM || !WebIM._lib || !WebIM._lib.CometTransport) throw new Error('webim/transports.js must load after webim/comet.js');
  var lib = WebIM._lib, noop = lib.noop, later = lib.later, CometTransport = lib.CometTransport;
  var ORDER = ['websocket', 'sockjs', 'comet'];

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
  SocketTransport.prototype.fail = lib.fail;

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

  lib.ORDER = ORDER;
  lib.rank = rank;
  lib.makeTransport = makeTransport;
  lib.unsupported = unsupported;
})(window, window.WebIM);

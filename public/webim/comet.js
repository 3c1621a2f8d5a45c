/*
 * webim/comet.js: the Comet long-poll transport (docs/protocol.md) and the HTTP it
 * runs on: XHR (same origin or CORS), XDomainRequest (IE8-9 across origins)
 * or JSONP. Part of /webim.js, after core.js (see there).
 *
 * Old IE's limits shape it:
 * - IE6-8 cannot request a URL longer than 2,083 characters (and nginx
 *   refuses a request line over 8 KiB), so JSONP mode sends by posting a
 *   form into a hidden iframe. A frame of another origin cannot be read:
 *   each post is numbered (`b`), the poll answer says which it has
 *   `received`, and a post not received in time goes again with its number,
 *   which the server hands on once. One post is out at a time, so the order
 *   holds.
 * - IE6-7 open two connections to a host at most. The held poll takes one;
 *   everything else the client sends to the chat host (sends and commands,
 *   uploads, the close beacon) takes turns on the other, its `slot`, so the
 *   chat never waits on itself.
 * - What waits behind a slow send leaves in the next one, so the client's
 *   pacing (client-session.js) would not bound what reaches the server at
 *   once: messages also leave here no faster than SEND_RATE, as the server's
 *   rate limit takes them.
 */
(function (window, WebIM) {
  if (!WebIM || !WebIM._lib) throw new Error('webim/comet.js must load after webim/core.js');
  var document = window.document, lib = WebIM._lib;
  var now = lib.now, noop = lib.noop, later = lib.later, cancel = lib.cancel, enc = lib.enc, parse = lib.parse,
    listen = lib.listen, pageOrigin = lib.pageOrigin, SEND_RATE = lib.SEND_RATE, SEND_BURST = lib.SEND_BURST;
  var jsonp = WebIM._jsonp, inflight = {}, requestSeq = 0, slots = {};
  /* after a post's frame has loaded, ms to wait for the poll to say it was received before posting it again */
  var RECEIPT_WAIT = 4000, POST_TRIES = 4, BATCH_MAX = 30000;

  function newXhr() {
    if (window.XMLHttpRequest) return new window.XMLHttpRequest();
    try { return new window.ActiveXObject('Microsoft.XMLHTTP'); } catch (e) { return null; }
  }
  function corsXhr() {
    if (!window.XMLHttpRequest) return false; /* IE6's ActiveX XHR has no CORS (and `in` may throw on it) */
    try { return 'withCredentials' in new window.XMLHttpRequest(); } catch (e) { return false; }
  }
  /* IE6-7: neither CORS nor XDomainRequest (IE8 has both those and six connections per host) */
  var fewConnections = !window.XDomainRequest && !corsXhr();

  function httpMode(base, forced) {
    if (forced === 'xhr' || forced === 'xdr' || forced === 'jsonp') return forced;
    if (base.toLowerCase() === pageOrigin().toLowerCase() && newXhr()) return 'xhr';
    if (corsXhr()) return 'xhr';
    if (window.XDomainRequest && base.indexOf(window.location.protocol) === 0) return 'xdr';
    return 'jsonp';
  }

  /* Jobs that hold the second connection to a host take turns (fewConnections); elsewhere each starts at once. */
  function Slot() {
    this.busy = false;
    this.queue = [];
  }
  /* job(release): release() once its request is over (more calls are ignored) */
  Slot.prototype.take = function (job) {
    if (!fewConnections) return job(noop);
    this.queue.push(job);
    this.next();
  };
  Slot.prototype.next = function () {
    var self = this, job, released = false;
    if (this.busy || !this.queue.length) return;
    job = this.queue.shift();
    this.busy = true;
    job(function () {
      if (released) return;
      released = true;
      self.busy = false;
      later(function () { self.next(); }, 0);
    });
  };
  function slotFor(base) {
    if (!slots['@' + base]) slots['@' + base] = new Slot();
    return slots['@' + base];
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
      /* XDomainRequest reads no answer but a 2xx one: xdr=1 asks the server for 200 with the error in the body */
      x = inflight[name] = new window.XDomainRequest(); /* held, or IE may collect it mid-flight */
      x.onload = function () { finish(200, parse(x.responseText)); };
      x.onerror = x.ontimeout = function () { finish(0, null); };
      x.onprogress = noop;
      x.open(body === null ? 'GET' : 'POST', url + '&xdr=1');
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

  /* An element with a name IE6-7 submit and target by: they ignore a name set after createElement. */
  function named(tag, name) {
    var el;
    try { el = document.createElement('<' + tag + ' name="' + name + '">'); } catch (e) { el = null; }
    if (!el || el.nodeName.toLowerCase() !== tag) {
      el = document.createElement(tag);
      el.name = name;
    }
    return el;
  }

  /*
   * Posts `form` into a new hidden iframe; cb() once the answer has loaded or after `timeout` ms. The answer
   * itself is not read: a frame of another origin cannot be.
   */
  function postInFrame(form, url, timeout, cb) {
    var name = 'webim_frame_' + (++requestSeq), frame = named('iframe', name), done = false, timer = null;
    function finish() {
      if (done) return;
      done = true;
      timer = cancel(timer);
      frame.onreadystatechange = noop;
      later(function () { if (frame.parentNode) frame.parentNode.removeChild(frame); }, 100);
      cb();
    }
    function loaded() {
      var href = null;
      try { href = frame.contentWindow.location.href; } catch (e) { /* another origin's answer: it is there */ }
      if (href !== 'about:blank') finish(); /* not the empty page an iframe starts with */
    }
    frame.style.display = 'none';
    document.body.appendChild(frame);
    listen(frame, 'load', loaded);
    frame.onreadystatechange = function () { if (frame.readyState === 'complete') loaded(); };
    form.target = name;
    form.action = url;
    form.method = 'POST';
    timer = later(finish, timeout);
    form.submit();
  }

  /* A form that sends `value` as field `field`. */
  function textForm(field, value) {
    var form = document.createElement('form'), area = named('textarea', field);
    form.style.display = 'none';
    form.enctype = form.encoding = 'application/x-www-form-urlencoded'; /* `encoding` for IE6-7 */
    form.acceptCharset = 'UTF-8';
    area.value = value;
    form.appendChild(area);
    document.body.appendChild(form);
    return form;
  }

  /* JSON in ASCII: a form is encoded in the page's charset, which a page that embeds the chat chooses. */
  function asciiJson(value) {
    return window.JSON.stringify(value).replace(/[\u007f-\uffff]/g, function (c) {
      return '\\u' + ('000' + c.charCodeAt(0).toString(16)).slice(-4);
    });
  }

  /* ---- The transport: calls client._opened(t), client._received(t, data), client._closed(t, why) ---- */

  function CometTransport(client, base, mode) {
    var self = this;
    this.name = 'comet';
    this.client = client;
    this.mode = httpMode(base, mode);
    this.url = base + '/comet/';
    this.slot = slotFor(base);
    this.opened = this.dead = this.sending = this.refused = false;
    this.sid = null;
    this.ack = this.errors = this.posts = this.received = 0;
    this.tokens = SEND_BURST;
    this.tokenTime = now();
    this.posting = null;
    this.out = [];
    this.timeout = 25000;
    this.abortPoll = this.abortOpen = null;
    function start() {
      if (self.dead) return;
      self.abortOpen = request(self.mode, self.url + 'open', null, 20000, function (err, data) {
        if (data && data.error === 'forbidden') {
          self.refused = true;
          return self.fail('pages of ' + pageOrigin() + ' are not allowed to use this chat (the server\'s allowed origins)');
        }
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
        if (data.received) self.tookUpTo(data.received);
        self.poll();
      });
  };
  CometTransport.prototype.send = function (msgs) {
    for (var i = 0; i < msgs.length; i++) this.out.push(msgs[i]);
    this.flush();
  };
  /* One send at a time, so the server sees them in order; a batch stays under the server's body limit and rate. */
  CometTransport.prototype.flush = function () {
    var self = this, batch = [], size = 2, text, encode = this.mode === 'jsonp' ? asciiJson : window.JSON.stringify, t = now();
    if (this.sending || !this.opened || this.dead || !this.out.length || this.flushTimer) return;
    this.tokens = Math.min(SEND_BURST, this.tokens + (t - this.tokenTime) * SEND_RATE / 1000);
    this.tokenTime = t;
    if (this.tokens < 1) {
      this.flushTimer = later(function () { self.flushTimer = null; self.flush(); }, Math.ceil((1 - this.tokens) * 1000 / SEND_RATE));
      return;
    }
    while (this.out.length && batch.length < Math.floor(this.tokens)) {
      text = encode(this.out[0]);
      if (batch.length && size + text.length > BATCH_MAX) break;
      batch.push(this.out.shift());
      size += text.length + 1;
    }
    this.tokens -= batch.length;
    this.sending = true;
    if (this.mode === 'jsonp') return this.post({ n: ++this.posts, text: encode(batch), tries: 0 });
    this.slot.take(function (release) {
      if (self.dead) return release();
      request(self.mode, self.url + 'send?sid=' + enc(self.sid), window.JSON.stringify(batch), 30000, function (err, data) {
        release();
        self.sending = false;
        if (self.dead) return;
        if (data && data.error === 'too_large') {
          self.client._received(self, { cmd: 'error', code: 'too_large', message: 'request too large' });
        } else if (err || data.error) {
          return self.fail('comet send failed');
        }
        self.flush();
      });
    });
  };
  /* JSONP mode: the batch goes as a form, numbered; tookUpTo hears from the poll that it arrived. */
  CometTransport.prototype.post = function (batch) {
    var self = this;
    this.posting = batch;
    this.slot.take(function (release) {
      var form;
      if (self.dead || self.posting !== batch) return release();
      batch.tries++;
      form = textForm('d', batch.text);
      postInFrame(form, self.url + 'send?sid=' + enc(self.sid) + '&b=' + batch.n, 30000, function () {
        form.parentNode.removeChild(form);
        release();
        if (self.dead || self.posting !== batch) return;
        self.receiptTimer = cancel(self.receiptTimer);
        self.receiptTimer = later(function () {
          if (self.dead || self.posting !== batch) return;
          if (batch.tries >= POST_TRIES) return self.fail('comet send lost');
          self.post(batch); /* the same number: the server hands it on once */
        }, RECEIPT_WAIT);
      });
    });
  };
  CometTransport.prototype.tookUpTo = function (n) {
    if (n > this.received) this.received = n;
    if (!this.posting || this.received < this.posting.n) return;
    this.posting = null;
    this.receiptTimer = cancel(this.receiptTimer);
    this.sending = false;
    this.flush();
  };
  CometTransport.prototype.close = function () {
    var url;
    if (this.dead) return;
    this.dead = true;
    this.retry = cancel(this.retry);
    this.receiptTimer = cancel(this.receiptTimer);
    this.flushTimer = cancel(this.flushTimer);
    if (this.abortOpen) this.abortOpen();
    if (this.abortPoll) this.abortPoll();
    if (!this.sid) return;
    /* fire and forget, safe during unload: an image GET needs no CORS and no answer */
    url = this.url + 'close?sid=' + enc(this.sid) + '&_=' + now();
    this.slot.take(function (release) {
      var img = new window.Image();
      img.onload = img.onerror = release;
      later(release, 5000);
      img.src = url;
    });
  };
  CometTransport.prototype.fail = lib.fail;

  lib.CometTransport = CometTransport;
  lib.request = request;
  lib.httpMode = httpMode;
  lib.postInFrame = postInFrame;
  lib.slotFor = slotFor;
})(window, window.WebIM);

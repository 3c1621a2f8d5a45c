/*
 * webim page, part 2 of 5: conversations. One object per channel keeps its
 * messages in a detached <div>, in offset order and without duplicates; the
 * single `conversation` element shows the current one. Older history loads
 * when it is scrolled to its top. Also the typing indicator.
 */
(function (App, window) {
  var PAGE = 50, TYPING_MS = 5000;
  var C = App.conv = { all: {}, current: null, typing: {}, view: null, typingEl: null, hooks: null };

  function Conv(channel, me) {
    var parts = channel.split(':'), self = this;
    this.channel = channel;
    this.room = parts[0] === 'room' ? parts[1] : null;
    this.peer = parts[0] === 'dm' ? (parts[1] === me ? parts[2] : parts[1]) : null;
    this.ids = {};
    this.offsets = [];
    this.nodes = [];
    this.loaded = this.loading = this.denied = false;
    this.stick = true;
    this.scrollTop = 0;
    this.top = App.el('div', { className: 'conv-top' });
    this.box = App.el('div', { className: 'msgs' }, [this.top]);
    App.on(this.top, 'click', function () { C.older(self); });
  }
  Conv.prototype.lowest = function () { return this.offsets.length ? this.offsets[0] : 0; };
  Conv.prototype.target = function () { return this.room ? { room: this.room } : { user: this.peer }; };

  /* Inserts a message at its offset; null if it is already there. */
  Conv.prototype.add = function (m) {
    var lo = 0, hi = this.offsets.length, mid, node;
    if (App.has(this.ids, m.id)) return null;
    while (lo < hi) {
      mid = (lo + hi) >> 1;
      if (this.offsets[mid] < m.offset) lo = mid + 1;
      else hi = mid;
    }
    if (this.offsets[lo] === m.offset) return null;
    node = renderMessage(m);
    if (lo < this.nodes.length) this.box.insertBefore(node, this.nodes[lo]);
    else this.box.appendChild(node);
    this.offsets.splice(lo, 0, m.offset);
    this.nodes.splice(lo, 0, node);
    this.ids[m.id] = true;
    return node;
  };

  Conv.prototype.updateTop = function () {
    var text = '';
    if (this.denied) text = 'Join this room to read it.';
    else if (this.loading) text = 'Loading\u2026';
    else if (this.lowest() > 1) text = 'Older messages: scroll up or click here';
    else if (this.offsets.length) text = 'This is the beginning of the conversation.';
    else if (this.loaded) text = 'No messages yet. Say hello!';
    App.toggleClass(this.top, 'conv-top-more', !this.loading && this.lowest() > 1);
    App.setText(this.top, text);
  };

  function renderBody(m) {
    var img, tried = false;
    if (m.type === 'emoji') {
      return App.el('div', { className: 'msg-body msg-emoji', 'data-testid': 'message-body',
        'data-code': m.body.replace(/^:|:$/g, ''), title: m.body }, [App.emojiGlyph(m.body)]);
    }
    if (m.type === 'image' && App.IMAGE_URL.test(m.body)) {
      img = App.el('img', { className: 'msg-thumb', alt: 'image' });
      img.onerror = function () { if (!tried) { tried = true; img.src = App.chatUrl(m.body); } };
      img.onload = function () { if (C.current === m.channel && C.all[m.channel].stick) C.toBottom(); };
      img.src = App.chatUrl(App.thumbOf(m.body));
      return App.el('div', { className: 'msg-body msg-image', 'data-testid': 'message-body', 'data-url': m.body }, [
        App.el('a', { href: App.chatUrl(m.body), target: '_blank', rel: 'noopener noreferrer' }, [img])
      ]);
    }
    return App.el('div', { className: 'msg-body', 'data-testid': 'message-body' }, [m.body]);
  }

  function renderMessage(m) {
    var me = App.state.me, mine = me && m.from.id === me.id;
    return App.el('div', {
      className: 'msg' + (mine ? ' msg-mine' : ''),
      'data-testid': 'message', 'data-id': m.id, 'data-offset': m.offset, 'data-from': m.from.id
    }, [
      App.avatar(m.from),
      App.el('div', { className: 'msg-main' }, [
        App.el('div', { className: 'msg-meta' }, [
          App.el('span', { className: 'msg-from' }, [m.from.name]), ' ',
          App.el('span', { className: 'msg-time', title: new Date(m.ts).toLocaleString() }, [App.formatTime(m.ts)])
        ]),
        renderBody(m)
      ])
    ]);
  }

  C.init = function (view, typingEl, hooks) {
    C.view = view;
    C.typingEl = typingEl;
    C.hooks = hooks;
    App.on(view, 'scroll', function () { C.scrolled(); });
  };

  C.reset = function () {
    var k, t;
    for (k in C.typing) if (App.has(C.typing, k)) for (t in C.typing[k]) if (App.has(C.typing[k], t)) window.clearTimeout(C.typing[k][t].timer);
    C.all = {};
    C.typing = {};
    C.current = null;
    if (C.view) { App.empty(C.view); C.view.setAttribute('data-channel', ''); }
  };

  C.get = function (channel) {
    if (!App.has(C.all, channel)) C.all[channel] = new Conv(channel, App.state.me.id);
    return C.all[channel];
  };

  C.atBottom = function () {
    var v = C.view;
    return v.scrollHeight - v.scrollTop - v.clientHeight < 40;
  };
  C.toBottom = function () { C.view.scrollTop = C.view.scrollHeight; };

  /* Shows a conversation; `join` joins its room if needed (a click on a room entry does). */
  C.show = function (channel, join) {
    var conv = C.get(channel), prev = C.current && C.all[C.current], view = C.view;
    if (prev && prev !== conv) {
      prev.scrollTop = view.scrollTop;
      prev.stick = C.atBottom();
    }
    if (view.firstChild !== conv.box) {
      App.empty(view);
      view.appendChild(conv.box);
    }
    view.setAttribute('data-channel', channel);
    C.current = channel;
    if (join && conv.room && !App.state.joined[conv.room]) C.load(conv, true);
    else if (!conv.loaded && !conv.loading) C.load(conv, false);
    conv.updateTop();
    if (conv.stick) C.toBottom();
    else view.scrollTop = conv.scrollTop;
    C.hooks.shown(conv);
    C.renderTyping();
    return conv;
  };

  /* The latest page: `join` answers with it, `history` for a room already joined or a private channel. */
  C.load = function (conv, join) {
    var im = App.state.im;
    conv.loading = true;
    conv.denied = false;
    if (!(join ? im.join(conv.room) : im.history(conv.channel, null, PAGE))) conv.loading = false;
    conv.updateTop();
  };

  C.older = function (conv) {
    if (!conv.loaded || conv.loading || conv.lowest() <= 1) return;
    conv.loading = App.state.im.history(conv.channel, conv.lowest(), PAGE);
    conv.updateTop();
  };

  C.scrolled = function () {
    var conv = C.current && C.all[C.current];
    if (!conv) return;
    conv.stick = C.atBottom();
    if (C.view.scrollTop < 60) C.older(conv);
  };

  /* A `history` answer (or `joined`'s history): merged in place, the reader's position kept. */
  C.history = function (channel, messages) {
    var conv = C.get(channel), view = C.view, shown = C.current === channel;
    var first = !conv.loaded, height = view.scrollHeight, top = view.scrollTop, i;
    for (i = 0; i < messages.length; i++) conv.add(messages[i]);
    conv.loaded = true;
    conv.loading = conv.denied = false;
    conv.updateTop();
    if (!shown) return;
    if (first || conv.stick) C.toBottom();
    else view.scrollTop = top + (view.scrollHeight - height);
    /* a first page too short to scroll: fetch more at once */
    if (view.scrollHeight <= view.clientHeight + 10) C.older(conv);
  };

  /* A `history` or `join` refused (forbidden, not_found): the loading conversations stop waiting. */
  C.refused = function (code) {
    var k, conv;
    for (k in C.all) {
      if (!App.has(C.all, k) || !C.all[k].loading) continue;
      conv = C.all[k];
      conv.loading = false;
      conv.denied = code === 'forbidden';
      conv.updateTop();
    }
  };

  /* A live or replayed message; true when it is new. */
  C.message = function (m) {
    var conv = C.get(m.channel), shown = C.current === m.channel, stick = shown && C.atBottom();
    var me = App.state.me;
    if (!conv.add(m)) return false;
    C.stopTyping(m.channel, m.from.id);
    conv.updateTop();
    if (shown && (stick || m.from.id === me.id)) C.toBottom();
    return true;
  };

  C.typingFrom = function (msg) {
    var channel = window.WebIM.channelOf(msg.to, msg.from.id), id = msg.from.id, t;
    if (App.state.me && id === App.state.me.id) return;
    t = App.has(C.typing, channel) ? C.typing[channel] : (C.typing[channel] = {});
    if (App.has(t, id)) window.clearTimeout(t[id].timer);
    t[id] = { name: msg.from.name, timer: window.setTimeout(function () { C.stopTyping(channel, id); }, TYPING_MS) };
    if (channel === C.current) C.renderTyping();
  };

  C.stopTyping = function (channel, id) {
    var t = App.has(C.typing, channel) ? C.typing[channel] : null;
    if (!t || !App.has(t, id)) return;
    window.clearTimeout(t[id].timer);
    delete t[id];
    if (channel === C.current) C.renderTyping();
  };

  C.renderTyping = function () {
    var t = App.has(C.typing, C.current) ? C.typing[C.current] : {}, names = [], k, text = '';
    for (k in t) if (App.has(t, k)) names.push(t[k].name);
    if (names.length === 1) text = names[0] + ' is typing\u2026';
    else if (names.length === 2) text = names[0] + ' and ' + names[1] + ' are typing\u2026';
    else if (names.length > 2) text = 'Several people are typing\u2026';
    App.setText(C.typingEl, text);
  };
})(WebIMApp, window);

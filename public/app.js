/*
 * webim page, part 5 of 5: wires the WebIM client to the page. Login form,
 * then (no reload) the chat: rooms, users, conversations, composer, emoji
 * picker, image upload, own status, connection indicators. ES3.
 */
(function (App, window) {
  var document = window.document, WebIM = window.WebIM, $ = App.byId;
  var st = App.state = { im: null, me: null, users: {}, rooms: {}, joined: {}, members: {}, unread: {}, names: {}, avatars: {} };
  /* remember: the login survives a reload and opens in other tabs (WebIM.storage) */
  var im = st.im = new WebIM.Client({ url: App.base, remember: true });
  var CONV_KEY = 'webim.conv';
  var noticeTimer = null, countTimer = null;

  /* ---- connection, notices, login errors ---- */

  im.on('state', function (state) {
    App.setText($('connection'), state);
    $('conn').className = 'conn conn-' + state;
  });
  im.on('transport', function (name) {
    App.setText($('transport'), name);
    App.show($('conn-via'), true);
  });

  var notice = App.notice = function (text, sticky) {
    var box = $('notice');
    App.setText(box, text);
    App.show(box, !!text);
    noticeTimer = window.clearTimeout(noticeTimer) || null;
    if (text && !sticky) noticeTimer = window.setTimeout(function () { App.show(box, false); }, 6000);
  };
  function loginError(text) {
    App.setText($('login-error'), text);
    App.show($('login-error'), !!text);
  }

  /* ---- login view ---- */

  function pickAvatar(id) {
    var grid = $('avatar-grid'), i, node;
    $('login-avatar').value = id;
    for (i = 0; i < grid.childNodes.length; i++) {
      node = grid.childNodes[i];
      if (node.nodeType === 1) App.toggleClass(node, 'picked', node.getAttribute('data-avatar') === id);
    }
  }

  function buildLogin() {
    var grid = $('avatar-grid'), select = $('login-avatar'), i, id;
    for (i = 0; i < App.AVATARS.length; i++) {
      id = App.AVATARS[i];
      select.options[select.options.length] = new window.Option(id, id); /* appendChild of options fails in IE6-7 */
      grid.appendChild(App.el('span', { className: 'avatar-choice', 'data-avatar': id, title: id }, [App.avatar({ name: id, avatar: id }, 'md')]));
    }
    App.on(grid, 'click', function (e, target) {
      var choice = App.closest(target, 'data-avatar', grid), id = choice && choice.getAttribute('data-avatar');
      if (id) pickAvatar($('login-avatar').value === id ? '' : id);
    });
    App.on(select, 'change', function () { pickAvatar(select.value); });
    App.on($('login-form'), 'submit', function (e) {
      App.prevent(e);
      login();
      return false;
    });
  }

  function login() {
    var name = App.strip($('login-name').value), button = $('login-submit');
    if (!name || name.length > 32) return loginError('Choose a name of 1 to 32 characters.');
    loginError('');
    button.disabled = true;
    im.login(name, $('login-avatar').value || null, function (err) {
      button.disabled = false;
      if (err) loginError(err.code === 'name_taken' ? takenText(name) : App.describe(err));
    });
  }

  /* A guest's name stays theirs for a while after they leave: say so, and offer one that is likely free. */
  function takenText(name) {
    var other = name.substring(0, 29) + (10 + Math.floor(Math.random() * 90));
    return 'The name "' + name + '" is taken: someone is using it, or used it recently and it is kept for them. ' +
      'If it is yours, come back in the browser you used it in. Otherwise pick another name, such as "' + other + '". (name_taken)';
  }

  /* After a reload or in another tab: back in as before, with the token this browser kept. */
  function restore() {
    var button = $('login-submit');
    if (!im.savedToken()) return false;
    button.disabled = true;
    notice('Signing you back in\u2026', true);
    return im.restore(function (err) {
      button.disabled = false;
      notice('');
      if (err) loginError(err.code === 'unauthorized' ? 'Your earlier session has ended; please log in again. (unauthorized)' : App.describe(err));
    });
  }

  /* The conversation this browser had on screen, if it is one of this user's. */
  function savedConversation() {
    var saved = WebIM.storage.get(CONV_KEY) || '', me = st.me.id, channel, parts;
    if (saved.substring(0, me.length + 1) !== me + ' ') return 'room:lobby';
    channel = saved.substring(me.length + 1);
    parts = channel.split(':');
    if (parts[0] === 'room' && App.validRoom(parts[1] || '')) return channel;
    if (parts[0] === 'dm' && parts.length === 3 && (parts[1] === me || parts[2] === me)) return channel;
    return 'room:lobby';
  }

  /* ---- entering and leaving the chat ---- */

  function applyLogin(msg) {
    var i, room;
    st.me = msg.user;
    st.rooms = {};
    st.joined = {};
    st.members = {};
    for (i = 0; i < msg.rooms.length; i++) st.rooms[msg.rooms[i].name] = msg.rooms[i];
    for (i = 0; i < msg.joined.length; i++) {
      room = msg.joined[i];
      st.joined[room] = true;
      if (!App.has(st.rooms, room)) st.rooms[room] = { name: room, title: room, members: 0 };
    }
    App.lists.renderUsers(msg.online);
    App.lists.renderRooms();
    showMe();
    countTimer = window.clearTimeout(countTimer) || null;
    refreshCounts(0);
  }

  /* Who is online in each joined room: asked after login and (debounced) when someone comes online. */
  function refreshCounts(delay) {
    if (countTimer) return;
    countTimer = window.setTimeout(function () {
      var k, n = 0;
      countTimer = null;
      for (k in st.joined) if (App.has(st.joined, k) && st.joined[k] && n++ < 20) im.online(k);
    }, delay);
  }

  function showMe() {
    var me = $('me');
    App.setText(me, st.me.name);
    me.setAttribute('data-user', st.me.id);
    App.empty($('me-avatar'));
    $('me-avatar').appendChild(App.avatar(st.me, 'sm'));
    $('status').value = st.me.status;
  }

  im.on('login', function (msg) {
    var again = st.me && st.me.id === msg.user.id, conv;
    if (!again) {
      App.conv.reset();
      App.lists.reset();
      st.unread = {};
    }
    applyLogin(msg);
    if (!again) {
      App.show($('login-view'), false);
      App.show($('chat-view'), true);
      App.show($('me-box'), true);
      loginError('');
      notice('');
      App.conv.show(savedConversation(), false);
      if (document.documentElement.clientWidth > 700) $('composer').focus();
    } else {
      conv = App.conv.current && App.conv.all[App.conv.current];
      if (conv && !conv.loaded) App.conv.load(conv, false);
      header();
      notice('');
    }
    updateTitle();
  });

  function leaveChat(reason) {
    st.me = null;
    App.conv.reset();
    App.lists.reset();
    st.unread = {};
    App.show($('chat-view'), false);
    App.show($('me-box'), false);
    App.show($('login-view'), true);
    App.setText($('me'), '');
    $('me').setAttribute('data-user', '');
    loginError(reason || '');
    updateTitle();
  }

  /* ---- conversation header, unread counts ---- */

  function header() {
    var conv = App.conv.current && App.conv.all[App.conv.current], action = $('conv-action'), sub = '', user;
    if (!conv) return;
    if (conv.room) {
      App.setText($('conv-title'), '#' + conv.room);
      sub = st.joined[conv.room] ? App.lists.memberCount(conv.room) + ' online' : 'not joined';
      App.setText(action, st.joined[conv.room] ? 'Leave' : 'Join');
    } else {
      user = App.has(st.users, conv.peer) ? st.users[conv.peer] : null;
      App.setText($('conv-title'), App.has(st.names, conv.peer) ? st.names[conv.peer] : conv.peer);
      sub = conv.peer === st.me.id ? 'notes to yourself' : user ? user.status : 'offline';
    }
    App.show(action, !!conv.room);
    App.setText($('conv-sub'), sub);
  }

  function updateTitle() {
    var n = 0, k;
    for (k in st.unread) if (App.has(st.unread, k)) n += st.unread[k];
    document.title = (n ? '(' + n + ') ' : '') + 'webim';
  }

  function setUnread(channel, n) {
    st.unread[channel] = n;
    App.lists.setUnread(channel);
    updateTitle();
  }

  function current() { return App.conv.current && App.conv.all[App.conv.current]; }

  function open(channel, join) {
    App.conv.show(channel, join);
    if (document.documentElement.clientWidth > 700) $('composer').focus();
  }

  /* ---- server events ---- */

  function remember(user) {
    st.names[user.id] = user.name;
    st.avatars[user.id] = user.avatar;
  }

  im.on('message', function (m) {
    var conv;
    if (!st.me) return;
    remember(m.from);
    if (!App.conv.message(m)) return;
    if (m.channel !== App.conv.current && m.from.id !== st.me.id) {
      setUnread(m.channel, (st.unread[m.channel] || 0) + 1);
    }
    conv = App.conv.all[m.channel];
    if (conv.peer && !App.has(st.users, conv.peer)) App.lists.renderChats();
  });

  im.on('history', function (msg) {
    var i;
    if (!st.me) return;
    for (i = 0; i < msg.messages.length; i++) remember(msg.messages[i].from);
    App.conv.history(msg.channel, msg.messages);
  });

  function members(room) {
    if (!App.has(st.members, room)) st.members[room] = {};
    return st.members[room];
  }

  im.on('joined', function (msg) {
    var set, i;
    if (!st.me) return;
    st.joined[msg.room] = true;
    if (!App.has(st.rooms, msg.room)) st.rooms[msg.room] = { name: msg.room, title: msg.room, members: 0 };
    set = st.members[msg.room] = {};
    for (i = 0; i < msg.members.length; i++) set[msg.members[i].id] = true;
    App.conv.history('room:' + msg.room, msg.history || []);
    App.lists.renderRooms();
    header();
  });

  im.on('left', function (msg) {
    if (!st.me) return;
    st.joined[msg.room] = false;
    delete st.members[msg.room];
    App.lists.renderRooms();
    header();
  });

  im.on('online', function (msg) {
    var set, i;
    if (!st.me || !msg.room) return;
    set = st.members[msg.room] = {};
    for (i = 0; i < msg.users.length; i++) set[msg.users[i].id] = true;
    App.lists.renderRooms();
    header();
  });

  im.on('presence', function (p) {
    var u = p.user, k;
    if (!st.me) return;
    remember(u);
    if (p.event === 'online' || p.event === 'status') {
      App.lists.putUser(u);
      if (p.event === 'online') refreshCounts(2000); /* the rooms they are in say nothing */
    } else if (p.event === 'offline') {
      App.lists.removeUser(u.id);
      for (k in st.members) if (App.has(st.members, k)) delete st.members[k][u.id];
      App.lists.renderRooms();
    } else if (p.event === 'join' || p.event === 'leave') {
      if (!App.has(st.rooms, p.room)) st.rooms[p.room] = { name: p.room, title: p.room, members: 0 };
      if (p.event === 'join') members(p.room)[u.id] = true;
      else delete members(p.room)[u.id];
      if (u.id === st.me.id) st.joined[p.room] = p.event === 'join'; /* another device of mine */
      App.lists.renderRooms();
    }
    if (u.id === st.me.id && p.event === 'status') {
      st.me = u;
      $('status').value = u.status;
    }
    header();
  });

  im.on('typing', function (msg) { if (st.me) App.conv.typingFrom(msg); });

  im.on('error', function (err) {
    if (err.ref === 'login') {
      if (st.me) leaveChat(App.describe(err)); /* a login after a reconnect was refused */
      return;
    }
    if (err.code === 'transport_unavailable' || err.code === 'transport_failed' || err.ref === 'connect') {
      loginError(App.describe(err));
      if (st.me) notice(App.describe(err), true);
      return;
    }
    if (err.ref === 'history' || err.ref === 'join') App.conv.refused(err.code);
    if (err.retrying) notice('The server cannot store messages right now; yours is kept and sent again shortly. (' + err.code + ')');
    else if (st.me) notice(App.describe(err));
  });

  im.on('bye', function (msg) {
    var text = 'Disconnected by the server: ' + (msg.reason || msg.code) + ' (' + msg.code + ')';
    if (msg.reconnect) notice(text + '. Reconnecting\u2026');
    else if (st.me) leaveChat(text);
    else loginError(text);
  });

  /* ---- side panel, header, top bar ---- */

  function buildChat() {
    App.conv.init($('conversation'), $('typing'), {
      shown: function (conv) {
        if (st.me) WebIM.storage.set(CONV_KEY, st.me.id + ' ' + conv.channel);
        setUnread(conv.channel, 0);
        App.lists.setActive(conv.channel);
        header();
      }
    });
    App.lists.init({ rooms: $('rooms'), users: $('users'), chats: $('chats'), chatsSection: $('chats-section') }, {
      open: open,
      leave: function (room) { im.leave(room); }
    });
    App.on($('room-form'), 'submit', function (e) {
      var name = App.strip($('room-name').value).toLowerCase();
      App.prevent(e);
      if (!App.validRoom(name)) {
        notice('Room names use a-z, 0-9, _ and -, up to 32 characters.');
        return false;
      }
      $('room-name').value = '';
      open('room:' + name, true);
      return false;
    });
    App.on($('conv-action'), 'click', function (e) {
      var conv = current();
      App.prevent(e);
      if (!conv || !conv.room) return;
      if (st.joined[conv.room]) im.leave(conv.room);
      else App.conv.show(conv.channel, true);
    });
    App.on($('status'), 'change', function () { im.status($('status').value); });
    App.on($('logout'), 'click', function (e) {
      App.prevent(e);
      im.logout();
      WebIM.storage.remove(CONV_KEY);
      leaveChat('');
      im.connect();
    });
  }

  buildLogin();
  buildChat();
  App.composer.init();
  if (!restore()) im.connect();
})(WebIMApp, window);

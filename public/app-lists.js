/*
 * webim page, part 3 of 5: the side lists. Rooms (`room` entries, joined
 * ones with a leave button), users online (`user` entries, oneself
 * included), private chats whose peer is offline, and the `unread` badges
 * on them. Clicks are delegated to app.js through hooks.
 */
(function (App) {
  var L = App.lists = { roomNodes: {}, userNodes: {}, chatNodes: {}, active: null, hooks: null };

  L.init = function (els, hooks) {
    L.els = els;
    L.hooks = hooks;
    App.on(els.rooms, 'click', function (e, target) {
      var leave = App.closest(target, 'data-leave', els.rooms), entry = App.closest(target, 'data-room', els.rooms);
      if (leave) hooks.leave(leave.getAttribute('data-leave'));
      else if (entry) hooks.open('room:' + entry.getAttribute('data-room'), true);
    });
    App.on(els.users, 'click', function (e, target) {
      var entry = App.closest(target, 'data-user', els.users);
      if (entry) hooks.open(window.WebIM.dmChannel(App.state.me.id, entry.getAttribute('data-user')), false);
    });
    App.on(els.chats, 'click', function (e, target) {
      var entry = App.closest(target, 'data-chat', els.chats);
      if (entry) hooks.open(entry.getAttribute('data-chat'), false);
    });
  };

  L.reset = function () {
    L.roomNodes = {};
    L.userNodes = {};
    L.chatNodes = {};
    L.active = null;
    App.empty(L.els.rooms);
    App.empty(L.els.users);
    App.empty(L.els.chats);
    App.show(L.els.chatsSection, false);
  };

  function badge(channel) {
    var n = App.has(App.state.unread, channel) ? App.state.unread[channel] : 0;
    return n > 0 ? App.el('span', { className: 'badge', 'data-testid': 'unread' }, [String(n)]) : null;
  }

  function setBadge(node, channel) {
    var i, child, fresh = badge(channel);
    if (!node) return;
    for (i = node.childNodes.length - 1; i >= 0; i--) {
      child = node.childNodes[i];
      if (child.nodeType === 1 && App.hasClass(child, 'badge')) node.removeChild(child);
    }
    if (fresh) node.appendChild(fresh);
  }

  function peerOf(channel) {
    var parts = channel.split(':');
    if (parts[0] !== 'dm') return null;
    return parts[1] === App.state.me.id ? parts[2] : parts[1];
  }

  function entryOf(channel) {
    var peer = peerOf(channel);
    if (!peer) return L.roomNodes[channel.substring(5)] || null;
    return L.userNodes[peer] || L.chatNodes[channel] || null;
  }

  L.memberCount = function (name) {
    var st = App.state, k, n = 0;
    if (!App.has(st.members, name)) return App.has(st.rooms, name) ? st.rooms[name].members : 0;
    for (k in st.members[name]) if (App.has(st.members[name], k)) n++;
    return n;
  };

  /* ---- rooms: few, so the list is rebuilt whole ---- */

  L.renderRooms = function () {
    var st = App.state, names = [], k, i, name, joined, li;
    for (k in st.rooms) if (App.has(st.rooms, k)) names.push(k);
    names.sort(function (a, b) {
      if (a === 'lobby' || b === 'lobby') return a === 'lobby' ? -1 : 1;
      return a < b ? -1 : a > b ? 1 : 0;
    });
    App.empty(L.els.rooms);
    L.roomNodes = {};
    for (i = 0; i < names.length; i++) {
      name = names[i];
      joined = st.joined[name] === true;
      li = App.el('li', {
        className: 'entry room' + (joined ? ' joined' : '') + (L.active === 'room:' + name ? ' active' : ''),
        'data-testid': 'room', 'data-room': name, title: joined ? '#' + name : 'Join #' + name
      }, [
        App.el('span', { className: 'room-hash' }, ['#']),
        App.el('span', { className: 'entry-name' }, [name]),
        App.el('span', { className: 'entry-count', title: 'online in the room' }, [String(L.memberCount(name))]),
        joined ? App.el('span', { className: 'leave', title: 'Leave #' + name, 'data-leave': name, 'aria-label': 'Leave' }, ['\u00D7']) : null,
        badge('room:' + name)
      ]);
      L.roomNodes[name] = li;
      L.els.rooms.appendChild(li);
    }
  };

  /* ---- users online: one entry per user, kept sorted (oneself first, then by name) ---- */

  function before(a, b) {
    var me = App.state.me.id, x = a.name.toLowerCase(), y = b.name.toLowerCase();
    if (a.id === me || b.id === me) return a.id === me;
    return x < y || (x === y && a.id < b.id);
  }

  function userEntry(user) {
    var channel = window.WebIM.dmChannel(App.state.me.id, user.id);
    return App.el('li', {
      className: 'entry user status-' + user.status + (user.id === App.state.me.id ? ' me' : '') + (L.active === channel ? ' active' : ''),
      'data-testid': 'user', 'data-user': user.id, 'data-status': user.status, title: user.name + ' (' + user.status + ')'
    }, [
      App.avatar(user, 'sm'),
      App.el('span', { className: 'status-dot' }),
      App.el('span', { className: 'entry-name' }, [user.name]),
      badge(channel)
    ]);
  }

  L.putUser = function (user) {
    var st = App.state, old = L.userNodes[user.id], node = userEntry(user), k, next = null;
    st.users[user.id] = user;
    st.names[user.id] = user.name;
    L.userNodes[user.id] = node;
    if (old) {
      L.els.users.replaceChild(node, old);
    } else {
      for (k in st.users) {
        if (App.has(st.users, k) && k !== user.id && L.userNodes[k] && before(user, st.users[k])) {
          if (!next || before(st.users[k], st.users[next])) next = k;
        }
      }
      if (next) L.els.users.insertBefore(node, L.userNodes[next]);
      else L.els.users.appendChild(node);
    }
    L.renderChats();
  };

  L.removeUser = function (id) {
    var node = L.userNodes[id];
    if (node && node.parentNode) node.parentNode.removeChild(node);
    delete L.userNodes[id];
    delete App.state.users[id];
    L.renderChats();
  };

  L.renderUsers = function (users) {
    var st = App.state, sorted = users.slice(0), i, u;
    sorted.sort(function (a, b) { return before(a, b) ? -1 : before(b, a) ? 1 : 0; });
    App.empty(L.els.users);
    L.userNodes = {};
    st.users = {};
    for (i = 0; i < sorted.length; i++) {
      u = sorted[i];
      st.users[u.id] = u;
      st.names[u.id] = u.name;
      L.userNodes[u.id] = userEntry(u);
      L.els.users.appendChild(L.userNodes[u.id]);
    }
    L.renderChats();
  };

  /* ---- private chats whose peer is not online (offline messages, say) ---- */

  L.renderChats = function () {
    var st = App.state, all = App.conv.all, k, peer, li, any = false;
    if (!st.me) return;
    App.empty(L.els.chats);
    L.chatNodes = {};
    for (k in all) {
      if (!App.has(all, k) || !(peer = all[k].peer) || App.has(st.users, peer) || !all[k].offsets.length) continue;
      li = App.el('li', { className: 'entry chat' + (L.active === k ? ' active' : ''), 'data-chat': k, title: 'offline' }, [
        App.avatar({ id: peer, name: App.has(st.names, peer) ? st.names[peer] : peer, avatar: st.avatars[peer] }, 'sm'),
        App.el('span', { className: 'entry-name' }, [App.has(st.names, peer) ? st.names[peer] : peer]),
        badge(k)
      ]);
      L.chatNodes[k] = li;
      L.els.chats.appendChild(li);
      any = true;
    }
    App.show(L.els.chatsSection, any);
  };

  L.setUnread = function (channel) {
    setBadge(entryOf(channel), channel);
  };

  L.setActive = function (channel) {
    var old = L.active && entryOf(L.active);
    if (old) App.toggleClass(old, 'active', false);
    L.active = channel;
    if (entryOf(channel)) App.toggleClass(entryOf(channel), 'active', true);
  };
})(WebIMApp);

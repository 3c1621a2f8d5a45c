/*
 * webim admin page: asks for the admin token, then drives the admin routes of /api/
 * (rooms, members, online users, kicks, notices). ES3 for old IE like the
 * chat page: no JSON without the json3 polyfill, no addEventListener before
 * IE9, no Array extras; server data reaches the page only through
 * createTextNode and property setters, never innerHTML.
 */
(function (window) {
  var document = window.document;
  var token = '';
  var API = 'api';

  function byId(id) { return document.getElementById(id); }
  function strip(s) { return String(s).replace(/^\s+|\s+$/g, ''); }

  function on(node, type, fn) {
    function handler(e) {
      e = e || window.event;
      var result = fn(e);
      if (e.preventDefault) e.preventDefault();
      e.returnValue = false;
      return result;
    }
    if (node.addEventListener) node.addEventListener(type, handler, false);
    else node.attachEvent('on' + type, handler);
  }

  function empty(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function text(s) { return document.createTextNode(String(s)); }

  function cell(row, content) {
    var td = document.createElement('td');
    if (content !== null && content !== undefined) td.appendChild(typeof content === 'object' ? content : text(content));
    row.appendChild(td);
    return td;
  }

  function button(label, testid, fn) {
    var b = document.createElement('button');
    b.type = 'button';
    b.setAttribute('data-testid', testid);
    b.appendChild(text(label));
    b.onclick = function () { fn(); return false; };
    return b;
  }

  function status(message, isError) {
    var box = byId('status');
    empty(box);
    box.appendChild(text(message));
    box.className = 'status' + (isError ? ' error' : '');
  }

  function xhr() {
    if (window.XMLHttpRequest) return new window.XMLHttpRequest();
    try { return new window.ActiveXObject('Microsoft.XMLHTTP'); } catch (e) { return null; }
  }

  /* One API call; done(body) on 2xx, else the status line shows the error code and message. */
  function call(method, path, body, done) {
    var x = xhr();
    if (!x) return status('This browser cannot make HTTP requests from a page.', true);
    x.open(method, API + path, true);
    x.setRequestHeader('Authorization', 'Bearer ' + token);
    if (body !== null) x.setRequestHeader('Content-Type', 'application/json');
    x.onreadystatechange = function () {
      var parsed = null;
      if (x.readyState !== 4) return;
      x.onreadystatechange = function () {};
      try { parsed = window.JSON.parse(x.responseText); } catch (e) { parsed = null; }
      if (x.status >= 200 && x.status < 300 && parsed) return done(parsed);
      if (x.status === 401) {
        byId('panel').className = 'hidden';
        return status('The token was refused (unauthorized).', true);
      }
      if (parsed && parsed.error) return status(parsed.error + ': ' + (parsed.message || ''), true);
      status('The server answered HTTP ' + x.status + '.', true);
    };
    x.send(body === null ? null : window.JSON.stringify(body));
  }

  function path(name) { return encodeURIComponent(name); }

  function renderRooms(rooms) {
    var tbody = byId('rooms'), select = byId('notice-room'), chosen = select.value, i, r, row, opt;
    empty(tbody);
    empty(select);
    for (i = 0; i < rooms.length; i++) {
      r = rooms[i];
      row = document.createElement('tr');
      row.setAttribute('data-room', r.name);
      cell(row, r.name);
      cell(row, r.title);
      cell(row, r.membersOnly ? 'yes' : 'no');
      cell(row, r.online);
      cell(row, r.name === 'lobby' ? null : button('Delete', 'admin-room-delete', deleter(r.name)));
      tbody.appendChild(row);
      opt = document.createElement('option');
      opt.value = r.name;
      opt.appendChild(text(r.name));
      select.appendChild(opt);
      if (r.name === chosen) opt.selected = true;
    }
  }

  function describeConnections(list) {
    var parts = [], i;
    for (i = 0; i < list.length; i++) parts.push(list[i].transport + ' ' + list[i].ip);
    return parts.join(', ');
  }

  function renderUsers(users) {
    var tbody = byId('users'), i, u, row;
    empty(tbody);
    for (i = 0; i < users.length; i++) {
      u = users[i];
      row = document.createElement('tr');
      row.setAttribute('data-user', u.id);
      cell(row, u.id);
      cell(row, u.name);
      cell(row, u.status);
      cell(row, describeConnections(u.connections));
      cell(row, u.rooms.join(', '));
      cell(row, button('Kick', 'admin-kick', kicker(u.id)));
      tbody.appendChild(row);
    }
    if (users.length === 0) cell(tbody.appendChild(document.createElement('tr')), 'nobody is online');
  }

  function refresh() {
    call('GET', '/rooms', null, function (body) {
      if (byId('panel').className === 'hidden') status('Signed in.');
      byId('panel').className = '';
      renderRooms(body.rooms);
    });
    call('GET', '/users', null, function (body) { renderUsers(body.users); });
  }

  function deleter(name) {
    return function () {
      if (!window.confirm('Delete room ' + name + '? Its members are told it is gone.')) return;
      call('DELETE', '/rooms/' + path(name), null, function (body) {
        status('Deleted ' + body.room + ' (' + body.notified + ' members online were told).');
        refresh();
      });
    };
  }

  function kicker(id) {
    return function () {
      call('POST', '/users/' + path(id) + '/kick', null, function (body) {
        status('Kicked ' + body.user + ' (' + body.connections + ' connections).');
        refresh();
      });
    };
  }

  on(byId('token-form'), 'submit', function () {
    token = strip(byId('token').value);
    if (token === '') return status('Enter the admin token.', true);
    status('Loading\u2026');
    refresh();
  });

  on(byId('refresh'), 'click', refresh);

  on(byId('create-form'), 'submit', function () {
    var body = { name: strip(byId('create-name').value), membersOnly: byId('create-members-only').checked };
    var title = strip(byId('create-title').value);
    if (title !== '') body.title = title;
    call('POST', '/rooms', body, function (answer) {
      status('Created room ' + answer.room.name + '.');
      byId('create-name').value = '';
      byId('create-title').value = '';
      refresh();
    });
  });

  on(byId('member-form'), 'submit', function () {
    var room = strip(byId('member-room').value), user = strip(byId('member-user').value);
    call('POST', '/rooms/' + path(room) + '/members', { user: user }, function (body) {
      status('Added ' + body.user + ' to ' + body.room + (body.online ? ' (online: in the room now).' : ' (at their next login).'));
      refresh();
    });
  });

  on(byId('notice-form'), 'submit', function () {
    var room = byId('notice-room').value, body = strip(byId('notice-text').value);
    if (body === '') return status('Write the notice first.', true);
    call('POST', '/rooms/' + path(room) + '/notice', { text: body }, function (answer) {
      status('Notice sent to ' + room + ' (offset ' + answer.message.offset + ').');
      byId('notice-text').value = '';
    });
  });
})(window);

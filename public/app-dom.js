/*
 * webim page, part 1 of 5: DOM helpers, emoji table and formatting shared
 * by app-conv.js, app-lists.js and app.js. ES3 for IE6-8: no textContent,
 * no classList, no querySelector; user data only ever goes into the page
 * through createTextNode and attribute/property setters, never innerHTML.
 */
var WebIMApp = (function (window) {
  var document = window.document;
  var App = {};

  App.EMOJI = [
    ['smile', '\uD83D\uDE04'], ['grin', '\uD83D\uDE01'], ['joy', '\uD83D\uDE02'], ['wink', '\uD83D\uDE09'],
    ['blush', '\uD83D\uDE0A'], ['heart_eyes', '\uD83D\uDE0D'], ['kiss', '\uD83D\uDE18'], ['thinking', '\uD83E\uDD14'],
    ['neutral', '\uD83D\uDE10'], ['sleepy', '\uD83D\uDE2A'], ['cry', '\uD83D\uDE22'], ['angry', '\uD83D\uDE20'],
    ['scream', '\uD83D\uDE31'], ['cool', '\uD83D\uDE0E'], ['party', '\uD83E\uDD73'], ['thumbsup', '\uD83D\uDC4D'],
    ['thumbsdown', '\uD83D\uDC4E'], ['clap', '\uD83D\uDC4F'], ['wave', '\uD83D\uDC4B'], ['pray', '\uD83D\uDE4F'],
    ['heart', '\u2764\uFE0F'], ['fire', '\uD83D\uDD25'], ['star', '\u2B50'], ['tada', '\uD83C\uDF89'],
    ['coffee', '\u2615'], ['pizza', '\uD83C\uDF55'], ['rocket', '\uD83D\uDE80'], ['ok', '\uD83D\uDC4C']
  ];
  App.AVATARS = ['cat', 'dog', 'fox', 'owl', 'panda', 'koala', 'tiger', 'frog', 'penguin', 'whale', 'bee', 'octopus'];

  /* The glyph of an emoji body: a code (`smile` or `:smile:`), else the body itself (a glyph typed as is). */
  App.emojiGlyph = function (body) {
    var code = body.replace(/^:|:$/g, ''), i;
    for (i = 0; i < App.EMOJI.length; i++) if (App.EMOJI[i][0] === code) return App.EMOJI[i][1];
    return body;
  };

  App.byId = function (id) { return document.getElementById(id); };

  App.strip = function (s) { return String(s).replace(/^\s+|\s+$/g, ''); };

  App.has = function (o, k) { return Object.prototype.hasOwnProperty.call(o, k); };

  /*
   * el('li', { className: 'x', 'data-room': name, title: t }, [child, 'text'])
   * data-* and data-testid go through setAttribute; other keys are properties.
   */
  App.el = function (tag, attrs, children) {
    var node = document.createElement(tag), k, i, c;
    for (k in attrs) {
      if (!App.has(attrs, k) || attrs[k] === null || attrs[k] === undefined) continue;
      if (k.indexOf('data-') === 0 || k === 'role' || k === 'aria-label') node.setAttribute(k, String(attrs[k]));
      else node[k] = attrs[k];
    }
    if (children) {
      for (i = 0; i < children.length; i++) {
        c = children[i];
        if (c === null || c === undefined) continue;
        node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
      }
    }
    return node;
  };

  App.setText = function (node, text) {
    while (node.firstChild) node.removeChild(node.firstChild);
    node.appendChild(document.createTextNode(text));
  };

  App.empty = function (node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  };

  App.hasClass = function (node, name) {
    return (' ' + node.className + ' ').indexOf(' ' + name + ' ') >= 0;
  };
  App.toggleClass = function (node, name, on) {
    var has = App.hasClass(node, name);
    if (on === undefined) on = !has;
    if (on && !has) node.className = App.strip(node.className + ' ' + name);
    if (!on && has) node.className = App.strip((' ' + node.className + ' ').replace(' ' + name + ' ', ' '));
  };
  App.show = function (node, on) { App.toggleClass(node, 'hidden', !on); };

  /* on(node, 'click', fn): fn(event, target) with the event normalised for old IE. */
  App.on = function (node, type, fn) {
    function handler(e) {
      e = e || window.event;
      return fn(e, e.target || e.srcElement);
    }
    if (node.addEventListener) node.addEventListener(type, handler, false);
    else node.attachEvent('on' + type, handler);
  };
  App.prevent = function (e) {
    if (e.preventDefault) e.preventDefault();
    e.returnValue = false;
    return false;
  };

  /* The nearest ancestor-or-self of node (up to stop) that has the attribute. */
  App.closest = function (node, attr, stop) {
    while (node && node !== stop && node.nodeType === 1) {
      if (node.getAttribute(attr) !== null && node.getAttribute(attr) !== '') return node;
      node = node.parentNode;
    }
    return null;
  };

  function pad(n) { return n < 10 ? '0' + n : String(n); }
  App.formatTime = function (ts) {
    var d = new Date(ts), today = new Date(), hm = pad(d.getHours()) + ':' + pad(d.getMinutes());
    if (d.toDateString() === today.toDateString()) return hm;
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' + hm;
  };

  /*
   * The chat server: where this script came from, which is the page's own server for the page at / and the
   * chat's for a site that embeds it (embed.js writes the scripts in, so this one is the last when it runs); ''
   * where the browser gives the src as written (IE6-7), which only the page at / does. Images, avatars and the
   * connection all go there.
   */
  App.base = (function () {
    var scripts = document.getElementsByTagName('script'), src = scripts.length ? scripts[scripts.length - 1].src || '' : '';
    if (!/^(https?:)?\/\//i.test(src)) return '';
    if (src.charAt(0) === '/') src = window.location.protocol + src;
    return src.replace(/[?#].*$/, '').replace(/\/[^\/]*$/, '');
  })();
  /* `path` (`avatars/cat.svg`, `/uploads/x.png`) on the chat server */
  App.chatUrl = function (path) {
    if (!App.base) return path;
    return App.base + (path.charAt(0) === '/' ? '' : '/') + path;
  };

  App.avatarSrc = function (avatar) {
    if (/^https?:\/\//i.test(avatar || '')) return avatar;
    if (/^[a-z0-9_-]{1,32}$/.test(avatar || '')) return App.chatUrl('avatars/' + avatar + '.svg');
    return '';
  };

  var COLORS = ['#e07a5f', '#3d85c6', '#81b29a', '#f2a541', '#9b72cf', '#e5989b', '#4aa3a2', '#c97b4a'];

  /* An avatar: the initial on a coloured disc, covered by the image once it loads (IE6-8 cannot show SVG). */
  App.avatar = function (user, size) {
    var name = user.name || user.id || '?', src = App.avatarSrc(user.avatar), h = 0, i, img;
    for (i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) % COLORS.length;
    /* the initial is drawn by CSS from data-initial, so that it adds nothing to the entry's text */
    var box = App.el('span', { className: 'avatar' + (size ? ' avatar-' + size : ''), 'data-initial': name.charAt(0).toUpperCase() });
    box.style.backgroundColor = COLORS[h]; /* old IE throws on colour syntax it does not know: plain hex */
    if (src) {
      img = App.el('img', { alt: '', className: 'avatar-img' });
      img.onerror = function () { img.style.display = 'none'; };
      img.src = src;
      box.appendChild(img);
    }
    return box;
  };

  /* Image message URLs as the server issues them; anything else is shown as text. */
  App.IMAGE_URL = /^\/uploads\/[A-Za-z0-9_-]{8,64}\.(png|jpe?g|gif|webp)$/;
  App.thumbOf = function (url) { return url.replace(/(\.[a-z]+)$/, '_thumb$1'); };

  App.validRoom = function (name) { return /^[a-z0-9_-]{1,32}$/.test(name); };

  App.ERRORS = {
    name_taken: 'That name is already in use.',
    bad_request: 'The server refused the request.',
    unauthorized: 'Your session expired; please log in again.',
    forbidden: 'You are not allowed to do that.',
    not_found: 'Not found.',
    too_large: 'That is too long.',
    rate_limited: 'Slow down a little.',
    server_busy: 'The server is busy; try again.',
    not_logged_in: 'You are not logged in.',
    transport_unavailable: 'This connection type cannot work here.',
    transport_failed: 'Could not connect.'
  };
  /* Human text for an `error` (or transport error), always naming its code. */
  App.describe = function (err) {
    var text = err.message || (App.has(App.ERRORS, err.code) ? App.ERRORS[err.code] : 'Something went wrong.');
    return text + ' (' + err.code + ')';
  };

  return App;
})(window);

/*
 * webim/storage.js: WebIM.storage, a few strings kept in this browser for
 * this origin across reloads and tabs: the login token of a client made
 * with `remember`, and whatever the page keeps beside it. localStorage
 * where it works; where it does not (IE6-7, or a browser that refuses it,
 * as Safari's private mode once did), a cookie of this origin. A cookie
 * also travels to the server with every request to this origin: it holds
 * nothing the page could not read anyway, and the server never reads it.
 * Part of /webim.js, after core.js.
 */
(function (window, WebIM) {
  if (!WebIM || !WebIM._lib) throw new Error('webim/storage.js must load after webim/core.js');
  var document = window.document, enc = WebIM._lib.enc;
  /* a cookie's lifetime; the server decides how long what it holds is any good */
  var COOKIE_DAYS = 365;

  function local() {
    var s;
    try {
      s = window.localStorage;
      if (!s) return null;
      s.setItem('webim.probe', '1');
      s.removeItem('webim.probe');
      return s;
    } catch (e) {
      return null;
    }
  }

  function setCookie(key, value, days) {
    var expires = new Date(new Date().getTime() + days * 86400000);
    document.cookie = enc(key) + '=' + enc(value) + '; expires=' + expires.toUTCString() + '; path=/; SameSite=Lax' +
      (window.location.protocol === 'https:' ? '; secure' : '');
  }

  function getCookie(key) {
    var parts = String(document.cookie || '').split(/;\s*/), i, eq, prefix = enc(key) + '=';
    for (i = 0; i < parts.length; i++) {
      eq = parts[i];
      if (eq.substring(0, prefix.length) === prefix) {
        try { return decodeURIComponent(eq.substring(prefix.length)); } catch (e) { return null; }
      }
    }
    return null;
  }

  WebIM.storage = {
    /* 'local' or 'cookie': where this browser keeps things */
    kind: function () { return local() ? 'local' : 'cookie'; },
    get: function (key) {
      var s = local(), value = null;
      if (s) {
        try { value = s.getItem(key); } catch (e) { value = null; }
      }
      return value === null ? getCookie(key) : value;
    },
    set: function (key, value) {
      var s = local();
      if (s) {
        try { s.setItem(key, value); return true; } catch (e) { /* full or refused: the cookie below */ }
      }
      setCookie(key, value, COOKIE_DAYS);
      return getCookie(key) === value;
    },
    remove: function (key) {
      var s = local();
      if (s) {
        try { s.removeItem(key); } catch (e) { /* nothing to remove */ }
      }
      if (getCookie(key) !== null) setCookie(key, '', -1);
    }
  };
})(window, window.WebIM);

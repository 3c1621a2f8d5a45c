/*
 * webim page, part 4 of 5: the composer. Text (Enter or the send button),
 * the typing notice, the emoji picker (a choice is sent at once) and image
 * upload: XHR with FormData where there is one, else the form posts into a
 * hidden iframe (old IE) and the answer is read from its body. The upload
 * answer is { "url", "thumb" }; the url is sent as an `image` message.
 */
(function (App, window) {
  var document = window.document, $ = App.byId, st, im; /* App.state comes from app.js, at init */
  var lastTyping = 0, pendingUpload = null;

  function current() { return App.conv.current && App.conv.all[App.conv.current]; }

  function sendTo(target, type, body) {
    if (target.room && !st.joined[target.room]) im.join(target.room);
    im.send(target, type, body);
  }

  function sendText() {
    var input = $('composer'), conv = current();
    if (!conv || !App.strip(input.value)) return;
    sendTo(conv.target(), 'text', input.value);
    input.value = '';
    lastTyping = 0;
  }

  function init() {
    var picker = $('emoji-picker'), i, e;
    st = App.state;
    im = st.im;
    for (i = 0; i < App.EMOJI.length; i++) {
      e = App.EMOJI[i];
      picker.appendChild(App.el('button', { className: 'emoji', 'data-testid': 'emoji', 'data-code': e[0], title: ':' + e[0] + ':' }, [e[1]]));
    }
    App.on(picker, 'click', function (ev, target) {
      var choice = App.closest(target, 'data-code', picker), conv = current();
      App.prevent(ev);
      if (!choice || !conv) return;
      sendTo(conv.target(), 'emoji', choice.getAttribute('data-code'));
      App.show(picker, false);
    });
    App.on($('emoji-toggle'), 'click', function (ev) {
      App.prevent(ev);
      App.show(picker, App.hasClass(picker, 'hidden'));
    });
    App.on(document, 'click', function (ev, target) {
      if (!App.closest(target, 'data-picker', document.body)) App.show(picker, false);
    });
    App.on($('composer'), 'keydown', function (ev) {
      var conv = current(), now = new Date().getTime();
      if (ev.keyCode === 13 && !ev.shiftKey) {
        sendText();
        return App.prevent(ev);
      }
      if (conv && now - lastTyping > 3000 && ev.keyCode !== 9) {
        lastTyping = now;
        im.typing(conv.target());
      }
    });
    App.on($('send'), 'click', function (ev) {
      App.prevent(ev);
      sendText();
    });
    App.on($('upload'), 'change', upload);
    App.on($('upload-frame'), 'load', uploadFrameLoaded);
  }

  function textOf(node) {
    var out = '', i;
    if (node.nodeType === 3) return node.nodeValue;
    for (i = 0; i < node.childNodes.length; i++) out += textOf(node.childNodes[i]);
    return out;
  }

  function uploaded(target, text) {
    var answer = null;
    try { answer = window.JSON.parse(App.strip(text)); } catch (e) { answer = null; }
    $('upload-form').reset();
    if (answer && answer.url && App.IMAGE_URL.test(answer.url)) {
      App.notice('');
      sendTo(target, 'image', answer.url);
    } else {
      App.notice('The upload failed' + (answer && answer.error ? ' (' + answer.error + ')' : '') + '.');
    }
  }

  /* The upload endpoint takes only logged-in users: the login token proves who uploads. */
  function uploadUrl() {
    return im.base + '/upload?token=' + encodeURIComponent(im.creds.token || '');
  }

  /* XHR with FormData where there is one; else the form posts into a hidden iframe (old IE). */
  function upload() {
    var input = $('upload'), conv = current(), target, form, data, x;
    if (!conv || !input.value) return;
    target = conv.target();
    App.notice('Uploading\u2026', true);
    if (window.FormData && window.XMLHttpRequest && input.files && input.files.length) {
      data = new window.FormData();
      data.append('file', input.files[0]);
      x = new window.XMLHttpRequest();
      x.open('POST', uploadUrl(), true);
      x.setRequestHeader('Accept', 'application/json');
      x.onreadystatechange = function () { if (x.readyState === 4) uploaded(target, x.responseText); };
      x.send(data);
      return;
    }
    form = $('upload-form');
    form.action = uploadUrl();
    pendingUpload = target;
    form.submit();
  }

  function uploadFrameLoaded() {
    var frame = $('upload-frame'), target = pendingUpload, doc;
    if (!target) return; /* the frame's first about:blank */
    pendingUpload = null;
    try {
      doc = frame.contentWindow ? frame.contentWindow.document : frame.contentDocument;
      uploaded(target, doc && doc.body ? textOf(doc.body) : '');
    } catch (e) {
      uploaded(target, '');
    }
  }

  App.composer = { init: init };
})(WebIMApp, window);

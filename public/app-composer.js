/*
 * webim page, part 4 of 5: the composer. Text (Enter or the send button),
 * the typing notice, the emoji picker (a choice is sent at once) and image
 * upload through the client library (WebIM.Client's upload works in every
 * browser and from a site of another origin); the url it gives is sent as
 * an `image` message.
 */
(function (App, window) {
  var document = window.document, $ = App.byId, st, im; /* App.state comes from app.js, at init */
  var lastTyping = 0;

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
  }

  function upload() {
    var input = $('upload'), conv = current(), target;
    if (!conv || !input.value) return;
    target = conv.target();
    App.notice('Uploading\u2026', true);
    im.upload($('upload-form'), function (err, answer) {
      $('upload-form').reset();
      if (!err && App.IMAGE_URL.test(answer.url)) {
        App.notice('');
        sendTo(target, 'image', answer.url);
      } else {
        App.notice('The upload failed' + (err && err.error ? ' (' + err.error + ')' : '') + '.');
      }
    });
  }

  App.composer = { init: init };
})(WebIMApp, window);

/*
 * webim/upload.js: WebIM.Client's upload(form, cb), an image to the chat
 * server's /upload, from the chat's own page or from a site of another
 * origin that embeds it, in any browser:
 * - XHR with FormData where the browser has both and may reach the server
 *   (same origin, or CORS);
 * - else (IE6-9) the form itself, posted into a hidden iframe. The answer
 *   of another origin's frame cannot be read, so the upload carries a key
 *   of the client's own and the client asks for the outcome under it by
 *   JSONP (`/upload/result`), which any browser can read.
 * In IE6-7 it takes its turn on the second connection to the chat host
 * (comet.js), so the held poll and the sends never wait on it, nor it on
 * more than one of them. Part of /webim.js, after client-session.js.
 */
(function (window, WebIM) {
  if (!WebIM || !WebIM._lib || !WebIM.Client) throw new Error('webim/upload.js must load after webim/client-session.js');
  var lib = WebIM._lib, Client = WebIM.Client;
  var now = lib.now, enc = lib.enc, parse = lib.parse, request = lib.request, postInFrame = lib.postInFrame;
  var keySeq = 0;

  function fileInput(form) {
    var inputs = form.getElementsByTagName('input'), i;
    for (i = 0; i < inputs.length; i++) if (inputs[i].type === 'file') return inputs[i];
    return null;
  }

  /* The outcome as the callback takes it: (null, { url, thumb }) or ({ error, message }). */
  function outcome(cb, answer) {
    if (answer && answer.url) cb(null, answer);
    else cb(answer && answer.error ? answer : { error: 'upload_failed', message: 'the upload got no answer' });
  }

  function byXhr(url, file, slot, cb) {
    slot.take(function (release) {
      var data = new window.FormData(), x = new window.XMLHttpRequest();
      data.append('file', file);
      x.open('POST', url, true);
      x.setRequestHeader('Accept', 'application/json');
      x.onreadystatechange = function () {
        if (x.readyState !== 4) return;
        release();
        outcome(cb, parse(x.responseText));
      };
      x.send(data);
    });
  }

  function byFrame(base, url, token, form, slot, cb) {
    var key = 'u' + now().toString(36) + Math.floor(Math.random() * 2176782336).toString(36) + (++keySeq);
    slot.take(function (release) {
      form.enctype = form.encoding = 'multipart/form-data'; /* `encoding` for IE6-7 */
      postInFrame(form, url + '&key=' + key, 120000, function () {
        release();
        slot.take(function (release) {
          request('jsonp', base + '/upload/result?token=' + enc(token) + '&key=' + key, null, 20000, function (err, answer) {
            release();
            outcome(cb, answer);
          });
        });
      });
    });
  }

  /*
   * Uploads the image chosen in `form`'s file input (its field is named `file`); cb(null, { url, thumb })
   * once stored, the url to send as an `image` message, or cb({ error, message }).
   */
  Client.prototype.upload = function (form, cb) {
    var input = fileInput(form), token = this.creds && this.creds.token, url, slot = lib.slotFor(this.base);
    if (!token) return cb({ error: 'unauthorized', message: 'log in first' });
    if (!input || !input.value) return cb({ error: 'bad_request', message: 'no image chosen' });
    url = this.base + '/upload?token=' + enc(token);
    if (window.FormData && input.files && input.files.length && lib.httpMode(this.base) === 'xhr') byXhr(url, input.files[0], slot, cb);
    else byFrame(this.base, url, token, form, slot, cb);
  };
})(window, window.WebIM);

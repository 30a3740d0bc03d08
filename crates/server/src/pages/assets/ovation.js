// Ovation's pages: the live page's chat, goal and badge buttons over the API's WebSocket
// events, and forms that call the API. Plain JavaScript, no build step. Every request goes
// to /app/v1/…, the API behind the session cookie, with the session's CSRF token.
(function () {
  'use strict';

  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.content : '';

  // What each refusal of the API means to the person who clicked.
  var MESSAGES = {
    card_declined: 'Your card was declined. No money was taken.',
    country_not_supported: 'Badges are not offered in your country yet.',
    spending_limit: 'This badge would go over your spending limit.',
    live_not_active: 'This live has ended: badges can no longer be bought.',
    insufficient_funds: 'Your wallet holds less than this badge costs. No money was taken.',
    self_purchase: 'You cannot buy badges in your own live.',
    idempotency_key_reused: 'That request was already made with other details; please try again.',
    unauthenticated: 'Your session has ended: please sign in again.',
    forbidden: 'You may not do that.',
    unavailable: 'Ovation is busy right now: please try again in a moment.',
    network: 'The server could not be reached: check your connection and try again.'
  };

  function randomKey() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ('0' + b.toString(16)).slice(-2);
    }).join('');
  }

  function api(method, path, body, headers) {
    var h = { 'X-CSRF-Token': csrf, 'Accept': 'application/json' };
    if (body !== undefined) { h['Content-Type'] = 'application/json'; }
    Object.keys(headers || {}).forEach(function (k) { h[k] = headers[k]; });
    return fetch(path, {
      method: method,
      headers: h,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (data) {
        return { ok: response.ok, status: response.status, body: data };
      });
    }, function () {
      return { ok: false, status: 0, body: { error: { code: 'network', message: '' } } };
    });
  }

  function errorCode(result) {
    return result.body && result.body.error ? result.body.error.code : 'unknown';
  }

  function errorText(result) {
    var error = result.body && result.body.error;
    var known = MESSAGES[errorCode(result)];
    if (errorCode(result) === 'spending_limit' && error.message) {
      return known + ' (' + error.message + ')';
    }
    if (known) { return known; }
    if (error && error.message) {
      return error.message.charAt(0).toUpperCase() + error.message.slice(1) + '.';
    }
    return 'Something went wrong (' + result.status + '): please try again.';
  }

  function notice(el, text, kind) {
    if (!el) { return; }
    el.textContent = text;
    el.className = 'notice' + (kind ? ' ' + kind : '');
  }

  // Forms that call the API: <form data-api="/app/v1/…" data-method="POST" data-then="reload">.
  // Named fields become the JSON body (numbers for number inputs, null when empty); a dotted
  // name nests (`fee.amount` and `fee.currency` make `{"fee": {"amount", "currency"}}`).
  Array.prototype.forEach.call(document.querySelectorAll('form[data-api]'), function (form) {
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      var body = {};
      var named = 0;
      Array.prototype.forEach.call(form.elements, function (el) {
        if (!el.name) { return; }
        named += 1;
        var path = el.name.split('.');
        var into = body;
        path.slice(0, -1).forEach(function (key) {
          into[key] = into[key] || {};
          into = into[key];
        });
        var key = path[path.length - 1];
        if (el.type === 'number') {
          into[key] = el.value === '' ? null : Number(el.value);
        } else {
          into[key] = el.value;
        }
      });
      var out = form.parentElement.querySelector('[data-api-notice]');
      var buttons = form.querySelectorAll('button');
      Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; });
      notice(out, 'Working…');
      api(form.dataset.method || 'POST', form.dataset.api, named ? body : undefined).then(function (result) {
        Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
        if (!result.ok) {
          notice(out, errorText(result), 'error');
          return;
        }
        notice(out, 'Done.', 'success');
        var then = form.dataset.then;
        if (then === 'reload') {
          window.location.reload();
        } else if (then) {
          window.location.assign(then.replace('{id}', encodeURIComponent(result.body.id)));
        }
      });
    });
  });

  var live = document.querySelector('section.live');
  if (!live) { return; }

  var liveId = live.dataset.liveId;
  var active = live.dataset.active === 'true';
  var chat = document.getElementById('chat');
  var lastId = live.dataset.lastComment || '';
  var seen = {};
  Array.prototype.forEach.call(chat.querySelectorAll('li[data-id]'), function (li) {
    seen[li.dataset.id] = true;
  });
  chat.scrollTop = chat.scrollHeight;

  function badge(hearts) {
    var span = document.createElement('span');
    span.className = 'badge badge-' + hearts;
    span.dataset.hearts = String(hearts);
    span.title = hearts + '-heart badge';
    var shown = document.createElement('span');
    shown.setAttribute('aria-hidden', 'true');
    shown.textContent = '♥♥♥'.slice(0, hearts);
    var words = document.createElement('span');
    words.className = 'sr-only';
    words.textContent = hearts + '-heart badge';
    span.appendChild(shown);
    span.appendChild(words);
    return span;
  }

  function append(li) {
    var atBottom = chat.scrollHeight - chat.scrollTop - chat.clientHeight < 60;
    chat.appendChild(li);
    if (atBottom) { chat.scrollTop = chat.scrollHeight; }
  }

  function addComment(c) {
    if (seen[c.id]) { return; }
    seen[c.id] = true;
    if (c.id > lastId) { lastId = c.id; }
    var li = document.createElement('li');
    li.className = 'comment';
    li.dataset.id = c.id;
    var author = document.createElement('span');
    author.className = 'author';
    author.textContent = '@' + c.author_handle;
    li.appendChild(author);
    if (c.badge) {
      li.appendChild(document.createTextNode(' '));
      li.appendChild(badge(c.badge.hearts));
    }
    li.appendChild(document.createTextNode(' '));
    var text = document.createElement('span');
    text.className = 'text';
    text.textContent = c.text;
    li.appendChild(text);
    append(li);
  }

  function announce(purchase, handle) {
    var li = document.createElement('li');
    li.className = 'announce';
    li.dataset.purchase = purchase.id;
    li.textContent = '♥ @' + handle + ' bought a ' + purchase.hearts + '-heart badge!';
    append(li);
    addHearts(purchase.hearts);
  }

  var goal = document.getElementById('goal');
  function showGoal(target, hearts) {
    if (!goal) { return; }
    goal.dataset.goal = String(target || 0);
    goal.dataset.hearts = String(hearts);
    goal.hidden = !target;
    var meter = document.getElementById('goal-meter');
    meter.max = Math.max(target || 0, 1);
    meter.value = Math.min(hearts, target || 0);
    document.getElementById('goal-text').textContent = hearts + ' of ' + (target || 0) + ' hearts';
  }
  function addHearts(n) {
    if (!goal) { return; }
    showGoal(Number(goal.dataset.goal), Number(goal.dataset.hearts) + n);
  }

  function ended() {
    active = false;
    live.dataset.active = 'false';
    document.getElementById('ended').hidden = false;
    Array.prototype.forEach.call(live.querySelectorAll('button.tier, #payment, #comment-form input, #comment-form button'), function (el) {
      el.disabled = true;
    });
  }

  // Comments written while the page loaded or the socket was down.
  function catchUp() {
    var path = '/app/v1/lives/' + encodeURIComponent(liveId) + '/comments?limit=500';
    if (lastId) { path += '&cursor=' + encodeURIComponent(lastId); }
    api('GET', path).then(function (result) {
      if (result.ok && result.body && result.body.data) { result.body.data.forEach(addComment); }
    });
  }

  var retry = 1000;
  function connect() {
    var scheme = window.location.protocol === 'https:' ? 'wss://' : 'ws://';
    var socket = new WebSocket(scheme + window.location.host + '/app/v1/lives/' + encodeURIComponent(liveId) + '/events');
    socket.onopen = function () {
      retry = 1000;
      live.dataset.connected = 'true';
      catchUp();
    };
    socket.onmessage = function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      if (event.type === 'comment') {
        addComment(event.comment);
      } else if (event.type === 'badge') {
        announce(event.purchase, event.viewer_handle);
      } else if (event.type === 'goal') {
        showGoal(event.goal_hearts, Number(goal ? goal.dataset.hearts : 0));
      } else if (event.type === 'live_ended') {
        ended();
      }
    };
    socket.onclose = function () {
      live.dataset.connected = 'false';
      if (!active) { return; }
      window.setTimeout(connect, retry);
      retry = Math.min(retry * 2, 15000);
    };
  }
  connect();

  var commentForm = document.getElementById('comment-form');
  var commentNotice = document.getElementById('comment-notice');
  commentForm.addEventListener('submit', function (event) {
    event.preventDefault();
    var input = document.getElementById('comment-text');
    var text = input.value.trim();
    if (!text) { return; }
    var button = commentForm.querySelector('button');
    button.disabled = true;
    api('POST', '/app/v1/lives/' + encodeURIComponent(liveId) + '/comments', { text: text }).then(function (result) {
      button.disabled = !active;
      if (result.ok) {
        input.value = '';
        notice(commentNotice, '');
        addComment(result.body);
      } else {
        notice(commentNotice, errorText(result), 'error');
        if (errorCode(result) === 'live_not_active') { ended(); }
      }
    });
  });

  var badgeNotice = document.getElementById('badge-notice');
  Array.prototype.forEach.call(live.querySelectorAll('button.tier'), function (button) {
    button.addEventListener('click', function () {
      var tiers = live.querySelectorAll('button.tier');
      Array.prototype.forEach.call(tiers, function (b) { b.disabled = true; });
      var method = document.getElementById('payment').value;
      var price = button.querySelector('.price').textContent;
      var hearts = Number(button.dataset.tier);
      notice(badgeNotice, 'Buying…');
      api('POST', '/app/v1/lives/' + encodeURIComponent(liveId) + '/badges',
        { tier: hearts, payment_method: method }, { 'Idempotency-Key': randomKey() }).then(function (result) {
        Array.prototype.forEach.call(tiers, function (b) { b.disabled = !active; });
        if (result.ok) {
          notice(badgeNotice, 'Thank you! You bought a ' + hearts + '-heart badge for ' + price + '.', 'success');
        } else {
          notice(badgeNotice, errorText(result), 'error');
          if (errorCode(result) === 'live_not_active') { ended(); }
        }
      });
    });
  });
}());

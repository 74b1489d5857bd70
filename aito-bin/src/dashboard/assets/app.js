// aito dashboard: buttons, refreshes and the live worker log. Plain JavaScript, no build step.
// Everything that comes from the server as data is inserted with textContent; the only HTML
// inserted is the server's own escaped fragments.
(function () {
  'use strict';

  var TOKEN_KEY = 'aito-dashboard-token';

  function storedToken() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; }
  }

  function currentToken(scope) {
    var input = (scope || document).querySelector('input[data-token]');
    var value = input && input.value.trim();
    return value || storedToken();
  }

  document.querySelectorAll('input[data-token]').forEach(function (input) {
    input.value = storedToken();
    input.addEventListener('change', function () {
      try { sessionStorage.setItem(TOKEN_KEY, input.value.trim()); } catch (e) { /* private mode */ }
      document.querySelectorAll('input[data-token]').forEach(function (other) { other.value = input.value; });
    });
  });

  function post(url, body, scope) {
    var headers = { 'Content-Type': 'application/json' };
    var token = currentToken(scope);
    if (token) { headers.Authorization = 'Bearer ' + token; }
    return fetch(url, {
      method: 'POST', headers: headers, body: JSON.stringify(body || {}), credentials: 'same-origin'
    }).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (data) {
        return { ok: response.ok, status: response.status, data: data };
      });
    }, function (error) {
      return { ok: false, status: 0, data: { error: 'network error: ' + error } };
    });
  }

  function explain(result) {
    var reason = result.data && result.data.error ? result.data.error : 'request failed';
    if (result.status === 401) { return 'Token missing or wrong: ' + reason; }
    return reason + (result.status ? ' (HTTP ' + result.status + ')' : '');
  }

  function say(scope, text, ok) {
    var out = scope.querySelector('.msg');
    if (!out) { return; }
    out.textContent = text;
    out.className = 'msg ' + (ok ? 'ok' : 'err');
  }

  // Approve or reject an escalated decision.
  document.querySelectorAll('[data-decide]').forEach(function (button) {
    button.addEventListener('click', function () {
      var panel = button.closest('[data-decision]');
      var id = panel.getAttribute('data-decision');
      var reason = panel.querySelector('textarea[name="reason"]');
      var buttons = panel.querySelectorAll('button');
      buttons.forEach(function (b) { b.disabled = true; });
      say(panel, 'Sending…', true);
      post('/api/decisions/' + encodeURIComponent(id) + '/decide', {
        approve: button.getAttribute('data-decide') === 'approve',
        reason: reason ? reason.value : ''
      }, panel).then(function (result) {
        if (result.ok) {
          var status = result.data && result.data.status;
          say(panel, 'Recorded: the decision is ' + status + '.', true);
          var badge = document.getElementById('decision-status');
          if (badge) {
            badge.setAttribute('data-status', status);
            badge.textContent = status;
          }
          setTimeout(function () { window.location.reload(); }, 1500);
        } else {
          say(panel, explain(result), false);
          buttons.forEach(function (b) { b.disabled = false; });
        }
      });
    });
  });

  // Pause and resume.
  document.querySelectorAll('button[data-post]').forEach(function (button) {
    button.addEventListener('click', function () {
      var panel = button.closest('.write-panel') || document;
      post(button.getAttribute('data-post'), {}, panel).then(function (result) {
        if (result.ok) {
          var paused = result.data && result.data.paused;
          say(panel, paused ? 'Paused.' : 'Resumed.', true);
          var state = document.getElementById('company-state');
          if (state) { state.textContent = paused ? 'paused' : 'running'; }
        } else {
          say(panel, explain(result), false);
        }
      });
    });
  });

  // Send a message.
  var form = document.getElementById('send-message');
  if (form) {
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      var content = form.elements.content.value.trim();
      if (!content) { return; }
      var title = content.split('\n')[0].slice(0, 80);
      post('/api/messages', {
        to: form.elements.to.value,
        type: form.elements.type.value,
        priority: form.elements.priority.value,
        payload: { title: title, content: content }
      }, form).then(function (result) {
        if (result.ok) {
          say(form, 'Sent (id ' + result.data.id + ').', true);
          form.elements.content.value = '';
        } else {
          say(form, explain(result), false);
        }
      });
    });
  }

  // Change a budget: empty keeps a limit, "none" removes it.
  var budget = document.getElementById('set-budget');
  if (budget) {
    budget.addEventListener('submit', function (event) {
      event.preventDefault();
      var body = {};
      if (budget.elements.agent.value) { body.agent = budget.elements.agent.value; }
      ['usd_per_day', 'sessions_per_hour'].forEach(function (name) {
        var text = budget.elements[name].value.trim();
        if (!text) { return; }
        body[name] = text.toLowerCase() === 'none' ? null : Number(text);
      });
      post('/api/budget', body, budget).then(function (result) {
        say(budget, result.ok ? 'Budget set.' : explain(result), result.ok);
      });
    });
  }

  // Parts of the page that the server re-renders: the agents table, the escalation banner.
  document.querySelectorAll('[data-refresh]').forEach(function (element) {
    var url = element.getAttribute('data-refresh');
    var every = Math.max(2, parseInt(element.getAttribute('data-every'), 10) || 10) * 1000;
    setInterval(function () {
      if (document.hidden) { return; }
      fetch(url, { credentials: 'same-origin' }).then(function (response) {
        if (response.ok) {
          return response.text().then(function (html) { element.innerHTML = html; });
        }
      }).catch(function () { /* keep what is shown */ });
    }, every);
  });

  // The live worker log.
  var log = document.getElementById('log');
  if (log && window.EventSource) {
    var body = log.querySelector('tbody');
    var live = document.getElementById('live');
    var MAX_ROWS = 1000;
    var setLive = function (state, text) {
      if (live) { live.setAttribute('data-state', state); live.textContent = text; }
    };
    var cell = function (row, text, className) {
      var td = document.createElement('td');
      if (className) { td.className = className; }
      td.textContent = text;
      row.appendChild(td);
      return td;
    };
    var source = new EventSource(log.getAttribute('data-stream'));
    source.addEventListener('open', function () { setLive('on', 'live'); });
    source.addEventListener('error', function () { setLive('error', 'live: reconnecting'); });
    source.addEventListener('lagged', function (event) {
      setLive('error', 'live: skipped ' + event.data + ' lines');
    });
    source.addEventListener('line', function (event) {
      var line;
      try { line = JSON.parse(event.data); } catch (e) { return; }
      if (body.querySelector('tr[data-id="' + CSS.escape(line.id) + '"]')) { return; }
      var empty = document.getElementById('log-empty');
      if (empty) { empty.remove(); }
      var stick = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
      var row = document.createElement('tr');
      row.setAttribute('data-id', line.id);
      cell(row, new Date(line.at).toLocaleTimeString());
      cell(row, line.role || '?');
      cell(row, line.task_id, 'task');
      cell(row, String(line.seq), 'num');
      var kind = cell(row, '');
      var badge = document.createElement('span');
      badge.className = 'kind';
      badge.textContent = line.kind;
      kind.appendChild(badge);
      cell(row, line.text, 'text');
      body.appendChild(row);
      while (body.rows.length > MAX_ROWS) { body.deleteRow(0); }
      if (stick) { window.scrollTo(0, document.body.scrollHeight); }
    });
  }
})();

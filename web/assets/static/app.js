// The Button — the live parts of the pages: countdowns that tick in the
// browser, coloured by the six sixths, and cards that change on each click
// through the server's event stream (/events). No dependencies. Every value
// from the server reaches the page through textContent or a numeric or
// encoded attribute, never as markup.
'use strict';
(function () {
  var NAMES = ['Red', 'Orange', 'Yellow', 'Green', 'Blue', 'Purple'];
  var body = document.body;

  // window.theButton is set once per page load: tests read loadedAt to
  // see that updates came without a reload.
  var page = window.theButton = {
    loadedAt: Date.now(),
    updates: 0,
    connected: false,
    position: -1
  };

  // Server clock − browser clock, so every browser counts to the same
  // deadline; corrected by each "clock" event.
  var offset = Number(body.getAttribute('data-now')) - Date.now();
  if (!isFinite(offset)) { offset = 0; }
  function now() { return Math.floor(Date.now() + offset); }

  // bandOf mirrors events.BandOf exactly: min(5, floor(6·value/duration))
  // in integer milliseconds, Red for a value or duration ≤ 0. (The
  // numbers stay far below 2^53, so the remainder is exact.)
  function bandOf(valueMS, durationMS) {
    if (durationMS <= 0 || valueMS <= 0) { return 0; }
    var n = 6 * valueMS;
    return Math.min(5, (n - n % durationMS) / durationMS);
  }
  page.bandOf = bandOf;

  // The formats of package timefmt (pages.go's clock, value, span) and displayName.
  function pad(n, w) { var s = String(n); while (s.length < w) { s = '0' + s; } return s; }
  function hms(s) { return pad(Math.floor(s / 3600), 2) + ':' + pad(Math.floor(s / 60) % 60, 2) + ':' + pad(s % 60, 2); }
  // value: HH:MM:SS.mmm; clock: time left, to the millisecond under a
  // minute; span: "3 h", "1 h 30 min", "45 s", "0.398 s" (timefmt's forms).
  function value(ms) { ms = Math.max(0, ms); return hms(Math.floor(ms / 1000)) + '.' + pad(ms % 1000, 3); }
  function clock(ms) { ms = Math.max(0, ms); return ms < 60000 ? value(ms) : hms(Math.floor(ms / 1000)); }
  function secs(ms) {
    var s = String(Math.floor(ms / 1000)), f = ms % 1000;
    if (f === 0) { return s; }
    return s + '.' + pad(f, 3).replace(/0+$/, '');
  }
  function span(ms) {
    ms = Math.max(0, ms);
    if (ms < 60000) { return secs(ms) + ' s'; }
    var units = [[86400000, 'd'], [3600000, 'h'], [60000, 'min'], [1000, 's']], parts = [];
    for (var i = 0; i < units.length; i++) {
      var n = Math.floor(ms / units[i][0]);
      ms -= n * units[i][0];
      if (n > 0) { parts.push(n + ' ' + units[i][1]); }
    }
    return parts.join(' ');
  }
  function ago(ms) {
    var s = Math.floor(Math.max(0, ms) / 1000);
    if (s < 5) { return 'just now'; }
    if (s < 60) { return s + ' s ago'; }
    if (s < 3600) { return Math.floor(s / 60) + ' min ago'; }
    if (s < 86400) { return Math.floor(s / 3600) + ' h ago'; }
    return Math.floor(s / 86400) + ' d ago';
  }
  function displayName(name, user) { return name ? name : 'player ' + user; }
  function playerURL(user) { return '/players/' + encodeURIComponent(user); }
  page.format = { clock: clock, value: value, span: span };

  function setText(el, text) { if (el && el.textContent !== text) { el.textContent = text; } }
  function field(root, name) { return root.querySelector('[data-f="' + name + '"]'); }
  function setBand(el, band) {
    if (!el) { return; }
    for (var i = 0; i < 6; i++) { el.classList.toggle('b' + i, i === band); }
  }
  function setWho(a, click) {
    if (!a) { return; }
    if (click) {
      a.setAttribute('href', playerURL(click.user));
      setText(a, displayName(click.name, click.user));
    } else {
      a.removeAttribute('href');
      setText(a, '');
    }
  }

  // fill writes a game summary (the JSON of /api/games) into a card.
  function fill(card, g) {
    var old = Number(card.getAttribute('data-clicks'));
    card.setAttribute('data-game', String(g.id));
    card.setAttribute('data-deadline', String(g.deadline_ms));
    card.setAttribute('data-duration', String(g.duration_ms));
    card.setAttribute('data-start', String(g.start_ms));
    card.setAttribute('data-end', String(g.end_ms));
    card.setAttribute('data-status', g.status);
    card.setAttribute('data-clicks', String(g.clicks));
    var link = card.querySelector('[data-link="game"]');
    if (link) { link.setAttribute('href', '/games/' + Number(g.id)); }
    setText(field(card, 'id'), String(g.id));
    setText(field(card, 'icon'), g.icon || '');
    setText(field(card, 'players'), String(g.players));
    setText(field(card, 'clicks'), String(g.clicks));

    var beat = g.to_beat;
    var beatDot = field(card, 'beat-dot');
    if (beatDot) { beatDot.hidden = !beat; setBand(beatDot, beat ? beat.band : -1); }
    setText(field(card, 'beat'), beat ? value(beat.value_ms) : 'no click yet');
    setWho(field(card, 'beat-who'), beat);

    var last = g.last_click;
    var lastEl = field(card, 'last');
    if (lastEl) { lastEl.hidden = !last; }
    if (last) {
      setBand(field(card, 'last-dot'), last.band);
      setWho(field(card, 'last-who'), last);
      setText(field(card, 'last-value'), value(last.value_ms));
      var at = field(card, 'last-at');
      if (at) {
        at.setAttribute('data-ms', String(last.at_ms));
        at.setAttribute('datetime', new Date(last.at_ms).toISOString());
      }
    }
    if (!isNaN(old) && g.clicks > old) {
      card.classList.add('bump');
      setTimeout(function () { card.classList.remove('bump'); }, 700);
    }
    tickCard(card, now());
  }

  function tickCard(card, t) {
    var duration = Number(card.getAttribute('data-duration'));
    var deadline = Number(card.getAttribute('data-deadline'));
    var start = Number(card.getAttribute('data-start'));
    var end = Number(card.getAttribute('data-end'));
    var status = card.getAttribute('data-status');
    var active = status === 'active';
    var left = active ? Math.max(0, deadline - t) : 0;
    var band = bandOf(left, duration);
    setBand(card, band);
    card.classList.toggle('over', left === 0);
    setText(field(card, 'countdown'), clock(left));
    setText(field(card, 'band'), !active ? status : left === 0 ? 'time is up' : NAMES[band]);
    var meter = field(card, 'meter');
    if (meter) { meter.style.width = (duration > 0 ? 100 * left / duration : 0).toFixed(2) + '%'; }
    var until = end > 0 ? end : left === 0 ? deadline : t;
    setText(field(card, 'alive'), span(until - start));
  }

  function tick() {
    var t = now();
    var cards = document.querySelectorAll('[data-game][data-deadline]');
    for (var i = 0; i < cards.length; i++) { tickCard(cards[i], t); }
    var times = document.querySelectorAll('time[data-ms]');
    for (var k = 0; k < times.length; k++) { setText(times[k], ago(t - Number(times[k].getAttribute('data-ms')))); }
  }

  // The live list of /: one card per active game, oldest first.
  var list = document.querySelector('[data-live-list]');
  var empty = document.querySelector('[data-live-empty]');
  var template = document.getElementById('card-template');
  function applyList(live) {
    var seen = {};
    for (var i = 0; i < live.games.length; i++) {
      var g = live.games[i];
      seen[g.id] = true;
      var card = list.querySelector('[data-game="' + Number(g.id) + '"]');
      if (!card) {
        card = template.content.firstElementChild.cloneNode(true);
        card.removeAttribute('data-clicks');
      }
      fill(card, g);
      if (list.children[i] !== card) { list.insertBefore(card, list.children[i] || null); }
    }
    var cards = list.querySelectorAll('[data-game]');
    for (var k = 0; k < cards.length; k++) {
      if (!seen[cards[k].getAttribute('data-game')]) { cards[k].remove(); }
    }
    if (empty) { empty.hidden = live.games.length > 0; }
  }

  // A game's page: its card follows the stream; the tables below are
  // as loaded, with a note when there is more.
  var follow = Number(body.getAttribute('data-follow'));
  var followCard = follow ? document.querySelector('[data-game="' + follow + '"]') : null;
  var loadedClicks = followCard ? Number(followCard.getAttribute('data-clicks')) : 0;
  var timerImg = document.querySelector('img[data-timer]');
  var notice = document.querySelector('[data-notice]');
  var noticeText = document.querySelector('[data-notice-text]');
  function applyFollow(live) {
    var g = null;
    for (var i = 0; i < live.games.length; i++) { if (live.games[i].id === follow) { g = live.games[i]; } }
    if (!g) {
      if (followCard.getAttribute('data-status') === 'active') {
        showNotice('This game has ended.');
        followCard.setAttribute('data-status', 'ended');
        followCard.setAttribute('data-end', followCard.getAttribute('data-deadline'));
        refreshTimer();
      }
      return;
    }
    var before = Number(followCard.getAttribute('data-clicks'));
    fill(followCard, g);
    if (g.clicks !== before) { refreshTimer(); }
    var more = g.clicks - loadedClicks;
    if (more > 0) { showNotice(more + (more === 1 ? ' new click' : ' new clicks') + ' since this page was loaded.'); }
  }
  function showNotice(text) {
    if (!notice) { return; }
    setText(noticeText, text);
    notice.hidden = false;
  }
  var timerSrc = timerImg ? timerImg.getAttribute('src') : '';
  function refreshTimer() {
    if (timerImg) { timerImg.setAttribute('src', timerSrc + '?t=' + Math.floor(now() / 1000)); }
  }

  // The connection light in the header.
  var conn = document.querySelector('[data-conn]');
  var connText = document.querySelector('[data-conn-text]');
  function setConn(state, text) {
    if (!conn) { return; }
    conn.hidden = false;
    conn.classList.toggle('live', state === 'live');
    conn.classList.toggle('down', state === 'down');
    setText(connText, text);
  }

  function connect() {
    var es = new EventSource('/events');
    es.addEventListener('open', function () {
      page.connected = true;
    });
    es.addEventListener('clock', function (e) {
      var serverNow = Number(e.data);
      if (isFinite(serverNow)) { offset = serverNow - Date.now(); }
    });
    es.addEventListener('status', function (e) {
      var st = JSON.parse(e.data);
      if (st.ok) { setConn('live', 'live'); } else { setConn('down', 'statistics unavailable'); }
    });
    es.addEventListener('games', function (e) {
      var live = JSON.parse(e.data);
      page.position = live.position;
      if (list && template) { applyList(live); }
      if (followCard) { applyFollow(live); }
      page.updates++;
      tick();
    });
    es.addEventListener('error', function () {
      page.connected = false;
      setConn('down', 'reconnecting');
      if (es.readyState === EventSource.CLOSED) {
        // The server refused the stream (503): the browser gives up, we don't.
        es.close();
        setTimeout(connect, 5000);
      }
    });
  }

  // Tick each 250 ms, and each animation frame while a clock shows
  // milliseconds (under a minute left).
  function fast() {
    var cards = document.querySelectorAll('[data-game][data-deadline][data-status="active"]'), t = now();
    for (var i = 0; i < cards.length; i++) {
      var left = Number(cards[i].getAttribute('data-deadline')) - t;
      if (left > 0 && left < 60000) { return true; }
    }
    return false;
  }
  function frame() { if (fast()) { tick(); } window.requestAnimationFrame(frame); }
  tick();
  setInterval(tick, 250);
  if (window.requestAnimationFrame) { window.requestAnimationFrame(frame); }
  var following = followCard && followCard.getAttribute('data-status') === 'active';
  if ((list || following) && window.EventSource) {
    setConn('', 'connecting');
    connect();
  }
  if (timerImg && followCard && followCard.getAttribute('data-status') === 'active') {
    setInterval(function () {
      if (!document.hidden && followCard.getAttribute('data-status') === 'active' && !followCard.classList.contains('over')) { refreshTimer(); }
    }, 5000);
  }
})();

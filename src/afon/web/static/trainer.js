// afon trainer panel: drill picker, technique, start/stop, last score and a learning curve
// (keeper rate per session, drawn as inline SVG from GET /api/trainer/history).
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const SVG = 'http://www.w3.org/2000/svg';
  const W = 320;
  const H = 150;
  const PAD = { l: 34, r: 8, t: 10, b: 22 };

  const tokenNow = () => {
    const hash = new URLSearchParams(location.hash.slice(1));
    const query = new URLSearchParams(location.search);
    return hash.get('token') || query.get('token') || sessionStorage.getItem('afon-token') || '';
  };
  const headers = (json) => {
    const h = json ? { 'Content-Type': 'application/json' } : {};
    const token = tokenNow();
    if (token) h.Authorization = 'Bearer ' + token;
    return h;
  };

  async function api(path, body) {
    const init = body === undefined
      ? { headers: headers(false) }
      : { method: 'POST', headers: headers(true), body: JSON.stringify(body) };
    const res = await fetch(path, init);
    let data = {};
    try { data = await res.json(); } catch (_e) { data = {}; }
    if (!res.ok) throw new Error(data.error || ('HTTP ' + res.status));
    return data;
  }

  let drills = [];
  let running = null; // { name, t0, duration_s }
  let timer = 0;
  let autoStop = 0;

  const current = () => drills.find((d) => d.name === $('trainer-drill').value);
  const showError = (msg) => { $('trainer-error').textContent = msg || ''; };

  function showDrill() {
    const d = current();
    if (!d) return;
    $('trainer-technique').textContent = d.technique;
    $('trainer-scenario').textContent = d.description + ' · ' + d.duration_s + ' s, ' +
      d.moments + (d.moments === 1 ? ' moment' : ' moments') + ' · ' + d.profile + ', ' +
      d.focus_mode + ', ' + d.drive;
    loadHistory(d.name);
  }

  function el(name, attrs, text) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function drawCurve(sessions) {
    const svg = $('trainer-curve');
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const x0 = PAD.l;
    const x1 = W - PAD.r;
    const y0 = H - PAD.b;
    const y1 = PAD.t;
    const yOf = (rate) => y0 - (y0 - y1) * rate;
    for (const r of [0, 0.5, 1]) {
      svg.appendChild(el('line', { x1: x0, x2: x1, y1: yOf(r), y2: yOf(r), stroke: '#333', 'stroke-width': 1 }));
      svg.appendChild(el('text', { x: x0 - 4, y: yOf(r) + 4, 'text-anchor': 'end', 'font-size': 10, fill: '#999' },
        Math.round(r * 100) + '%'));
    }
    const n = sessions.length;
    svg.setAttribute('data-sessions', String(n));
    if (!n) {
      svg.appendChild(el('text', { x: (x0 + x1) / 2, y: (y0 + y1) / 2, 'text-anchor': 'middle', 'font-size': 12, fill: '#999' },
        'no sessions yet: start a drill'));
      return;
    }
    const xOf = (i) => (n === 1 ? (x0 + x1) / 2 : x0 + (x1 - x0) * i / (n - 1));
    const pts = [];
    sessions.forEach((s, i) => {
      if (s.keeper_rate !== null && s.keeper_rate !== undefined) pts.push([xOf(i), yOf(s.keeper_rate)]);
    });
    if (pts.length > 1) {
      svg.appendChild(el('polyline', {
        points: pts.map((p) => p[0].toFixed(1) + ',' + p[1].toFixed(1)).join(' '),
        fill: 'none', stroke: '#f0b429', 'stroke-width': 2,
      }));
    }
    sessions.forEach((s, i) => {
      const none = s.keeper_rate === null || s.keeper_rate === undefined;
      const c = el('circle', {
        cx: xOf(i).toFixed(1), cy: yOf(none ? 0 : s.keeper_rate).toFixed(1), r: 3.5,
        fill: none ? 'none' : '#f0b429', stroke: '#f0b429', class: 'point',
      });
      const when = new Date(s.started_at * 1000).toLocaleString();
      c.appendChild(el('title', {}, 'session ' + (i + 1) + ' (' + when + '): ' +
        (none ? 'no shots' : Math.round(s.keeper_rate * 100) + '% keepers') + ', missed ' + s.missed +
        '/' + s.moments));
      svg.appendChild(c);
    });
    svg.appendChild(el('text', { x: x0, y: H - 6, 'font-size': 10, fill: '#999' }, 'session 1'));
    svg.appendChild(el('text', { x: x1, y: H - 6, 'text-anchor': 'end', 'font-size': 10, fill: '#999' },
      'session ' + n));
  }

  async function loadHistory(name) {
    try {
      const data = await api('/api/trainer/history?drill=' + encodeURIComponent(name));
      if (current() && current().name === name) drawCurve(data.sessions);
    } catch (e) {
      showError(e.message);
    }
  }

  function showScore(s) {
    const box = $('trainer-score');
    box.textContent = '';
    const add = (label, value) => {
      const b = document.createElement('b');
      b.textContent = value;
      box.append(label + ' ', b, '  ');
    };
    add('Keepers', s.keeper_rate === null ? '–' : Math.round(s.keeper_rate * 100) + '% (' + s.keepers + '/' + s.shots + ')');
    add('lag', s.lag_median_s === null ? '–' : Math.round(s.lag_median_s * 1000) + ' ms');
    add('missed', s.missed + '/' + s.moments);
    if (s.aborted) box.append(' · aborted (stopped at ' + s.elapsed_s.toFixed(1) + ' s): not in the curve');
    if (s.behind) box.append(' · the simulation ran in slow motion during this drill: the score is flagged');
  }

  function setRunning(r) {
    running = r;
    $('trainer-start').disabled = !!r;
    $('trainer-stop').disabled = !r;
    $('trainer-drill').disabled = !!r;
    clearInterval(timer);
    clearTimeout(autoStop);
    if (!r) { $('trainer-timer').textContent = ''; return; }
    const tick = () => {
      const t = (performance.now() - r.t0) / 1000;
      $('trainer-timer').textContent = t.toFixed(1) + ' / ' + r.duration_s.toFixed(1) + ' s';
    };
    tick();
    timer = setInterval(tick, 100);
    autoStop = setTimeout(stop, (r.duration_s + 1.0) * 1000);
  }

  async function start() {
    showError('');
    const d = current();
    if (!d) return;
    try {
      await api('/api/trainer/start', { drill: d.name });
      setRunning({ name: d.name, t0: performance.now(), duration_s: d.duration_s });
    } catch (e) {
      showError(e.message);
    }
  }

  async function stop() {
    if (!running) return;
    const name = running.name;
    setRunning(null);
    try {
      showScore(await api('/api/trainer/stop', {}));
    } catch (e) {
      showError(e.message);
    }
    loadHistory(name);
  }

  async function init() {
    try {
      const data = await api('/api/trainer/drills');
      drills = data.drills;
    } catch (e) {
      showError(e.message);
      setTimeout(init, 2000); // e.g. the pairing token is entered later
      return;
    }
    const sel = $('trainer-drill');
    sel.textContent = '';
    for (const d of drills) {
      const o = document.createElement('option');
      o.value = d.name;
      o.textContent = d.title;
      sel.appendChild(o);
    }
    showError('');
    sel.addEventListener('change', showDrill);
    $('trainer-start').addEventListener('click', (e) => { e.currentTarget.blur(); start(); });
    $('trainer-stop').addEventListener('click', (e) => { e.currentTarget.blur(); stop(); });
    showDrill();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();

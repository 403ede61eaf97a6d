// afon trainer panel: drill picker, technique and level, a countdown and cues at each moment
// (visual, sound, vibration), start/stop on the drill's own clock, the last score with a replay
// timeline and coaching lines, and a learning curve (keeper rate, lag, missed moments per
// session, from GET /api/trainer/history). The last result is kept across a reload.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const SVG = 'http://www.w3.org/2000/svg';
  const W = 320;
  const H = 150;
  const PAD = { l: 34, r: 8, t: 10, b: 22 };

  // the page's session cookie (app.js pairs it) goes with every same-origin fetch: no token
  const headers = (json) => (json ? { 'Content-Type': 'application/json' } : {});

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
  let running = null; // { name, duration_s, moments, cued, started }
  let timer = 0;
  const COUNTDOWN_S = 3;
  const TAIL_S = 1.0; // as the server: shots pressed up to 1 s after the end still count
  const LAST_KEY = 'afon-trainer-last';

  // --- cues: visual, sound, vibration --------------------------------------------------------
  let audio = null;
  function beep(freq, ms) {
    if (!$('cue-sound').checked) return;
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = freq;
      gain.gain.value = 0.15;
      osc.connect(gain).connect(audio.destination);
      osc.start();
      osc.stop(audio.currentTime + ms / 1000);
    } catch (_e) { /* no audio: the visual cue stays */ }
  }
  function buzz(ms) {
    if ($('cue-vibrate').checked && navigator.vibrate) navigator.vibrate(ms);
  }
  function showCue(text, now) {
    const el = $('cue');
    el.textContent = text;
    el.classList.toggle('now', !!now);
    el.hidden = false;
    clearTimeout(showCue.t);
    showCue.t = setTimeout(() => { el.hidden = true; }, now ? 350 : 900);
  }
  const cueLog = [];
  window.afonTrainer = { cueLog, get running() { return running; } };
  function cue(text, now) {
    cueLog.push({ text, t_s: drillTime(), wall_ms: performance.now() });
    showCue(text, now);
    beep(now ? 1320 : 660, now ? 120 : 80);
    buzz(now ? 120 : 40);
  }
  // The drill's own clock: the state the body sends (it runs slower when the machine is busy).
  const drillTime = () => {
    const st = window.afon && window.afon.state;
    return st && st.camera && st.camera.includes('(drill') ? st.t_s : null;
  };

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

  // the name a drill's sessions are kept under (shutter-button AF and levels have their own curve)
  const historyQuery = (name) => 'drill=' + encodeURIComponent(name) +
    '&technique=' + $('trainer-technique-select').value + '&level=' + $('trainer-level').value;

  function drawCurve(sessions) {
    const lagMs = (s) => (s.lag_median_s == null ? null : Math.min(s.lag_median_s * 1000, 500));
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
    sessions.forEach((s, i) => {  // missed moments: red bars from the bottom (share of moments)
      if (!s.moments) return;
      const share = s.missed / s.moments;
      svg.appendChild(el('rect', {
        x: (xOf(i) - 3).toFixed(1), y: yOf(share).toFixed(1), width: 6,
        height: (y0 - yOf(share)).toFixed(1), fill: 'rgba(255,51,51,0.45)', class: 'missed',
      }));
    });
    const lagPts = [];
    sessions.forEach((s, i) => {
      const v = lagMs(s);
      if (v !== null) lagPts.push([xOf(i), yOf(v / 500)]);
    });
    if (lagPts.length) {
      svg.appendChild(el('polyline', {
        points: lagPts.map((p) => p[0].toFixed(1) + ',' + p[1].toFixed(1)).join(' '),
        fill: 'none', stroke: '#4aa3ff', 'stroke-width': 1.5, 'stroke-dasharray': '3 2', class: 'lag',
      }));
    }
    const pts = [];
    sessions.forEach((s, i) => {
      if (s.keeper_rate !== null && s.keeper_rate !== undefined) pts.push([xOf(i), yOf(s.keeper_rate)]);
    });
    if (pts.length > 1) {
      svg.appendChild(el('polyline', {
        points: pts.map((p) => p[0].toFixed(1) + ',' + p[1].toFixed(1)).join(' '),
        fill: 'none', stroke: '#f0b429', 'stroke-width': 2, class: 'keepers',
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
      const data = await api('/api/trainer/history?' + historyQuery(name));
      if (current() && current().name === name) drawCurve(data.sessions);
    } catch (e) {
      showError(e.message);
    }
  }

  function showScore(s, restored) {
    if (!s) return;
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
    if (restored) box.append(' (last result, ' + (s.drill || '') + ')');
    const coachList = $('trainer-coach');
    coachList.replaceChildren(...(s.coaching || []).map((line) => {
      const li = document.createElement('li');
      li.textContent = line;
      return li;
    }));
    drawReplay(s.timeline);
  }

  // The replay: four lanes on the drill's time axis.
  function drawReplay(tl) {
    const fig = $('trainer-replay-fig');
    const svg = $('trainer-replay');
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    if (!tl || !tl.samples) { fig.hidden = true; return; }
    fig.hidden = false;
    const RW = 320;
    const x0 = 46;
    const x1 = RW - 6;
    const T = Math.max(tl.duration_s + TAIL_S, 0.1);
    const xOf = (t) => x0 + (x1 - x0) * Math.min(Math.max(t, 0), T) / T;
    const lanes = { af_on: [6, 16], af: [24, 34], shots: [42, 62], lens: [70, 150] };
    const label = (text, y) => svg.appendChild(el('text', { x: 2, y, 'font-size': 9, fill: '#999' }, text));
    label('AF-ON', 14); label('AF', 32); label('shots', 56); label('focus', 90);
    for (const [a, b] of tl.moments) {  // moment windows, through the shot lane
      svg.appendChild(el('rect', { x: xOf(a).toFixed(1), y: lanes.shots[0], width: Math.max(xOf(b) - xOf(a), 1).toFixed(1),
        height: lanes.shots[1] - lanes.shots[0], fill: 'rgba(240,180,41,0.25)', class: 'window' }));
    }
    const smp = tl.samples;
    const AF_COLOR = { PASSIVE_FOCUSED: '#22dd44', FOCUSED_LOCKED: '#22dd44', PASSIVE_SCAN: '#ffaa00',
      ACTIVE_SCAN: '#ffaa00', PASSIVE_UNFOCUSED: '#ff3333', NOT_FOCUSED_LOCKED: '#ff3333', INACTIVE: '#555' };
    for (let i = 0; i < smp.length; i += 1) {
      const a = smp[i].t;
      const b = i + 1 < smp.length ? smp[i + 1].t : a + 1 / 30;
      const w = Math.max(xOf(b) - xOf(a), 0.5).toFixed(2);
      if (smp[i].af_on) {
        svg.appendChild(el('rect', { x: xOf(a).toFixed(2), y: lanes.af_on[0], width: w, height: 10, fill: '#f0b429', class: 'held' }));
      }
      svg.appendChild(el('rect', { x: xOf(a).toFixed(2), y: lanes.af[0], width: w, height: 10,
        fill: AF_COLOR[smp[i].af] || '#555', class: 'af' }));
    }
    for (const sh of tl.shots) {
      const t = sh.exposure_s == null ? sh.pressed_s : sh.exposure_s;
      svg.appendChild(el('line', { x1: xOf(t).toFixed(1), x2: xOf(t).toFixed(1), y1: lanes.shots[0], y2: lanes.shots[1],
        stroke: !sh.ok ? '#888' : (sh.in_focus ? '#22dd44' : '#ff3333'), 'stroke-width': 2, class: 'shot' }));
    }
    // lens and subject, in dioptres (near at the top)
    const ds = smp.flatMap((p) => [p.lens_d, p.subject_d]).filter((d) => d != null);
    const lo = Math.min(...ds);
    const hi = Math.max(...ds, lo + 1e-3);
    const yOf = (d) => lanes.lens[1] - (lanes.lens[1] - lanes.lens[0]) * (d - lo) / (hi - lo);
    const line = (key, stroke, cls) => {
      const pts = smp.filter((p) => p[key] != null).map((p) => xOf(p.t).toFixed(1) + ',' + yOf(p[key]).toFixed(1));
      if (pts.length) svg.appendChild(el('polyline', { points: pts.join(' '), fill: 'none', stroke, 'stroke-width': 1.5, class: cls }));
    };
    line('subject_d', '#e8e8e8', 'subject');
    line('lens_d', '#ffaa00', 'lens');
    label(hi > 0 ? (1 / hi).toFixed(1) + ' m' : '∞', lanes.lens[0] + 8);
    label(lo > 1e-6 ? (1 / lo).toFixed(1) + ' m' : '∞', lanes.lens[1]);
    if (tl.recompose_s != null) {
      svg.appendChild(el('line', { x1: xOf(tl.recompose_s), x2: xOf(tl.recompose_s), y1: 0, y2: lanes.lens[1],
        stroke: '#4aa3ff', 'stroke-dasharray': '2 2', class: 'recompose' }));
    }
    for (let t = 0; t <= T + 1e-9; t += 1) {
      svg.appendChild(el('text', { x: xOf(t), y: 166, 'font-size': 9, fill: '#999', 'text-anchor': 'middle' }, t + ' s'));
    }
  }

  function setRunning(r) {
    running = r;
    for (const id of ['trainer-start', 'trainer-drill', 'trainer-technique-select', 'trainer-level']) {
      $(id).disabled = !!r;
    }
    $('trainer-stop').disabled = !r;
    clearInterval(timer);
    if (!r) { $('trainer-timer').textContent = ''; return; }
    // cues and the end follow the drill's clock (the body's state), so a drill in slow motion
    // is cued in slow motion too
    const tick = () => {
      const t = drillTime();
      if (t === null || !r.started) return;
      $('trainer-timer').textContent = t.toFixed(1) + ' / ' + r.duration_s.toFixed(1) + ' s';
      while (r.cued < r.moments.length && t >= r.moments[r.cued] - 1e-3) {
        r.cued += 1;
        cue('NOW', true);
      }
      if (t >= r.duration_s + TAIL_S) stop();
    };
    timer = setInterval(tick, 10);
  }

  const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

  async function start() {
    showError('');
    const d = current();
    if (!d) return;
    const technique = $('trainer-technique-select').value;
    const level = Number($('trainer-level').value);
    const r = { name: d.name, duration_s: d.duration_s, moments: d.moments_s, cued: 0, started: false };
    setRunning(r);
    for (let k = COUNTDOWN_S; k > 0; k -= 1) {  // get ready: the scene starts at 0
      cue(String(k), false);
      await sleep(1000);
      if (running !== r) return;
    }
    try {
      await api('/api/trainer/start', { drill: d.name, technique, level });
      r.started = true;
      showCue('GO', true);
    } catch (e) {
      setRunning(null);
      showError(e.message);
    }
  }

  async function stop() {
    if (!running) return;
    const r = running;
    setRunning(null);
    if (!r.started) return;  // stopped during the countdown
    try {
      const score = await api('/api/trainer/stop', {});
      showScore(score);
      try { localStorage.setItem(LAST_KEY, JSON.stringify(score)); } catch (_e) { /* full */ }
    } catch (e) {
      showError(e.message);
    }
    loadHistory(r.name);
  }

  async function init() {
    let data;
    try {
      data = await api('/api/trainer/drills');
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
    let last = null;
    try { last = JSON.parse(localStorage.getItem(LAST_KEY) || 'null'); } catch (_e) { last = null; }
    showScore(last || data.last_score, true);
    if (last && drills.some((d) => d.name === last.drill)) sel.value = last.drill;
    sel.addEventListener('change', showDrill);
    $('trainer-start').addEventListener('click', (e) => { e.currentTarget.blur(); start(); });
    $('trainer-stop').addEventListener('click', (e) => { e.currentTarget.blur(); stop(); });
    for (const id of ['trainer-technique-select', 'trainer-level']) {
      $(id).addEventListener('change', (e) => { e.currentTarget.blur(); showDrill(); });
    }
    showDrill();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();

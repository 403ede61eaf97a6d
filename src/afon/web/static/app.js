// afon viewfinder and remote: live view over a WebSocket, controls by keyboard, mouse and touch.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);

  // Overlay colours (tests look for these pixels): the AF frame takes the focus-confirm colour.
  const COLORS = {
    focused: '#22dd44',   // FOCUSED_LOCKED, PASSIVE_FOCUSED
    scanning: '#ffaa00',  // ACTIVE_SCAN, PASSIVE_SCAN
    failed: '#ff3333',    // NOT_FOCUSED_LOCKED, PASSIVE_UNFOCUSED
    idle: '#e8e8e8',      // INACTIVE
  };
  // Focus peaking colours a photographer picks from (as on real bodies), and the default.
  const PEAK_COLORS = {
    magenta: [255, 40, 200], red: [255, 30, 30], yellow: [255, 230, 0],
    blue: [40, 120, 255], white: [255, 255, 255],
  };
  const PEAK_DEFAULT = { color: 'magenta', threshold: 56 };
  const PEAK_THRESHOLDS = [16, 160];  // gradient (0..510) above which an edge is painted
  const ZOOMS = [0, 5, 10];           // magnify: off, 5×, 10× (the server reads the sensor)
  const VF_KEY = 'afon-viewfinder';   // peaking on/off, colour and threshold, kept per browser
  const PING_MS = 1000;
  // What a photographer reads, beside the Camera2 / libcamera state name.
  const AF_WORDS = {
    INACTIVE: 'AF idle',
    PASSIVE_SCAN: 'Focusing…',
    PASSIVE_FOCUSED: 'In focus',
    PASSIVE_UNFOCUSED: 'Cannot focus',
    ACTIVE_SCAN: 'Focusing…',
    FOCUSED_LOCKED: 'Focus locked',
    NOT_FOCUSED_LOCKED: 'Locked, not in focus',
  };
  const SCALE_LABELS_M = [0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 10];

  // --- token: from the #token= fragment afon prints (or the form), traded for the session --
  // cookie by one request with an Authorization header, then gone from the address bar. No
  // URL the page makes carries it (URLs end up in logs, history and Referer headers): the
  // WebSocket, the API and the gallery's images go by the HttpOnly SameSite=Strict cookie.
  const hashParams = new URLSearchParams(location.hash.slice(1));
  const queryParams = new URLSearchParams(location.search);
  let token = hashParams.get('token') || queryParams.get('token') || '';
  sessionStorage.removeItem('afon-token'); // kept there by earlier versions
  if (hashParams.has('token') || queryParams.has('token')) {
    hashParams.delete('token');
    queryParams.delete('token');
    const q = queryParams.toString();
    const h = hashParams.toString();
    history.replaceState(null, '', location.pathname + (q ? '?' + q : '') + (h ? '#' + h : ''));
  }

  async function pair() {
    // With a token: one request that carries it in a header; the answer sets the cookie.
    if (!token) return;
    try {
      const r = await fetch('/api/state', { headers: { Authorization: 'Bearer ' + token } });
      if (r.ok) token = ''; // paired: the cookie stands for it from now on
    } catch (err) { /* offline: connect() says so */ }
  }

  // --- state ---------------------------------------------------------------------------------
  let ws = null;
  let opened = false;
  let info = null;
  let state = null;
  let keymap = {};
  let keyToAction = {};
  let peaking = false;
  let peakColor = PEAK_DEFAULT.color;
  let peakThreshold = PEAK_DEFAULT.threshold;
  let capture = null;          // action waiting for its new key
  const held = new Map();      // source -> control, what this page holds
  let bitmap = null;
  let pending = null;
  let decoding = false;
  let msgId = 0;
  let reconnectMs = 500;
  const shots = [];
  const stats = {
    frames: 0, drawn: 0, fps: 0, rttMs: null,
    acks: [],                  // {control, action, latency_ms: body_ms - t_ms, ack_ms}
    errors: [],
  };
  const vf = $('vf');
  const ctx = vf.getContext('2d', { willReadFrequently: true });
  let view = { sx: 0, sy: 0, sw: 640, sh: 480, W: 640, H: 480 };

  // A small hook for tests and benchmarks.
  window.afon = {
    stats, shots,
    get state() { return state; },
    get info() { return info; },
    get keymap() { return keymap; },
    get peaking() { return peaking; },
    get peakColor() { return peakColor; },
    get peakThreshold() { return peakThreshold; },
    get magnify() { return state ? state.magnify || 0 : 0; },
    peakColors: PEAK_COLORS,
    get review() { return review; },
    get connected() { return !!ws && ws.readyState === WebSocket.OPEN; },
    colors: COLORS,
    afFrameRect,
  };

  const apiHeaders = () => (token ? { Authorization: 'Bearer ' + token } : {});

  // --- connection ----------------------------------------------------------------------------
  function connect() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    opened = false;
    ws = new WebSocket(`${proto}//${location.host}/ws`); // the session cookie pairs it
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      opened = true;
      reconnectMs = 500;
      setConn('live', 'conn-on');
      $('token-form').hidden = true;
    };
    ws.onmessage = (e) => {
      if (typeof e.data === 'string') {
        let msg;
        try { msg = JSON.parse(e.data); } catch (err) { return; }
        onMessage(msg);
      } else {
        onFrame(e.data);
      }
    };
    ws.onclose = () => {
      releaseLocal();
      if (!opened) {
        checkRefusal();
      } else {
        setConn('reconnecting…', 'conn-off');
        setTimeout(connect, reconnectMs);
      }
    };
  }

  async function checkRefusal() {
    // A refused WebSocket tells the page nothing: ask the API why.
    let status = 0;
    try {
      status = (await fetch('/api/state', { headers: apiHeaders() })).status;
    } catch (err) { status = 0; }
    if (status === 401) {
      setConn(token ? 'wrong pairing token' : 'pairing token needed', 'conn-bad');
      $('token-form').hidden = false;
      return;
    }
    if (status === 403) {
      setConn('refused (origin or host not allowed)', 'conn-bad');
      return;
    }
    setConn('offline, retrying…', 'conn-off');
    reconnectMs = Math.min(reconnectMs * 2, 5000);
    setTimeout(connect, reconnectMs);
  }

  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    token = $('token-input').value.trim();
    $('token-input').value = '';
    pair().then(connect);
  });

  function setConn(text, cls) {
    const el = $('conn');
    el.textContent = text;
    el.className = cls;
  }

  function send(obj) {
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify(obj));
      return true;
    }
    return false;
  }

  setInterval(() => send({ type: 'ping', t_ms: Date.now() }), PING_MS);

  // --- messages ------------------------------------------------------------------------------
  function onMessage(msg) {
    switch (msg.type) {
      case 'hello':
        info = msg;
        $('camera-name').textContent = msg.camera || '';
        fillSettings(msg);
        setKeys(msg.keys);
        shots.length = 0;
        $('gallery').replaceChildren();
        (msg.shots || []).forEach(addShot);
        break;
      case 'state':
        state = msg;
        showState();
        break;
      case 'shot':
        addShot(msg.shot);
        break;
      case 'shot_deleted':
        removeShot(msg.n);
        break;
      case 'keys':
        setKeys(msg.keys);
        $('keys-error').textContent = '';
        break;
      case 'ack':
        if (msg.t_ms != null && msg.body_ms != null) {
          stats.acks.push({
            control: msg.control, action: msg.action,
            latency_ms: msg.body_ms - msg.t_ms, ack_ms: wallMs() - msg.t_ms,
          });
          if (stats.acks.length > 5000) stats.acks.shift();
        }
        break;
      case 'pong':
        if (msg.t_ms != null) stats.rttMs = Date.now() - msg.t_ms;
        break;
      case 'error':
        stats.errors.push(msg);
        if (msg.field !== undefined && String(msg.error).startsWith('keys')) {
          $('keys-error').textContent = msg.error;
        }
        toast(msg.error);
        break;
      default:
        break;
    }
  }

  // --- frames --------------------------------------------------------------------------------
  function onFrame(buf) {
    stats.frames += 1;
    pending = buf;
    if (!decoding) decodeLoop();
  }

  async function decodeLoop() {
    decoding = true;
    while (pending) {
      const buf = pending;
      pending = null;
      try {
        const bmp = await createImageBitmap(new Blob([buf], { type: 'image/jpeg' }));
        if (bitmap) bitmap.close();
        bitmap = bmp;
        draw();
      } catch (err) {
        // a damaged frame: wait for the next one
      }
    }
    decoding = false;
  }

  let fpsCount = 0;
  let fpsT = performance.now();
  function countFps() {
    fpsCount += 1;
    const now = performance.now();
    if (now - fpsT >= 1000) {
      stats.fps = (fpsCount * 1000) / (now - fpsT);
      fpsCount = 0;
      fpsT = now;
      $('fps').textContent = `${stats.fps.toFixed(0)} fps` +
        (stats.rttMs != null ? ` · ${stats.rttMs} ms` : '');
    }
  }

  function draw() {
    if (!bitmap) return;
    // the canvas keeps the live view's size; a magnified frame (a region the server read at
    // the sensor's resolution, `magnify_rect` of the frame) is drawn into the same box
    const rect = state && state.magnify_rect;
    const size = state && state.frame_size;
    const W = size ? size[0] : bitmap.width;
    const H = size ? size[1] : bitmap.height;
    if (vf.width !== W || vf.height !== H) {
      vf.width = W;
      vf.height = H;
      fitViewfinder();
    }
    view = { sx: 0, sy: 0, sw: W, sh: H, W, H };
    if (rect) {
      view = { sx: rect[0] * W, sy: rect[1] * H, sw: rect[2] * W, sh: rect[3] * H, W, H };
    }
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(bitmap, 0, 0, bitmap.width, bitmap.height, 0, 0, W, H);
    const label = $('magnify-label');
    label.hidden = !rect;
    if (rect) {
      label.textContent = `×${state.magnify}` + (state.magnify_native ? ' sensor' : ' (crop)') +
        (state.mf_assist ? ' · MF assist' : '');
    }
    $('magnify-btn').setAttribute('aria-pressed', String(!!(state && state.magnify)));
    if (peaking) drawPeaking(W, H);
    drawOverlay();
    stats.drawn += 1;
    countFps();
  }

  // Where the layout gives the viewfinder a box (desktop, phone landscape: --fit: contain), the
  // canvas is the largest size of its own aspect that fits in it; elsewhere it takes the width.
  function fitViewfinder() {
    const wrap = $('vf-wrap');
    const frame = $('vf-frame');
    if (getComputedStyle(wrap).getPropertyValue('--fit').trim() !== 'contain') {
      vf.style.width = '';
      vf.style.height = '';
      frame.style.width = '';
      return;
    }
    const k = Math.min(wrap.clientWidth / vf.width, wrap.clientHeight / vf.height);
    if (!(k > 0)) return;
    const w = Math.floor(vf.width * k);
    const h = Math.floor(vf.height * k);
    vf.style.width = w + 'px';
    vf.style.height = h + 'px';
    frame.style.width = w + 'px';
  }

  // Focus peaking: highlight strong local contrast (in-focus edges) on the drawn frame.
  function drawPeaking(W, H) {
    const img = ctx.getImageData(0, 0, W, H);
    const d = img.data;
    const rgb = PEAK_COLORS[peakColor] || PEAK_COLORS[PEAK_DEFAULT.color];
    const threshold = peakThreshold;
    const n = W * H;
    const lum = new Uint8ClampedArray(n);
    for (let i = 0, j = 0; i < n; i += 1, j += 4) {
      lum[i] = (d[j] * 77 + d[j + 1] * 150 + d[j + 2] * 29) >> 8;
    }
    for (let y = 1; y < H - 1; y += 1) {
      let i = y * W + 1;
      for (let x = 1; x < W - 1; x += 1, i += 1) {
        const g = Math.abs(lum[i + 1] - lum[i - 1]) + Math.abs(lum[i + W] - lum[i - W]);
        if (g > threshold) {
          const j = i * 4;
          d[j] = rgb[0];
          d[j + 1] = rgb[1];
          d[j + 2] = rgb[2];
        }
      }
    }
    ctx.putImageData(img, 0, 0);
  }

  function stateColor(s) {
    if (!s) return COLORS.idle;
    if (s.af_state === 'FOCUSED_LOCKED' || s.af_state === 'PASSIVE_FOCUSED') return COLORS.focused;
    if (s.af_state === 'ACTIVE_SCAN' || s.af_state === 'PASSIVE_SCAN') return COLORS.scanning;
    if (s.af_state === 'NOT_FOCUSED_LOCKED' || s.af_state === 'PASSIVE_UNFOCUSED') return COLORS.failed;
    return COLORS.idle;
  }

  // The AF window in canvas pixels, through the magnified view when it is on.
  function afFrameRect() {
    if (!state) return null;
    const [cx, cy, w, h] = state.af_window;
    const k = view.W / view.sw;
    const x0 = (cx * view.W - (w * view.W) / 2 - view.sx) * k;
    const y0 = (cy * view.H - (h * view.H) / 2 - view.sy) * k;
    return { x: x0, y: y0, w: w * view.W * k, h: h * view.H * k, canvasW: view.W, canvasH: view.H };
  }

  function drawOverlay() {
    const r = afFrameRect();
    if (!r) return;
    const color = stateColor(state);
    ctx.save();
    ctx.lineWidth = 4;
    ctx.strokeStyle = 'rgba(0,0,0,0.55)';
    ctx.strokeRect(r.x - 3, r.y - 3, r.w + 6, r.h + 6);
    ctx.strokeStyle = color;
    ctx.strokeRect(r.x, r.y, r.w, r.h);
    // centre mark
    const mx = r.x + r.w / 2;
    const my = r.y + r.h / 2;
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(mx - 6, my);
    ctx.lineTo(mx + 6, my);
    ctx.moveTo(mx, my - 6);
    ctx.lineTo(mx, my + 6);
    ctx.stroke();
    ctx.restore();
  }

  // --- HUD -----------------------------------------------------------------------------------
  // Focus confirm: a short beep / buzz when focus is found (switch in the trainer panel).
  let wasFocused = false;
  let beepCtx = null;
  function confirmFocus(focused) {
    const on = focused && !wasFocused;
    wasFocused = focused;
    const box = $('focus-beep');
    if (!on || !box || !box.checked) return;
    window.afon.confirms = (window.afon.confirms || 0) + 1;
    if (navigator.vibrate) navigator.vibrate(30);
    try {
      beepCtx = beepCtx || new (window.AudioContext || window.webkitAudioContext)();
      const osc = beepCtx.createOscillator();
      const gain = beepCtx.createGain();
      osc.frequency.value = 2000;
      gain.gain.value = 0.1;
      osc.connect(gain).connect(beepCtx.destination);
      osc.start();
      osc.stop(beepCtx.currentTime + 0.06);
    } catch (_e) { /* no audio */ }
  }

  function showState() {
    const s = state;
    confirmFocus(!!s.focused);
    const color = stateColor(s);
    const confirm = $('confirm');
    confirm.style.background = s.focused ? COLORS.focused : 'transparent';
    confirm.style.borderColor = color;
    confirm.classList.toggle('on', !!s.focused);
    $('af-state').textContent = s.af_state;
    $('af-state').style.color = color;
    const words = AF_WORDS[s.af_state] || s.af_state;
    if ($('af-words').textContent !== words) $('af-words').textContent = words;
    $('af-words').style.color = color;
    const pace = $('pace-info');
    const slow = s.time_scale != null && s.time_scale < 1;
    pace.hidden = !slow;
    if (slow) pace.textContent = `slow motion ×${s.time_scale} (this machine is busy)`;
    const buf = $('buffer-info');
    if (s.buffer) {
      const [n, depth] = s.buffer;
      buf.textContent = s.buffer_full ? `BUFFER FULL ${n}/${depth}: burst slowed` : (n ? `buffer ${n}/${depth}` : '');
      buf.classList.toggle('full', !!s.buffer_full);
    }
    $('mode-info').textContent = `${s.focus_mode} · ${s.drive}` +
      (s.drive === 'continuous' ? ` ${s.burst_fps} fps` : '') + ` · ${s.af_area} · ${s.profile}`;
    $('held-info').textContent = (s.held.length ? s.held.join(' + ') : '') +
      (s.trap_armed ? ' · trap focus: waiting for focus' : '');
    $('shot-count').textContent = `${s.shots} shot${s.shots === 1 ? '' : 's'}` +
      (s.failures ? `, ${s.failures} failed` : '') + (s.error ? ` · ${s.error}` : '');
    for (const el of document.querySelectorAll('select[data-setting]')) {
      if (document.activeElement !== el && s[el.dataset.setting] !== undefined) {
        el.value = s[el.dataset.setting];
      }
    }
    for (const el of document.querySelectorAll('button.hold')) {
      const c = el.dataset.control;
      const on = c === 'SHUTTER' ? s.held.includes('SHUTTER_FULL') : s.held.includes(c);
      el.classList.toggle('active', on);
      el.setAttribute('aria-pressed', String(on || held.has('button:' + el.id) ||
        held.has('focus-key:' + el.id)));
    }
    const trap = $('set-trap_focus');
    if (document.activeElement !== trap) trap.checked = !!s.trap_focus;
    const mf = $('mf-slider');
    mf.disabled = !s.manual_focus;
    const [lo, hi] = s.lens_range_d;
    mf.min = String(lo);
    mf.max = String(hi);
    mf.step = String((hi - lo) / 1000);
    if (document.activeElement !== mf) mf.value = String(s.lens_d);
    drawScale();
    if (!bitmap) drawOverlay();
  }

  // --- manual focus: the wheel on the viewfinder, [ and ], the slider ------------------------
  function turnRing(steps) {
    if (!state || !state.manual_focus) return false;
    const [lo, hi] = state.lens_range_d;
    send({ type: 'settings', id: ++msgId, focus_ring_d: steps * (hi - lo) / 100 });
    return true;
  }
  vf.addEventListener('wheel', (e) => {
    if (turnRing(e.deltaY < 0 ? 1 : -1)) e.preventDefault();
  }, { passive: false });
  $('mf-slider').addEventListener('input', (e) => {
    send({ type: 'settings', id: ++msgId, lens_d: Number(e.target.value) });
  });
  $('mf-slider').addEventListener('change', (e) => e.target.blur());  // keys: the camera's again

  function drawScale() {
    const c = $('scale');
    const dpr = window.devicePixelRatio || 1;
    const cssW = c.clientWidth || 640;
    const cssH = c.clientHeight || 46;
    if (c.width !== Math.round(cssW * dpr)) {
      c.width = Math.round(cssW * dpr);
      c.height = Math.round(cssH * dpr);
    }
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, cssW, cssH);
    if (!state) return;
    const [lo, hi] = state.lens_range_d;
    const pad = 14;
    const span = Math.max(hi - lo, 1e-6);
    // square-root spacing in dioptres: far distances get room, near ones stay readable
    const x = (d) => pad + Math.sqrt(Math.max(d - lo, 0) / span) * (cssW - 2 * pad);
    g.fillStyle = 'rgba(0,0,0,0.55)';
    g.fillRect(0, 0, cssW, cssH);
    g.strokeStyle = '#bbb';
    g.fillStyle = '#ddd';
    g.lineWidth = 1;
    g.font = '11px system-ui, sans-serif';
    g.textAlign = 'center';
    g.beginPath();
    g.moveTo(x(lo), 14);
    g.lineTo(x(hi), 14);
    g.stroke();
    const labels = [[0, '∞']].concat(SCALE_LABELS_M.map((m) => [1 / m, String(m)]));
    let lastX = -100;
    for (const [d, text] of labels.sort((a, b) => a[0] - b[0])) {
      if (d < lo - 1e-9 || d > hi + 1e-9) continue;
      const px = x(d);
      g.beginPath();
      g.moveTo(px, 9);
      g.lineTo(px, 19);
      g.stroke();
      if (px - lastX > 22) {
        g.fillText(text, px, 32);
        lastX = px;
      }
    }
    g.fillText('m', cssW - 7, 32);
    const px = x(Math.min(Math.max(state.lens_d, lo), hi));
    g.fillStyle = stateColor(state);
    g.beginPath();
    g.moveTo(px, 16);
    g.lineTo(px - 6, 4);
    g.lineTo(px + 6, 4);
    g.closePath();
    g.fill();
    g.textAlign = 'left';
    const dist = state.lens_m == null ? '∞' : `${state.lens_m.toFixed(2)} m`;
    g.fillText(`${dist} · ${state.lens_d.toFixed(2)} D${state.lens_moving ? ' ↔' : ''}`, 6, 44);
  }

  // --- controls ------------------------------------------------------------------------------
  function press(control, source, tMs) {
    if (held.has(source)) return;
    held.set(source, control);
    send({ type: 'control', control, action: 'press', source, t_ms: tMs, id: ++msgId });
  }

  function release(source, tMs) {
    const control = held.get(source);
    if (control === undefined) return;
    held.delete(source);
    send({ type: 'control', control, action: 'release', source, t_ms: tMs, id: ++msgId });
  }

  function releaseLocal() {
    held.clear();
    for (const el of document.querySelectorAll('button.hold')) el.classList.remove('held');
  }

  function releaseAll() {
    const had = held.size > 0;
    releaseLocal();
    if (had) send({ type: 'release_all' });
  }

  // Losing the page (tab switch, screen lock, focus elsewhere) lets go of everything.
  window.addEventListener('blur', releaseAll);
  window.addEventListener('pagehide', releaseAll);
  document.addEventListener('visibilitychange', () => { if (document.hidden) releaseAll(); });

  // Wall-clock milliseconds of an input event / of now, comparable with the server's clock.
  const eventTime = (e) => performance.timeOrigin + e.timeStamp;
  const wallMs = () => performance.timeOrigin + performance.now();
  const typing = (el) => el && (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA' ||
    el.tagName === 'SELECT' || el.isContentEditable);

  // Space or Enter on a focused hold button presses it like its key (held until let go).
  const holdKey = (e) => (e.code === 'Space' || e.code === 'Enter' || e.code === 'NumpadEnter') &&
    e.target && e.target.classList && e.target.classList.contains('hold');

  document.addEventListener('keydown', (e) => {
    if (capture) {
      e.preventDefault();
      finishCapture(e.code);
      return;
    }
    if (review) {  // the viewer is open: its keys, not the camera's
      if (e.code === 'Escape') {
        e.preventDefault();
        if (!$('review-confirm').hidden) $('review-confirm').hidden = true; else closeReview();
      }
      return;
    }
    if (holdKey(e) && !keyToAction[e.code]) {
      e.preventDefault();
      if (e.repeat) return;
      const el = e.target;
      el.setAttribute('aria-pressed', 'true');
      press(el.dataset.control, 'focus-key:' + el.id, eventTime(e));
      const up = (u) => {
        if (u.code !== e.code) return;
        document.removeEventListener('keyup', up, true);
        el.removeEventListener('blur', lost);
        u.preventDefault();
        release('focus-key:' + el.id, eventTime(u));
      };
      const lost = () => {
        document.removeEventListener('keyup', up, true);
        release('focus-key:' + el.id, wallMs());
      };
      document.addEventListener('keyup', up, true);
      el.addEventListener('blur', lost, { once: true });
      return;
    }
    if (typing(e.target)) return;
    if ((e.code === 'BracketLeft' || e.code === 'BracketRight') && !keyToAction[e.code]) {
      if (turnRing(e.code === 'BracketRight' ? 1 : -1)) e.preventDefault();
      return;
    }
    const action = keyToAction[e.code];
    if (!action || e.ctrlKey || e.metaKey || e.altKey) return;
    e.preventDefault();
    if (e.repeat) return;  // auto-repeat is not a press
    if (action === 'PEAKING') { setPeaking(!peaking); return; }
    if (action === 'MAGNIFY') { cycleMagnify(); return; }
    press(action, 'key:' + e.code, eventTime(e));
  });

  document.addEventListener('keyup', (e) => {
    const source = 'key:' + e.code;
    if (held.has(source)) {
      e.preventDefault();
      release(source, eventTime(e));
    }
  });

  // Press-and-hold buttons: pointer events cover mouse, pen and touch; any way the pointer
  // ends (up, cancel, capture lost) lets go.
  for (const el of document.querySelectorAll('button.hold')) {
    let pointerId = null;
    const source = 'button:' + el.id;
    el.addEventListener('pointerdown', (e) => {
      if (pointerId !== null || e.button > 0) return;
      e.preventDefault();
      pointerId = e.pointerId;
      try { el.setPointerCapture(e.pointerId); } catch (err) { /* pointer already gone */ }
      el.classList.add('held');
      press(el.dataset.control, source, eventTime(e));
    });
    const end = (e) => {
      if (e.pointerId !== pointerId) return;
      pointerId = null;
      el.classList.remove('held');
      release(source, eventTime(e));
    };
    el.addEventListener('pointerup', end);
    el.addEventListener('pointercancel', end);
    el.addEventListener('lostpointercapture', end);
    el.addEventListener('contextmenu', (e) => e.preventDefault());
    el.addEventListener('click', (e) => e.preventDefault());
  }

  // Tap or click the viewfinder: the AF point goes there.
  vf.addEventListener('pointerdown', (e) => {
    if (!state) return;
    const r = vf.getBoundingClientRect();
    const u = (e.clientX - r.left) / r.width;
    const v = (e.clientY - r.top) / r.height;
    const x = (view.sx + u * view.sw) / view.W;
    const y = (view.sy + v * view.sh) / view.H;
    send({
      type: 'settings', id: ++msgId,
      af_point: [Math.min(Math.max(x, 0), 1), Math.min(Math.max(y, 0), 1)],
    });
  });

  // Viewfinder settings kept in this browser (localStorage): peaking, its colour, threshold.
  function saveViewfinder() {
    try {
      localStorage.setItem(VF_KEY, JSON.stringify({ peaking, peakColor, peakThreshold }));
    } catch (_e) { /* storage off or full: the settings last this visit */ }
  }

  function loadViewfinder() {
    let saved = null;
    try { saved = JSON.parse(localStorage.getItem(VF_KEY) || 'null'); } catch (_e) { saved = null; }
    if (!saved || typeof saved !== 'object') return;
    if (typeof saved.peaking === 'boolean') peaking = saved.peaking;
    if (PEAK_COLORS[saved.peakColor]) peakColor = saved.peakColor;
    const t = Number(saved.peakThreshold);
    if (Number.isFinite(t)) {
      peakThreshold = Math.min(Math.max(Math.round(t), PEAK_THRESHOLDS[0]), PEAK_THRESHOLDS[1]);
    }
  }

  function showPeaking() {
    $('peaking-btn').setAttribute('aria-pressed', String(peaking));
    $('peak-color').value = peakColor;
    $('peak-threshold').value = String(peakThreshold);
    $('peak-threshold-value').textContent = String(peakThreshold);
  }

  function setPeaking(on) {
    peaking = on;
    showPeaking();
    saveViewfinder();
    draw();
  }

  // Magnify is the camera's: off → 5× → 10× → off, asked of the server, which sends the region
  // read at the sensor's resolution (the state says which: `magnify_rect`, `magnify_native`).
  function cycleMagnify() {
    const now = state ? state.magnify || 0 : 0;
    const next = ZOOMS[(ZOOMS.indexOf(now) + 1) % ZOOMS.length];
    send({ type: 'settings', id: ++msgId, magnify: next });
  }

  $('peaking-btn').addEventListener('click', () => setPeaking(!peaking));
  $('magnify-btn').addEventListener('click', cycleMagnify);
  $('peak-color').replaceChildren(...Object.keys(PEAK_COLORS).map((c) => new Option(c, c)));
  $('peak-color').addEventListener('change', (e) => {
    if (PEAK_COLORS[e.target.value]) peakColor = e.target.value;
    showPeaking();
    saveViewfinder();
    draw();
    e.target.blur();
  });
  $('peak-threshold').min = String(PEAK_THRESHOLDS[0]);
  $('peak-threshold').max = String(PEAK_THRESHOLDS[1]);
  $('peak-threshold').addEventListener('input', (e) => {
    peakThreshold = Number(e.target.value);
    showPeaking();
    saveViewfinder();
    draw();
  });
  $('peak-threshold').addEventListener('change', (e) => e.target.blur());
  loadViewfinder();
  showPeaking();

  // --- settings ------------------------------------------------------------------------------
  function fillSettings(msg) {
    const lists = {
      profile: msg.profiles, focus_mode: msg.focus_modes, drive: msg.drives, af_area: msg.af_areas,
    };
    for (const [name, values] of Object.entries(lists)) {
      const el = $('set-' + name);
      el.replaceChildren(...values.map((v) => new Option(v, v)));
    }
  }

  for (const el of document.querySelectorAll('select[data-setting]')) {
    el.addEventListener('change', () => {
      send({ type: 'settings', id: ++msgId, [el.dataset.setting]: el.value });
      el.blur();
    });
  }

  // a switch clicked gives the keys back to the camera (as the selects do)
  for (const id of ['focus-beep', 'cue-sound', 'cue-vibrate']) {
    const el = $(id);
    if (el) el.addEventListener('change', () => el.blur());
  }

  $('set-trap_focus').addEventListener('change', (e) => {
    send({ type: 'settings', id: ++msgId, trap_focus: e.target.checked });
    e.target.blur();
  });

  // --- key map -------------------------------------------------------------------------------
  const KEY_NAMES = {
    ArrowUp: '↑', ArrowDown: '↓', ArrowLeft: '←', ArrowRight: '→', Space: 'Space',
  };
  const ACTION_NAMES = {
    AF_ON: 'AF-ON (hold)', AF_OFF: 'AF-OFF (hold)', SHUTTER_HALF: 'half-press',
    SHUTTER: 'shutter', AF_POINT_UP: 'AF point ↑', AF_POINT_DOWN: 'AF point ↓',
    AF_POINT_LEFT: 'AF point ←', AF_POINT_RIGHT: 'AF point →', AF_POINT_CENTRE: 'AF point centre',
    PEAKING: 'peaking', MAGNIFY: 'magnify',
  };
  const keyName = (code) => KEY_NAMES[code] ||
    code.replace(/^Key/, '').replace(/^Digit/, '').replace(/^Numpad/, 'Num ');

  function setKeys(keys) {
    keymap = keys;
    keyToAction = {};
    for (const [action, codes] of Object.entries(keys)) {
      for (const code of codes) keyToAction[code] = action;
    }
    const labels = (a) => (keymap[a] || []).map(keyName).join('/');
    for (const el of document.querySelectorAll('kbd[data-key]')) {
      el.textContent = labels(el.dataset.key);
    }
    $('legend').replaceChildren(...Object.keys(keymap).filter((a) => keymap[a].length)
      .map((a) => {
        const span = document.createElement('span');
        const k = document.createElement('kbd');
        k.textContent = labels(a);
        span.append(k, ' ' + (ACTION_NAMES[a] || a));
        return span;
      }));
    const body = $('keys-table').tBodies[0];
    body.replaceChildren(...Object.keys(keymap).map((a) => {
      const tr = document.createElement('tr');
      const name = document.createElement('td');
      name.textContent = ACTION_NAMES[a] || a;
      const keysTd = document.createElement('td');
      const k = document.createElement('kbd');
      k.textContent = labels(a) || '(none)';
      keysTd.append(k);
      const btnTd = document.createElement('td');
      const btn = document.createElement('button');
      btn.type = 'button';
      btn.textContent = 'Change';
      btn.dataset.action = a;
      btn.addEventListener('click', () => startCapture(a, btn));
      btnTd.append(btn);
      tr.append(name, keysTd, btnTd);
      return tr;
    }));
    if (document.activeElement !== $('keys-json')) {
      $('keys-json').value = JSON.stringify(keymap, null, 1);
    }
  }

  function startCapture(action, btn) {
    capture = action;
    releaseAll();
    btn.textContent = 'Press a key…';
    btn.blur();
  }

  function finishCapture(code) {
    const action = capture;
    capture = null;
    if (code === 'Escape') { setKeys(keymap); return; }
    const next = {};
    for (const [a, codes] of Object.entries(keymap)) next[a] = codes.filter((c) => c !== code);
    next[action] = code === 'Backspace' || code === 'Delete' ? [] : [code];
    sendKeys(next);
  }

  function sendKeys(keys) {
    if (!send({ type: 'keys', keys, id: ++msgId })) toast('not connected');
  }

  $('keys-apply').addEventListener('click', () => {
    let keys;
    try {
      keys = JSON.parse($('keys-json').value);
    } catch (err) {
      $('keys-error').textContent = `not valid JSON: ${err.message}`;
      return;
    }
    sendKeys(keys);
  });
  $('keys-reset').addEventListener('click', () => { if (info) sendKeys(info.default_keys); });

  // --- gallery -------------------------------------------------------------------------------
  function addShot(shot) {
    shots.push(shot);
    const li = document.createElement('li');
    li.className = 'shot';
    li.dataset.n = shot.n;
    const meta = document.createElement('div');
    meta.className = 'meta';
    const title = document.createElement('b');
    title.textContent = `#${shot.n + 1}`;
    const verdict = document.createElement('span');
    verdict.className = 'verdict';
    if (!shot.ok) {
      li.classList.add('failure');
      verdict.textContent = 'failed';
    } else if (shot.in_focus === true) {
      li.classList.add('in-focus');
      verdict.textContent = 'in focus';
    } else if (shot.in_focus === false) {
      li.classList.add('out-of-focus');
      verdict.textContent = 'out of focus';
    } else {
      verdict.textContent = 'not judged';
    }
    const s = shot.settings;
    const line1 = document.createElement('div');
    line1.textContent = `${s.profile} · ${s.focus_mode} · ${s.drive} · ${s.af_area} · ${s.priority} priority`;
    const line2 = document.createElement('div');
    if (shot.ok) {
      const lens = shot.lens_d > 0 ? `${(1 / shot.lens_d).toFixed(2)} m` : '∞';
      line2.textContent = `lag ${shot.lag_ms} ms · lens ${shot.lens_d.toFixed(2)} D (${lens})` +
        ` · ${shot.af_state}` +
        (shot.focus_error_d != null ? ` · error ${shot.focus_error_d.toFixed(3)} D` : '');
    } else {
      line2.className = 'reason';
      line2.textContent = shot.failure;
    }
    meta.append(title, ' ', verdict, line1, line2);
    if (shot.thumb) {
      const a = document.createElement('a');
      a.href = shot.image;
      a.className = 'review-open';
      a.addEventListener('click', (e) => {
        if (e.ctrlKey || e.metaKey || e.shiftKey || e.button > 0) return;  // a new tab, as asked
        e.preventDefault();
        openReview(shot);
      });
      const img = document.createElement('img');
      img.src = shot.thumb;
      img.alt = `shot ${shot.n + 1}`;
      img.loading = 'lazy';
      a.append(img);
      li.append(a);
    }
    li.append(meta);
    const list = $('gallery');
    list.prepend(li);
    while (list.children.length > 200) list.lastChild.remove();
    countShots();
  }

  function countShots() {
    const ok = shots.filter((x) => x.ok).length;
    const focused = shots.filter((x) => x.in_focus === true).length;
    $('gallery-count').textContent = `(${ok} taken, ${focused} in focus, ${shots.length - ok} failed)`;
  }

  function removeShot(n) {
    const i = shots.findIndex((x) => x.n === n);
    if (i >= 0) shots.splice(i, 1);
    const li = document.querySelector(`#gallery li[data-n="${n}"]`);
    if (li) li.remove();
    countShots();
    if (review && review.n === n) closeReview();
  }

  // --- shot review: full size, AF point, 100 %, download, delete ------------------------------
  let review = null;  // the shot on show
  function openReview(shot) {
    review = shot;
    const el = $('review');
    $('review-title').textContent = `#${shot.n + 1} · ${shot.file || ''}`;
    const img = $('review-img');
    img.alt = `shot ${shot.n + 1}`;
    img.src = shot.image;
    $('review-download').href = `${shot.image}?download=1`;
    $('review-download').setAttribute('download', shot.file || '');
    setZoom(false);
    $('review-confirm').hidden = true;
    const af = $('review-af');
    af.className = shot.in_focus === true ? 'in-focus' : (shot.in_focus === false ? 'out-of-focus' : '');
    const win = shot.settings && shot.settings.af_window;
    af.hidden = !win;
    if (win) {
      const [cx, cy, w, h] = win;
      af.style.left = `${(cx - w / 2) * 100}%`;
      af.style.top = `${(cy - h / 2) * 100}%`;
      af.style.width = `${w * 100}%`;
      af.style.height = `${h * 100}%`;
    }
    showMeta(shot, null);
    el.hidden = false;
    $('review-close').focus();
    releaseAll();
    fetch(`/api/shots/${shot.n}`, { headers: apiHeaders() })
      .then((r) => (r.ok ? r.json() : null))
      .then((data) => { if (data && review === shot) showMeta(shot, data.record); })
      .catch(() => {});
  }

  function showMeta(shot, record) {
    const rows = [];
    const s = shot.settings || {};
    rows.push(['verdict', shot.in_focus === true ? 'in focus'
      : (shot.in_focus === false ? 'out of focus' : 'not judged')]);
    rows.push(['settings', `${s.profile} · ${s.focus_mode} · ${s.priority} priority · ${s.drive}` +
      (s.drive === 'continuous' ? ` ${s.burst_fps} fps` : '') + ` · ${s.af_area}`]);
    rows.push(['AF state', shot.af_state]);
    if (shot.lens_d != null) {
      rows.push(['lens', `${shot.lens_d.toFixed(3)} D (${shot.lens_d > 0 ? (1 / shot.lens_d).toFixed(2) + ' m' : '∞'})`]);
    }
    if (shot.lag_ms != null) rows.push(['shutter lag', `${shot.lag_ms} ms`]);
    if (shot.focus_error_d != null) rows.push(['focus error', `${shot.focus_error_d.toFixed(3)} D`]);
    const rs = record && record.settings;
    if (rs && rs.trap) rows.push(['trap focus', rs.trap.armed ? `released on a ${rs.trap.kind} reading` : 'not armed']);
    const ex = (record && record.exposure) || {};
    for (const [k, v] of Object.entries(ex)) {
      if (v !== null && typeof v !== 'object') rows.push([k.replace(/_/g, ' '), String(v)]);
    }
    $('review-meta').replaceChildren(...rows.flatMap(([k, v]) => {
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = v;
      return [dt, dd];
    }));
  }

  function setZoom(actual) {
    const stage = $('review-stage');
    stage.classList.toggle('actual', actual);
    $('review-zoom').setAttribute('aria-pressed', String(actual));
    $('review-zoom').textContent = actual ? 'Fit' : '100%';
    if (!actual || !review) return;
    // 1 image pixel per CSS pixel (the screen's own pixels at devicePixelRatio 1), centred on
    // the AF point: what a photographer checks focus with
    const img = $('review-img');
    const win = review.settings && review.settings.af_window;
    const [cx, cy] = win || [0.5, 0.5];
    const dpr = window.devicePixelRatio || 1;
    const centre = () => {
      img.style.width = `${img.naturalWidth / dpr}px`;
      stage.scrollLeft = cx * stage.scrollWidth - stage.clientWidth / 2;
      stage.scrollTop = cy * stage.scrollHeight - stage.clientHeight / 2;
    };
    if (img.complete && img.naturalWidth) centre(); else img.addEventListener('load', centre, { once: true });
  }

  function closeReview() {
    review = null;
    $('review').hidden = true;
    $('review-img').removeAttribute('src');
    $('review-img').style.width = '';
    $('review-confirm').hidden = true;
  }

  $('review-zoom').addEventListener('click', () => {
    const actual = !$('review-stage').classList.contains('actual');
    if (!actual) $('review-img').style.width = '';
    setZoom(actual);
  });
  $('review-close').addEventListener('click', closeReview);
  $('review-delete').addEventListener('click', () => {
    if (!review) return;
    $('review-confirm-text').textContent =
      `Delete shot #${review.n + 1} (${review.file} and its record) from the shots folder? This cannot be undone.`;
    $('review-confirm').hidden = false;
    $('review-confirm-no').focus();
  });
  $('review-confirm-no').addEventListener('click', () => { $('review-confirm').hidden = true; });
  $('review-confirm-yes').addEventListener('click', async () => {
    const shot = review;
    if (!shot) return;
    $('review-confirm').hidden = true;
    let r;
    try {
      r = await fetch(`/api/shots/${shot.n}`, { method: 'DELETE', headers: apiHeaders() });
    } catch (err) {
      toast(`delete failed: ${err.message}`);
      return;
    }
    if (!r.ok) {
      let why = `HTTP ${r.status}`;
      try { why = (await r.json()).error || why; } catch (_e) { /* not JSON */ }
      toast(`delete failed: ${why}`);
      return;
    }
    removeShot(shot.n);
  });

  // --- toast ---------------------------------------------------------------------------------
  let toastTimer = null;
  function toast(text) {
    const el = $('toast');
    el.textContent = text;
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.hidden = true; }, 4000);
  }

  window.addEventListener('resize', () => { fitViewfinder(); if (state) drawScale(); });
  fitViewfinder();
  pair().then(connect);
})();

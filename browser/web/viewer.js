// Lifeline's viewer page. This file only moves bytes and draws: the join,
// the end-to-end keys and the screen's decoding are lifeline-browser (the
// session crate, compiled to WebAssembly), which the relay cannot read.
import init, { Viewer, check_code } from './lifeline_browser.js';

// Every sentence the page says (the Rust side's are in browser/src/words.rs).
const WORDS = {
  enterCode: 'Enter the code the user reads out.',
  connecting: 'Connecting to the relay…',
  joined: (host, user) => `Joined ${host} (${user}); the user is asked now.`,
  modeView: 'view only',
  inControl: 'The user allowed control: your keyboard and mouse act on their screen.',
  viewOnly: 'The user allowed view only: you see their screen; input is not sent.',
  modeControl: 'in control',
  ended: (why) => `Session ended: ${why}`,
  noTransport: 'This browser has no WebTransport; use a current Chrome, Edge or Firefox, or the native viewer.',
  relayUnreachable: (why) => `Cannot reach the relay: ${why}`,
  clipboardSent: 'Clipboard sent to the remote machine.',
  clipboardSet: 'The remote machine has your clipboard text.',
  clipboardGot: 'Remote clipboard copied here.',
  clipboardDenied: 'The browser did not allow reading the clipboard; paste into the chat box instead.',
  fileSending: (name) => `Sending ${name}…`,
  fileSaved: (name, path) => `${name} is on the remote machine: ${path}`,
  fileRefused: (name, why) => `${name} was not transferred: ${why}`,
  fileFetching: (path) => `Fetching ${path}…`,
  fileFetched: (name) => `${name} downloaded.`,
  fileDamaged: (name) => `${name} arrived damaged (its SHA-256 did not match) and was discarded.`,
  videoOff: (why) => `Video is off (${why}); moving areas come as pictures.`,
  hidden: (n) => `The user hides ${n === 1 ? 'a part' : n + ' parts'} of the screen from you (shown blank): their input is dropped there.`,
  withheld: 'The remote screen cannot be shown: Windows shows a secure prompt (UAC, lock screen). It comes back when the prompt is gone.',
};

const $ = (sel) => document.querySelector(sel);
const status = (text) => { $('#status').textContent = text; };

let wasm = null;
let viewer = null;
let transport = null;
let sessionWriter = null;
let controlWriter = null;
let dirty = false;
const figures = { frames: 0, since: performance.now(), fps: 0 };
// What tests and the curious can read: the session's state, as words.
window.lifeline = {
  state: 'idle', events: [], updates: 0, bytes: 0,
  decodeMs: 0, drawMs: 0, paints: 0, keyAt: null, joinMs: null, watch: null, hidden: 0,
  files: [], fetched: [], video: false, videoFed: 0, videoShown: 0, videoOff: null,
};

function b64bytes(b64) {
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

async function flush() {
  if (!viewer) return;
  const c = viewer.take_control();
  if (c.length && controlWriter) await controlWriter.write(c);
  const s = viewer.take_session();
  if (s.length && sessionWriter) await sessionWriter.write(s);
}

// Transfers under way, by id: each with its own event handler.
const transfers = new Map();

// One transfer's stream: opened, its first bytes written, and the host's
// answers fed to the session as they come.
async function transferStream(id) {
  const stream = await transport.createBidirectionalStream();
  const writer = stream.writable.getWriter();
  await writer.write(viewer.take_transfer(id));
  readAll(stream.readable, (b) => viewer.transfer_bytes(id, b)).catch((e) => status(e.message));
  return writer;
}

// Puts a file the technician dropped into the user's download folder.
async function putFile(file) {
  const id = viewer.start_put(file.name, file.size);
  status(WORDS.fileSending(file.name));
  let ready;
  const isReady = new Promise((resolve) => { ready = resolve; });
  const done = new Promise((resolve) => {
    transfers.set(id, {
      on(e) {
        if (e.event === 'file_ready') ready(true);
        if (e.event === 'file_saved') { status(WORDS.fileSaved(file.name, e.path)); resolve(e.path); }
        if (e.event === 'file_refused') { ready(false); status(WORDS.fileRefused(file.name, e.reason)); resolve(null); }
      },
    });
  });
  const writer = await transferStream(id);
  if (await isReady) {
    for (let at = 0; at < file.size; at += 65536) {
      const piece = new Uint8Array(await file.slice(at, at + 65536).arrayBuffer());
      viewer.put_chunk(id, piece);
      await writer.write(viewer.take_transfer(id));
    }
    viewer.put_end(id);
    await writer.write(viewer.take_transfer(id));
    await writer.close();
  }
  const saved = await done;
  transfers.delete(id);
  viewer.take_fetched(id); // forgets the transfer, now over
  window.lifeline.files.push({ name: file.name, saved });
}

// Fetches a file from the user's machine and offers it as a download.
async function getFile(path) {
  const id = viewer.start_get(path);
  status(WORDS.fileFetching(path));
  const parts = [];
  const done = new Promise((resolve) => {
    transfers.set(id, {
      on(e) {
        if (e.event === 'file_data') parts.push(viewer.take_fetched(id));
        if (e.event === 'file_refused') { status(WORDS.fileRefused(path, e.reason)); resolve(null); }
        if (e.event === 'file_fetched') {
          parts.push(viewer.take_fetched(id));
          if (!e.ok) { status(WORDS.fileDamaged(e.name)); resolve(null); return; }
          const a = document.createElement('a');
          a.href = URL.createObjectURL(new Blob(parts));
          a.download = e.name;
          a.click();
          status(WORDS.fileFetched(e.name));
          resolve(e.name);
        }
      },
    });
  });
  const writer = await transferStream(id);
  await writer.close();
  const got = await done;
  transfers.delete(id);
  window.lifeline.fetched.push({ path, got });
}

// Video: the host's H.264 decoded by the browser (WebCodecs), one decoder
// per stream, most recently used last; the session crate holds the update
// until every picture is back, then draws it with what came after.
const VIDEO_LATE_MS = 2000;
const decoders = new Map();

async function videoSupported() {
  if (typeof VideoDecoder === 'undefined') return false;
  try {
    const probe = { codec: 'avc1.42C01F', codedWidth: 1280, codedHeight: 720, optimizeForLatency: true };
    return (await VideoDecoder.isConfigSupported(probe)).supported === true;
  } catch {
    return false;
  }
}

function closeDecoders() {
  for (const d of decoders.values()) {
    if (d.decoder.state !== 'closed') d.decoder.close();
  }
  decoders.clear();
}

function videoFailed(why) {
  closeDecoders();
  if (viewer) sessionCall(() => viewer.video_failed(why));
  afterVideo();
}

// Calls into the session where the host's frames are read (held frames
// follow a picture): a failure ends the session, as on the stream.
function sessionCall(f) {
  try {
    f();
  } catch (e) {
    status(e.message);
    transport.close({ closeCode: 0, reason: e.message });
  }
}

// Whatever a picture (or a give-up) let through: shown, and answered.
function afterVideo() {
  if (!viewer) return;
  window.lifeline.videoShown = viewer.video_frames();
  handleEvents();
  paint();
  feedVideo();
  flush();
}

// One decoded picture back into the session, by its ticket.
async function pictureOut(d, frame) {
  const ticket = d.tickets.shift();
  try {
    const data = new Uint8Array(frame.allocationSize());
    const layout = await frame.copyTo(data);
    const { width, height } = frame.visibleRect;
    const format = frame.format || 'opaque';
    frame.close();
    if (!viewer || ticket === undefined) return;
    const planes = Uint32Array.from(layout.flatMap((p) => [p.offset, p.stride]));
    const started = performance.now();
    sessionCall(() => viewer.video_picture(ticket, format, width, height, data, planes));
    window.lifeline.decodeMs += performance.now() - started;
    afterVideo();
  } catch (e) {
    frame.close();
    videoFailed(e.message);
  }
}

function decoderFor(c) {
  let d = decoders.get(c.stream);
  if (c.key) {
    if (d && d.decoder.state !== 'closed') d.decoder.close();
    d = { tickets: [] };
    d.decoder = new VideoDecoder({
      output: (frame) => pictureOut(d, frame),
      error: (e) => videoFailed(e.message),
    });
    d.decoder.configure({
      codec: c.codec, codedWidth: c.width, codedHeight: c.height, optimizeForLatency: true,
    });
  }
  if (!d) return null;
  decoders.delete(c.stream);
  decoders.set(c.stream, d);
  while (decoders.size > 2) {
    const [stream, old] = decoders.entries().next().value;
    old.decoder.close();
    decoders.delete(stream);
  }
  return d;
}

// Hands the session's video frames to their decoders.
function feedVideo() {
  for (let c = viewer && viewer.take_video(); c; c = viewer && viewer.take_video()) {
    const { ticket } = c;
    try {
      const d = decoderFor(c);
      if (!d) throw new Error(`no decoder for stream ${c.stream}`);
      d.tickets.push(ticket);
      d.decoder.decode(new EncodedVideoChunk({
        type: c.key ? 'key' : 'delta', timestamp: c.timestamp, data: c.data,
      }));
    } catch (e) {
      c.free();
      videoFailed(e.message);
      return;
    }
    c.free();
    window.lifeline.videoFed += 1;
    setTimeout(() => {
      if (!viewer) return;
      sessionCall(() => viewer.video_late(ticket));
      afterVideo();
    }, VIDEO_LATE_MS);
  }
}

let joined;
const joinedOnce = new Promise((resolve) => { joined = resolve; });

function handleEvents() {
  const events = JSON.parse(viewer.events());
  for (const e of events) {
    window.lifeline.events.push(e.event);
    switch (e.event) {
      case 'joined':
        status(WORDS.joined(e.host_name, e.os_user));
        window.lifeline.state = 'joined';
        joined();
        break;
      case 'refused':
        status(e.reason);
        window.lifeline.state = 'refused';
        break;
      case 'mode':
        $('#mode').textContent = e.mode === 'control' ? WORDS.modeControl : WORDS.modeView;
        status(e.mode === 'control' ? WORDS.inControl : WORDS.viewOnly);
        window.lifeline.state = e.mode;
        break;
      case 'screen': {
        const canvas = $('#screen');
        if (canvas.width !== e.width || canvas.height !== e.height) {
          canvas.width = e.width;
          canvas.height = e.height;
        }
        window.lifeline.updates += 1;
        if (window.lifeline.joinMs === null) window.lifeline.joinMs = performance.now() - window.lifeline.connectAt;
        figures.frames += 1;
        dirty = true;
        break;
      }
      case 'chat': {
        const li = document.createElement('li');
        li.textContent = e.text;
        $('#chat-log').append(li);
        break;
      }
      case 'clipboard':
        $('#clipboard').value = e.text;
        window.lifeline.clipboard = e.text;
        navigator.clipboard.writeText(e.text).then(() => status(WORDS.clipboardGot), () => {});
        break;
      case 'clipboard_set':
        status(WORDS.clipboardSet);
        break;
      case 'host_refused':
      case 'not_sent':
        status(e.reason);
        break;
      case 'monitors': {
        const sel = $('#monitors');
        sel.replaceChildren(new Option('primary', 'primary'), new Option('all', 'all'));
        e.names.forEach((name, i) => sel.append(new Option(name, String(i))));
        sel.value = e.showing;
        break;
      }
      case 'file_ready':
      case 'file_saved':
      case 'file_refused':
      case 'file_offer':
      case 'file_data':
      case 'file_fetched': {
        const t = transfers.get(e.id);
        if (t) t.on(e);
        break;
      }
      case 'video_off':
        closeDecoders();
        status(WORDS.videoOff(e.reason));
        window.lifeline.video = false;
        window.lifeline.videoOff = e.reason;
        break;
      case 'hidden':
        window.lifeline.hidden = e.boxes;
        $('#hidden').hidden = e.boxes === 0;
        $('#hidden').textContent = e.boxes ? WORDS.hidden(e.boxes) : '';
        break;
      case 'withheld':
        $('#withheld').hidden = !e.reason;
        $('#withheld').textContent = e.reason ? WORDS.withheld : '';
        break;
      default:
        break;
    }
  }
}

// Paints what changed since the last paint, at once (the echo of a key
// is on the canvas as soon as it is decoded).
function paint() {
  if (!dirty || !viewer) return;
  dirty = false;
  const started = performance.now();
  const rect = viewer.refresh();
  const w = viewer.width();
  const h = viewer.height();
  if (rect.length === 4 && w && h) {
    const pixels = new Uint8ClampedArray(wasm.memory.buffer, viewer.rgba_ptr(), w * h * 4);
    $('#screen').getContext('2d').putImageData(new ImageData(pixels, w, h), 0, 0, rect[0], rect[1], rect[2], rect[3]);
  }
  const now = performance.now();
  const f = window.lifeline;
  f.drawMs += now - started;
  f.paints += 1;
  watched(now);
}

// The benchmark's probe: when a watched area first differs from how it
// was when the watch began (page time, ms).
function watched(now) {
  const w = window.lifeline.watch;
  if (!w || w.changedAt !== null) return;
  const px = $('#screen').getContext('2d', { willReadFrequently: true }).getImageData(w.x, w.y, w.w, w.h).data;
  for (let i = 0; i < px.length; i += 1) {
    if (px[i] !== w.before[i]) {
      w.changedAt = now;
      return;
    }
  }
}

// Starts watching an area: `window.lifeline.watch.changedAt` becomes the
// time it first changes; `window.lifeline.keyAt` is when the last key went.
window.lifeline.startWatch = (x, y, w, h) => {
  const before = $('#screen').getContext('2d', { willReadFrequently: true }).getImageData(x, y, w, h).data;
  window.lifeline.watch = { x, y, w, h, before, changedAt: null };
};

function figuresTick() {
  const now = performance.now();
  if (now - figures.since >= 1000) {
    figures.fps = figures.frames * 1000 / (now - figures.since);
    figures.frames = 0;
    figures.since = now;
    if (viewer) {
      const mb = viewer.bytes_received() / 1e6;
      const video = window.lifeline.video ? ' · H.264' : '';
      $('#figures').textContent = `${figures.fps.toFixed(0)} updates/s · ${mb.toFixed(1)} MB${video}`;
    }
  }
  requestAnimationFrame(figuresTick);
}

// Calls into the session; a failure ends it with the sentence.
function act(f) {
  try {
    f();
    flush();
  } catch (e) {
    status(e.message);
  }
}

async function readAll(readable, onBytes) {
  const reader = readable.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    onBytes(value);
    handleEvents();
    paint();
    await flush();
  }
}

async function connect(code, token, reason) {
  if (typeof WebTransport === 'undefined') {
    status(WORDS.noTransport);
    return;
  }
  // `?video=off` in the address: pictures instead of video, as in a
  // browser without WebCodecs.
  const video = new URLSearchParams(location.search).get('video') !== 'off' && await videoSupported();
  try {
    viewer = new Viewer(code, token, reason, video);
    window.lifeline.video = video;
  } catch (e) {
    status(e.message);
    return;
  }
  status(WORDS.connecting);
  window.lifeline.state = 'connecting';
  window.lifeline.connectAt = performance.now();
  let info;
  try {
    info = (await (await fetch('/relay.json', { cache: 'no-store' })).json()).webtransport;
  } catch (e) {
    status(WORDS.relayUnreachable(e.message));
    return;
  }
  const url = `https://${location.hostname}:${info.port}${info.path}`;
  const options = info.hashes.length
    ? { serverCertificateHashes: info.hashes.map((h) => ({ algorithm: 'sha-256', value: b64bytes(h) })) }
    : {};
  try {
    transport = new WebTransport(url, options);
    await transport.ready;
  } catch (e) {
    status(WORDS.relayUnreachable(e.message));
    window.lifeline.state = 'unreachable';
    return;
  }
  $('#join').hidden = true;
  $('#session').hidden = false;
  transport.closed.then(
    (info) => ended(info.reason || 'closed'),
    (e) => ended(e.message),
  );
  const control = await transport.createBidirectionalStream();
  controlWriter = control.writable.getWriter();
  await flush();
  readAll(control.readable, (b) => viewer.control_bytes(b)).catch((e) => status(e.message));
  const incoming = transport.incomingBidirectionalStreams.getReader();
  const { value: stream } = await incoming.read();
  if (!stream) return;
  await joinedOnce;
  sessionWriter = stream.writable.getWriter();
  act(() => viewer.session_opened());
  readAll(stream.readable, (b) => {
    const started = performance.now();
    viewer.session_bytes(b);
    window.lifeline.decodeMs += performance.now() - started;
    feedVideo();
    window.lifeline.bytes = viewer.bytes_received();
  }).catch((e) => {
    status(e.message);
    transport.close({ closeCode: 0, reason: e.message });
  });
  $('#screen').focus();
}

function ended(why) {
  closeDecoders();
  status(WORDS.ended(why));
  window.lifeline.state = 'ended';
  window.lifeline.ended = why;
  viewer = null;
  $('#session').hidden = true;
  $('#join').hidden = false;
}

// The remote pixel under a mouse event.
function remote(e) {
  const canvas = $('#screen');
  const r = canvas.getBoundingClientRect();
  // With object-fit: contain the picture sits centred inside the box.
  const scale = Math.min(r.width / canvas.width, r.height / canvas.height);
  const fit = $('#stage').classList.contains('fit');
  const s = fit ? scale : r.width / canvas.width;
  const ox = fit ? (r.width - canvas.width * s) / 2 : 0;
  const oy = fit ? (r.height - canvas.height * s) / 2 : 0;
  const x = Math.floor((e.clientX - r.left - ox) / s);
  const y = Math.floor((e.clientY - r.top - oy) / s);
  if (x < 0 || y < 0 || x >= canvas.width || y >= canvas.height) return null;
  return [x, y];
}

function wire() {
  const form = $('#join');
  const saved = localStorage.getItem('lifeline-token') || sessionStorage.getItem('lifeline-token');
  if (saved) {
    form.token.value = saved;
    form.remember.checked = !!localStorage.getItem('lifeline-token');
  }
  form.code.addEventListener('input', () => {
    const typed = form.code.value.trim();
    const why = typed ? check_code(typed) : '';
    $('#code-check').textContent = why;
    form.querySelector('button').disabled = !typed || !!why;
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const token = form.token.value.trim();
    sessionStorage.setItem('lifeline-token', token);
    if (form.remember.checked) localStorage.setItem('lifeline-token', token);
    else localStorage.removeItem('lifeline-token');
    connect(form.code.value, token, form.reason.value);
  });

  const canvas = $('#screen');
  const key = (down) => (e) => {
    if (!viewer) return;
    try {
      if (viewer.key(e.key, e.code, down, e.ctrlKey, e.altKey, e.shiftKey, e.metaKey)) {
        e.preventDefault();
        if (down) window.lifeline.keyAt = performance.now();
      }
      flush();
    } catch (err) {
      status(err.message);
    }
  };
  canvas.addEventListener('keydown', key(true));
  canvas.addEventListener('keyup', key(false));
  canvas.addEventListener('paste', (e) => {
    const text = e.clipboardData.getData('text');
    if (viewer && text) act(() => viewer.text(text));
    e.preventDefault();
  });
  canvas.addEventListener('pointermove', (e) => {
    const at = viewer && remote(e);
    if (at) act(() => viewer.pointer(at[0], at[1]));
  });
  const button = (down) => (e) => {
    const at = viewer && remote(e);
    if (!at) return;
    canvas.focus();
    act(() => { viewer.pointer(at[0], at[1]); viewer.button(e.button, down); });
    e.preventDefault();
  };
  canvas.addEventListener('pointerdown', button(true));
  canvas.addEventListener('pointerup', button(false));
  canvas.addEventListener('contextmenu', (e) => e.preventDefault());
  canvas.addEventListener('wheel', (e) => {
    if (!viewer) return;
    const notch = (d) => (d === 0 ? 0 : Math.sign(d));
    act(() => viewer.wheel(notch(e.deltaX), notch(e.deltaY)));
    e.preventDefault();
  }, { passive: false });

  $('#fit').addEventListener('click', (e) => {
    const fit = $('#stage').classList.toggle('fit');
    e.target.setAttribute('aria-pressed', String(fit));
    e.target.textContent = fit ? 'Fit' : '1:1';
  });
  $('#stage').classList.add('fit');
  $('#quality').addEventListener('change', (e) => act(() => viewer.quality(e.target.value)));
  $('#monitors').addEventListener('change', (e) => act(() => viewer.show(e.target.value)));
  $('#keys').addEventListener('change', (e) => {
    if (e.target.value) act(() => viewer.chord(e.target.value));
    e.target.value = '';
    canvas.focus();
  });
  $('#clip-send').addEventListener('click', async () => {
    try {
      const text = await navigator.clipboard.readText();
      act(() => viewer.clipboard_set(text));
      status(WORDS.clipboardSent);
    } catch {
      status(WORDS.clipboardDenied);
    }
  });
  $('#clip-get').addEventListener('click', () => act(() => viewer.clipboard_get()));
  $('#disconnect').addEventListener('click', () => {
    if (!viewer) return;
    // The host ends the session on this (its recording closed first);
    // the relay then closes the connection.
    act(() => viewer.bye('the technician disconnected'));
  });
  const stage = $('#stage');
  stage.addEventListener('dragover', (e) => { e.preventDefault(); });
  stage.addEventListener('drop', (e) => {
    e.preventDefault();
    if (!viewer) return;
    for (const file of e.dataTransfer.files) putFile(file).catch((err) => status(err.message));
  });
  $('#get').addEventListener('submit', (e) => {
    e.preventDefault();
    const path = e.target.path.value.trim();
    if (viewer && path) getFile(path).catch((err) => status(err.message));
  });
  $('#chat').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = e.target.text;
    if (viewer && input.value) act(() => viewer.chat(input.value));
    input.value = '';
  });
  status(WORDS.enterCode);
  requestAnimationFrame(figuresTick);
  window.lifeline.ready = true;
}

wasm = await init();
wire();
